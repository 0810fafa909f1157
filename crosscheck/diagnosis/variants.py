"""The library of known bugs: each ``Variant`` is the reference with one piece swapped
for a buggy override from ``pieces``, at any layer it applies to.

The same variants are the known-bug library that diagnosis matches against
(``crosscheck.diagnosis.matching``) and the mutant corpus (``corpus``).

A variant is evaluated with ``variant.gradients(network, X, Y, params, layer)``
and returns every gradient by name (``W1, b1, ..., dZ1, dA1, ..., dX``), like
the reference. ``layer`` is 1-based; loss variants take layer 0 ("the loss").
Variants with a ``param`` (the stray factor of pattern 16, the learning rate of
pattern 26) are affine in it, so matching can fit it from the audited gradients.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from crosscheck.reference.losses import loss as make_loss
from crosscheck.reference.network import MLP
from crosscheck.reference.penalty import L2

from crosscheck.diagnosis import pieces

NONLINEAR = ("sigmoid", "tanh", "relu", "leaky_relu")


@dataclass(frozen=True)
class Variant:
    key: str
    pattern: int
    label: str
    scope: str  # "activation", "dense" or "loss"
    template: str  # sentence; {l} layer, {p} previous layer, {input} name of the layer's input, {act}, {value}
    applies: Callable  # (network, layer) -> bool
    patch: Callable  # (net, loss_fn, network, layer, value) -> loss_fn to use
    param: tuple[str, float] | None = None  # (name, default) of a fitted parameter
    penalty: Callable | None = None  # scope "penalty": the buggy L2 class, made like reference.L2

    def layers(self, network) -> list[int]:
        """The layers of ``network`` this variant can be placed at (``[0]`` for the loss)."""
        if self.scope in ("loss", "penalty"):
            return [0] if self.applies(network, 0) else []
        return [l for l in range(1, network.depth + 1) if self.applies(network, l)]

    def gradients(self, network, X, Y, params, layer: int, value: float | None = None) -> dict[str, np.ndarray]:
        """Every gradient of the reference with this bug placed at ``layer``."""
        return combined_gradients([(self, layer, value)], network, X, Y, params)

    def slot(self, layer: int) -> tuple:
        """The piece this variant replaces: ("loss",), ("penalty", part), ("activation", l) or
        ("dense", l, part), part "W", "b" or "X" (dW, db, the gradient passed down).

        Two bugs combine when their slots differ. The cache overwrite of layer l is
        read by layer l + 1's dense backward, so that is the piece it replaces.
        """
        if self.scope == "loss":
            return (self.scope,)
        if self.scope == "penalty":  # the weights' term and the biases' are two pieces
            return (self.scope, getattr(self.penalty, "PART", "W"))
        if self.key == "cache-overwritten":
            return ("dense", layer + 1, "W")
        if self.scope == "dense":  # dW, db and the gradient passed down are three pieces of a layer
            return ("dense", layer, getattr(self.patch, "part", ""))
        return (self.scope, layer)

    def describe(self, network, layer: int, value: float | None = None) -> str:
        """The bug as a sentence naming its layer and tensors."""
        if value is None and self.param is not None:
            value = self.param[1]
        act = network.activations[layer - 1] if layer else ""
        previous = "X" if layer <= 1 else f"a{layer - 1}"
        # the loss's normalizer as the declaration has it: over every element, over the batch, or none
        norm = {"mean": "/n", "batch_mean": "/m", "sum": ""}.get(getattr(network, "reduction", "mean"), "/n")
        return self.template.format(l=layer, p=layer - 1, n=layer + 1, input=previous, act=act, norm=norm,
                                     value=f"{value:.3g}" if value is not None else "")

    def title(self, layer: int) -> str:
        where = "the loss" if self.scope == "loss" else f"layer {layer}"
        return f"pattern {self.pattern} ({self.key}) at {where}"


def combined_gradients(bugs, network, X, Y, params, *, input_gradient: bool = True) -> dict[str, np.ndarray]:
    """Every gradient of the reference with several bugs in place at once (without dX when
    ``input_gradient`` is False: code that never computes it cannot fail on it).

    ``bugs`` is a sequence of ``(variant, layer, value)`` with pairwise different
    slots (``Variant.slot``). Dense pieces go in first, from layer 1 up, so an
    activation or dense piece that reads another layer's dense object (the ReLU
    mask from the input, dW from X) reads the one in the network; the loss last.
    """
    options = getattr(network, "options", dict)()  # the declared loss options (scale, L2, ...)
    net = MLP(network.sizes, network.activations,
              [(np.array(W, copy=True), None if b is None else np.array(b, copy=True)) for W, b in params],
              leaky_slope=options.get("leaky_slope", 0.01))
    loss_fn = make_loss(network.loss, network.reduction, options.get("scale", 1.0))
    penalty = L2 if options.get("l2") or options.get("l2_bias") else None  # a penalty bug replaces it
    order = {"dense": 0, "activation": 1, "loss": 2, "penalty": 3}
    seen = set()
    bugs_of_penalty: list = []
    for v, layer, value in sorted(bugs, key=lambda b: (order[b[0].slot(b[1])[0]], b[1])):
        slot = v.slot(layer)
        if slot in seen:
            raise ValueError(f"two bugs replace the same piece {slot}; combine bugs of different pieces only")
        seen.add(slot)
        if value is None and v.param is not None:
            value = v.param[1]
        loss_fn = v.patch(net, loss_fn, network, layer, value)
        if v.penalty is not None:
            bugs_of_penalty.append(v.penalty)
    if bugs_of_penalty:  # each calls the next, the reference's L2 last: a bug of W's term and one of b's,
        # the biases' first (it reads what the weights' term has become)
        bugs_of_penalty.sort(key=lambda c: getattr(c, "PART", "W") != "b")
        penalty = bugs_of_penalty[0] if len(bugs_of_penalty) == 1 else type("L2Bugs", tuple(bugs_of_penalty), {})
    if penalty is not None:
        penalty = penalty(options.get("l2", 0.0), options.get("l2_bias", 0.0), options.get("l2_by_batch", False))
    if not input_gradient:
        net.layers[0].input_gradient = False
    with np.errstate(all="ignore"):
        _, grads = net.gradients(np.array(X, copy=True), np.array(Y, copy=True), loss_fn, penalty=penalty)
    return grads if input_gradient else {k: v for k, v in grads.items() if k != "dX"}


# -- patches: put one buggy piece into a reference network -------------------------------

def _activation(make):
    def patch(net, loss_fn, network, l, value):
        net.activations[l - 1] = make(network.activations[l - 1], net, l)
        return loss_fn
    return patch


def _dense(make, part: str):
    """Put a buggy dense piece at layer l, owning ``part`` of its backward: dW ("W"), db ("b") or the
    gradient passed down ("X"). A second bug of the same layer (another part) joins the first in one
    ``pieces.Parts``."""
    def patch(net, loss_fn, network, l, value):
        old = net.layers[l - 1]
        _place(net, l - 1, make(old.W, old.b, net, network, l, value), part)
        return loss_fn
    patch.part = part
    return patch


def _place(net, index: int, piece, part: str) -> None:
    """``piece`` into ``net.layers[index]``, alone or beside the pieces of other parts already there."""
    old = net.layers[index]
    piece.part = part
    if isinstance(old, pieces.Parts):
        old.pieces[part] = piece
    elif getattr(old, "part", None) is not None:  # a piece already: the two share the layer
        net.layers[index] = pieces.Parts(old.W, old.b, {old.part: old, part: piece})
    else:
        net.layers[index] = piece


def _loss(factor):
    def patch(net, loss_fn, network, l, value):
        return pieces.Rescaled(loss_fn, factor)
    return patch


def _fused_loss(make):
    def patch(net, loss_fn, network, l, value):
        return make(loss_fn.reduction, loss_fn.scale)
    return patch


def _keep(net, loss_fn, network, l, value):
    return loss_fn


def _fused(network, l):
    return network.loss == "cross_entropy"


def _has_l2(network, l):
    return bool(getattr(network, "l2", ()))


def _act_is(*names):
    return lambda network, l: network.activations[l - 1] in names


def _hidden_act_is(*names):
    return lambda network, l: l < network.depth and network.activations[l - 1] in names


def _output_act_is(*names):
    return lambda network, l: l == network.depth and network.activations[l - 1] in names


def _always(network, l):
    return True


def _not_first(network, l):
    return l >= 2


LIBRARY: tuple[Variant, ...] = (
    Variant("relu-mask-from-input", 1, "activation-mask", "activation",
            "the ReLU mask of layer {l} is built from the layer's input instead of its pre-activation: "
            "dZ{l} = dA{l} * ({input} > 0) instead of dA{l} * (z{l} > 0)",
            _act_is("relu"), _activation(lambda name, net, l: pieces.ReLUMaskFromInput(net.layers[l - 1]))),
    Variant("weight-grad-wrong-input", 2, "wrong-input", "dense",
            "the weight gradient of layer {l} uses the network input X instead of the layer's input {input}: "
            "dW{l} = dZ{l}ᵀ X instead of dZ{l}ᵀ {input}",
            _not_first, _dense(lambda W, b, net, nw, l, v: pieces.WrongLayerInput(W, b, net.layers[0]), "W")),
    Variant("hidden-derivative-skipped", 3, "activation-derivative", "activation",
            "the {act} derivative of hidden layer {l} is skipped: dZ{l} = dA{l} instead of dA{l} * f'(z{l})",
            _hidden_act_is("sigmoid", "tanh", "leaky_relu"),
            _activation(lambda name, net, l: pieces.DerivativeSkipped(name))),
    Variant("upstream-typo", 4, "wrong-input", "dense",
            "layer {l} passes dZ{l} dW{l} down instead of dZ{l} W{l} (a typo), so dA{p} and every gradient "
            "below layer {l} are wrong",
            _not_first, _dense(lambda W, b, net, nw, l, v: pieces.UpstreamTypo(W, b), "X")),
    Variant("derivative-of-upstream", 5, "activation-derivative", "activation",
            "the {act} derivative of layer {l} is evaluated on the upstream gradient: "
            "dZ{l} = dA{l} * f'(dA{l}) instead of dA{l} * f'(z{l})",
            _act_is(*NONLINEAR), _activation(lambda name, net, l: pieces.DerivativeOfUpstream(name))),
    Variant("sigmoid-prime-of-z", 6, "activation-derivative", "activation",
            "the sigmoid derivative helper s(1 - s) of layer {l} receives z{l} instead of a{l} = σ(z{l}): "
            "dZ{l} = dA{l} z{l} (1 - z{l})",
            _act_is("sigmoid"), _activation(lambda name, net, l: pieces.SigmoidPrimeOfZ(name))),
    Variant("sigmoid-applied-twice", 6, "activation-derivative", "activation",
            "σ is applied twice in the derivative of layer {l}: dZ{l} = dA{l} σ(a{l})(1 - σ(a{l})) "
            "instead of dA{l} a{l} (1 - a{l})",
            _act_is("sigmoid"), _activation(lambda name, net, l: pieces.SigmoidAppliedTwice(name))),
    Variant("tanh-prime-of-z", 7, "activation-derivative", "activation",
            "the tanh derivative of layer {l} is evaluated on the pre-activation: 1 - z{l}² instead of 1 - a{l}²",
            _act_is("tanh"), _activation(lambda name, net, l: pieces.TanhPrimeOfZ(name))),
    Variant("relu-mask-nonnegative", 8, "activation-mask", "activation",
            "the ReLU derivative of layer {l} is skipped, or its mask is a{l} >= 0, which is always true (the "
            "two give the same gradients): dZ{l} = dA{l}, so dA{l} passes unchanged where z{l} <= 0",
            _act_is("relu"), _activation(lambda name, net, l: pieces.ReLUMaskNonNegative(name))),
    Variant("local-replaces-upstream", 9, "activation-derivative", "activation",
            "layer {l} replaces the upstream gradient by its local derivative: dZ{l} = f'(z{l}) "
            "instead of dA{l} * f'(z{l}), so every gradient from layer {l} down ignores the loss",
            _act_is(*NONLINEAR), _activation(lambda name, net, l: pieces.LocalReplacesUpstream(name))),
    Variant("output-derivative-missing", 10, "activation-derivative", "activation",
            "the output {act} derivative of layer {l} is missing: dZ{l} = dA{l} (as in dZ = a - y with MSE) "
            "instead of dA{l} * f'(z{l})",
            _output_act_is("sigmoid", "tanh"), _activation(lambda name, net, l: pieces.DerivativeSkipped(name))),
    Variant("output-derivative-twice", 11, "activation-derivative", "activation",
            "the output {act} derivative of layer {l} is applied twice: dZ{l} = dA{l} f'(z{l})² "
            "(as in (a - y) a (1 - a) with BCE)",
            _output_act_is("sigmoid", "tanh"), _activation(lambda name, net, l: pieces.DerivativeTwice(name))),
    Variant("half-mse", 13, "scale", "loss",
            "the MSE gradient lacks its factor 2: (a - y){norm} instead of 2 (a - y){norm} (the half-MSE "
            "convention), so every gradient is 0.5 times torch's; if half the squared error is the loss the code "
            "means, declare scale=0.5",
            lambda nw, l: nw.loss == "mse", _loss(lambda batch, out: 0.5)),
    Variant("batch-normalizer", 14, "scale", "loss",
            "the mean loss gradient divides by the batch size instead of the number of elements "
            "batch x out_features, so every gradient is out_features times torch's",
            lambda nw, l: nw.reduction == "mean" and nw.sizes[-1] > 1, _loss(lambda batch, out: float(out))),
    Variant("gradient-not-averaged", 15, "scale", "loss",
            "the loss is averaged over the batch but its gradient is not, so every gradient is batch times torch's",
            lambda nw, l: nw.reduction == "mean", _loss(lambda batch, out: float(batch))),
    Variant("gradient-divided-twice", 15, "scale", "loss",
            "the gradient is divided by the batch size once more than the loss, so every gradient is "
            "1/batch times torch's",
            _always, _loss(lambda batch, out: 1.0 / batch)),
    Variant("stray-factor-W", 16, "scale", "dense",
            "dW{l} alone carries a stray factor {value}",
            _always, _dense(lambda W, b, net, nw, l, v: pieces.StrayFactor(W, b, "W", v), "W"), ("factor", 2.0)),
    Variant("stray-factor-b", 16, "scale", "dense",
            "db{l} alone carries a stray factor {value}",
            _always, _dense(lambda W, b, net, nw, l, v: pieces.StrayFactor(W, b, "b", v), "b"), ("factor", 2.0)),
    Variant("weight-grad-not-averaged", 15, "scale", "dense",
            "dW{l} alone is not divided by the batch (the loss is averaged, this gradient is summed), so it is "
            "batch times torch's",
            lambda nw, l: nw.reduction != "sum", _dense(lambda W, b, net, nw, l, v: pieces.NotAveraged(W, b, "W"), "W")),
    Variant("bias-grad-not-averaged", 15, "scale", "dense",
            "db{l} alone is not divided by the batch (the loss is averaged, this gradient is summed), so it is "
            "batch times torch's",
            lambda nw, l: nw.reduction != "sum" and nw.bias,
            _dense(lambda W, b, net, nw, l, v: pieces.NotAveraged(W, b, "b"), "b")),
    Variant("bias-not-summed", 18, "bias-reduction", "dense",
            "db{l} is not summed over the batch: db{l} = dZ{l} of shape (batch, out) ((out, batch) in column "
            "layout) instead of dZ{l}.sum(axis=0)",
            _always, _dense(lambda W, b, net, nw, l, v: pieces.BiasNotSummed(W, b), "b")),
    Variant("bias-summed-all-axes", 19, "bias-reduction", "dense",
            "db{l} is summed over all axes: every entry is the one scalar sum(dZ{l}) "
            "instead of dZ{l}.sum(axis=0)",
            _always, _dense(lambda W, b, net, nw, l, v: pieces.BiasSummedAllAxes(W, b), "b")),
    Variant("bias-mean", 20, "bias-reduction", "dense",
            "db{l} averages over the batch instead of summing: dZ{l}.mean(axis=0) is 1/batch times "
            "dZ{l}.sum(axis=0)",
            _always, _dense(lambda W, b, net, nw, l, v: pieces.BiasMean(W, b), "b")),
    Variant("bias-axis-swapped", 20, "bias-reduction", "dense",
            "db{l} is summed over the wrong axis: dZ{l}.sum(axis=1) of shape (batch,) "
            "instead of dZ{l}.sum(axis=0) of shape (out,)",
            _always, _dense(lambda W, b, net, nw, l, v: pieces.BiasAxisSwapped(W, b), "b")),
    Variant("weights-transposed", 24, "transpose", "dense",
            "dW{l} is transposed: {input}ᵀ dZ{l} of shape (in, out) instead of dZ{l}ᵀ {input} of shape (out, in)",
            _always, _dense(lambda W, b, net, nw, l, v: pieces.TransposedWeights(W, b), "W")),
    Variant("stale-weights", 26, "stale-weights", "dense",
            "W{l} is updated (learning rate {value}) before dA{p} = dZ{l} W{l} is computed, so layer {p} "
            "and below use the new weights",
            _not_first, _dense(lambda W, b, net, nw, l, v: pieces.StaleWeights(W, b, v), "X"), ("lr", 0.1)),
    Variant("cache-overwritten", 27, "wrong-input", "dense",
            "the {act} derivative of layer {l} is computed in place on its cached output a{l}, so "
            "dW{n} = dZ{n}ᵀ f'(z{l}) uses the derivative instead of a{l}",
            _hidden_act_is(*NONLINEAR),
            # the buggy piece is layer l+1's dense layer, which reads the overwritten cache
            lambda net, loss_fn, nw, l, v: _overwrite_cache(net, nw, l) or loss_fn),
    Variant("sign-flipped", 28, "sign", "loss",
            "the gradient has the opposite sign (y - a combined with a -= update), so every gradient "
            "is -1 times torch's",
            _always, _loss(lambda batch, out: -1.0)),
    Variant("softmax-wrong-axis", 23, "other", "activation",
            "the softmax of layer {l} is normalized over the batch (axis 0) instead of the classes (axis 1), "
            "so its rows do not sum to 1",
            _act_is("softmax"), _activation(lambda name, net, l: pieces.SoftmaxWrongAxis())),
    Variant("softmax-backward-on-fused", 30, "activation-derivative", "loss",
            "the softmax derivative is applied on top of the fused cross-entropy gradient: "
            "dZ = (p - y) p (1 - p) instead of p - y",
            _fused, _fused_loss(pieces.SoftmaxBackwardOnFused)),
    Variant("fused-not-averaged", 31, "scale", "loss",
            "the fused gradient p - y is not divided by the batch while the cross-entropy is averaged, "
            "so every gradient is batch times torch's",
            lambda nw, l: _fused(nw, l) and nw.reduction != "sum", _loss(lambda batch, out: float(batch))),
    Variant("l2-missing", 32, "other", "penalty",
            "the L2 term is in the loss but missing from dW: dW lacks l2 W",
            _has_l2, _keep, penalty=pieces.L2Missing),
    Variant("l2-on-bias", 32, "other", "penalty",
            "the L2 term is applied to the biases too: db += l2 b (with the weights' coefficient), but only the "
            "weights are regularized",
            lambda nw, l: _has_l2(nw, l) and nw.bias and not nw.l2_bias, _keep, penalty=pieces.L2OnBias),
    Variant("l2-without-half", 32, "scale", "penalty",
            "the L2 gradient is 2 l2 W instead of l2 W: the derivative of l2 ||W||², not of (l2 / 2) ||W||²",
            _has_l2, _keep, penalty=pieces.L2WithoutHalf),
    Variant("l2-halved", 17, "scale", "penalty",
            "the L2 gradient is l2/2 W instead of l2 W: half of it, as when a loss term c ||W||² is "
            "differentiated as c W instead of 2 c W",
            _has_l2, _keep, penalty=pieces.L2Halved),
    Variant("l2-wrong-count", 33, "scale", "penalty",
            "the L2 gradient is averaged by the wrong count: l2/m W where the loss's L2 term is not divided "
            "by the batch, or l2 W where it is (l2 / (2m))",
            lambda nw, l: _has_l2(nw, l), _keep, penalty=pieces.L2WrongCount),
)


def _overwrite_cache(net, network, l):
    nxt = net.layers[l]
    _place(net, l, pieces.CacheOverwritten(nxt.W, nxt.b, network.activations[l - 1]), "W")


BY_KEY: dict[str, Variant] = {v.key: v for v in LIBRARY}


def variant(key: str) -> Variant:
    try:
        return BY_KEY[key]
    except KeyError:
        raise ValueError(f"unknown bug variant {key!r}; known: {', '.join(BY_KEY)}") from None
