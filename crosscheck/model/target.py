"""A target is code whose gradients we check: ``(X, Y, params) -> grads``.

``params`` is a list of ``(W, b)`` per dense layer, ``W`` of shape (out, in) and
``b`` of shape (out,) (``None`` for layers declared ``bias=False``); ``X`` is
(batch, in) and ``Y`` (batch, out), one-hot rows for cross-entropy. A target
returns the gradients in the same structure, a list of ``(dW, db)``, or a dict
by name (``W1``, ``b1``, ... and optionally the intermediates ``dZ1``, ``dA1``,
..., ``dX``), or, with ``returns="update"``, the parameters after one SGD step
(or, declaring ``optimizer=`` and/or ``steps=``, after that many updates of that
optimizer: a training loop, checked step by step by ``trajectory``), or, with
``returns="step"``, the pair (parameters before, parameters after) of one SGD step
of code that makes its own parameters: the truth is then taken at the first.

The family says which networks a target can take: fixed activations and loss
for a tutorial's two-layer network, anything at all for the reference.
"""
from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np

from crosscheck.model.returns import ReturnError, Rejected, unpack  # noqa: F401 (the one reader; re-exported)
from crosscheck.model.optimizer_spec import TRAINING_OPTIONS, SpecError, check_training_options
from crosscheck.model.vocabulary import (ACTIVATIONS, AUDIT_LOSSES, CLASSES, DTYPES, ELEMENTWISE, LEAKY_SLOPE,
                                         LOSS_OPTIONS, LOSSES, MAX_BATCH, MAX_DEPTH, MAX_WIDTH, OUTPUT_ACTIVATIONS,
                                         REDUCTIONS, param_names)

RETURNS = ("grads", "update", "step")
#: ``Family(**DRAWN)``: every loss option drawn (scale, L2, biases, leaky slope), as for the reference.
DRAWN = {name: None for name in LOSS_OPTIONS}
#: Further keyword arguments of @audit_target, validated by the features that use them
#: (training code: ``optimizer``, ``steps`` and torch.optim's hyperparameters, see ``optimizer_spec``).
EXTRA_OPTIONS: tuple[str, ...] = TRAINING_OPTIONS + ("intermediates",)


class TargetError(ValueError):
    """A target is declared wrongly (bad decorator arguments)."""


@dataclass(frozen=True)
class Family:
    """The networks a target supports. ``None`` means "drawn freely"."""

    activations: tuple[str, ...] | None = None
    loss: str | None = None
    reduction: str | None = None
    sizes: tuple[int | None, ...] | None = None
    batch: int | None = None
    dtype: str | None = None
    # the loss options (``vocabulary.LOSS_OPTIONS``), as declared (the plain loss by default);
    # None: drawn freely (the reference, ``DRAWN``)
    scale: float | None = LOSS_OPTIONS["scale"]
    l2: float | tuple[float, ...] | None = LOSS_OPTIONS["l2"]
    l2_bias: float | tuple[float, ...] | None = LOSS_OPTIONS["l2_bias"]
    l2_by_batch: bool | None = LOSS_OPTIONS["l2_by_batch"]
    bias: bool | None = LOSS_OPTIONS["bias"]
    leaky_slope: float | None = LOSS_OPTIONS["leaky_slope"]

    def network_options(self) -> dict:
        """The loss options this family fixes, as ``Network`` keywords (the others are drawn)."""
        return {k: getattr(self, k) for k in LOSS_OPTIONS if getattr(self, k) is not None}

    def covers(self, network, batch: int | None = None, dtype: str | None = None) -> bool:
        if self.activations is not None and tuple(network.activations) != self.activations:
            return False
        fixed = self.network_options()
        if fixed and any(getattr(network.with_options(**fixed), k) != getattr(network, k) for k in fixed):
            return False
        if self.loss is not None and network.loss != self.loss:
            return False
        if self.reduction is not None and network.reduction != self.reduction:
            return False
        if self.sizes is not None and (len(self.sizes) != len(network.sizes) or any(
                s is not None and s != n for s, n in zip(self.sizes, network.sizes))):
            return False
        if batch is not None and self.batch is not None and batch != self.batch:
            return False
        return not (dtype is not None and self.dtype is not None and dtype != self.dtype)


@dataclass
class Target:
    """Code under test plus the family of networks it supports."""

    name: str
    fn: Callable
    family: Family = field(default_factory=Family)
    returns: str = "grads"
    lr: float | None = None
    file: str | None = None
    #: True when ``fn`` takes the network as a keyword (the reference does; it covers every family).
    takes_network: bool = False
    options: dict = field(default_factory=dict)

    @property
    def has_bias(self) -> bool:
        """False for bias-free layers (``bias=False``: params arrive as ``[(W1, None), ...]``)."""
        return getattr(self.family, "bias", self.options.get("bias", True)) is not False

    def run(self, network, X: np.ndarray, Y: np.ndarray, params) -> dict[str, Any]:
        """Call the target on fresh copies and return its gradients by name (values as returned)."""
        return self.call(network, X, Y, params)[0]

    def call(self, network, X: np.ndarray, Y: np.ndarray, params) -> tuple[dict[str, Any], list]:
        """``(gradients by name, the parameters they are taken at)``: ``params`` itself, except for
        ``returns="step"``, whose function reports the parameters it started from."""
        fresh = [(_fresh(W), _fresh(b)) for W, b in params]
        args = (_fresh(X), _fresh(Y), fresh)
        out = self.fn(*args, network=network) if self.takes_network else self.fn(*args)
        if self.returns == "step":
            params, out = _step_pair(out, params, network)
        grads = unpack(out, network.depth, what="gradients" if self.returns == "grads" else "parameters",
                       dtype=X.dtype.name, bias=network.bias,
                       intermediates=self.takes_network or bool(self.options.get("intermediates")))
        if self.returns in ("update", "step"):
            grads = _from_update(grads, params, self.lr)
        return grads, params


def _fresh(a):
    """A copy of ``a`` the target may change at will (``ndarray.copy`` for an array, the cheaper call)."""
    if a is None:
        return None
    return a.copy() if type(a) is np.ndarray else np.array(a, copy=True)


def _step_pair(out, params, network) -> tuple[list, Any]:
    """``(params_before, params_after)`` returned by a ``returns="step"`` target: the parameters
    before as [(W, b), ...] in float64 (they must have the shapes of ``params``), and the after
    value as returned."""
    if not (isinstance(out, (list, tuple)) and len(out) == 2):
        raise ReturnError(f"returns='step' expects (params_before, params_after), got a {type(out).__name__}"
                          + (f" of {len(out)} items" if isinstance(out, (list, tuple)) else ""))
    before = unpack(out[0], network.depth, what="parameters", bias=network.bias)
    start = []
    for l, (W, b) in enumerate(params, start=1):
        pair = []
        for name, given in ((f"W{l}", W), (f"b{l}", b)):
            if given is None:
                pair.append(None)
                continue
            try:
                value = np.asarray(before.get(name), dtype=np.float64)
            except (TypeError, ValueError):
                value = None
            if value is None or value.shape != given.shape:
                raise ReturnError(f"params_before has {name} of shape {getattr(value, 'shape', None)}, but the "
                                  f"declared network's {name} is {given.shape}: make the parameters with the "
                                  f"shapes of the params given")
            pair.append(value.astype(given.dtype))
        start.append(tuple(pair))
    return start, out[1]



def _from_update(new: dict, old, lr: float) -> dict:
    """Gradients recovered from one plain SGD step: (old - new) / lr."""
    grads = {}
    for l, (W, b) in enumerate(old, start=1):
        for name, before in ((f"W{l}", W), (f"b{l}", b)):
            if before is None:
                continue
            after = new.get(name)
            if isinstance(after, Rejected) or (b is None and name[0] == "b"):
                grads[name] = after  # compare() names what came back
                continue
            try:
                after_arr = np.asarray(after, dtype=np.float64)
                if after_arr.size == before.size:
                    after_arr = after_arr.reshape(before.shape)
                grads[name] = (before.astype(np.float64) - after_arr) / lr if after is not None else None
            except (TypeError, ValueError):
                grads[name] = after  # let compare() name what came back
    return grads


# -- the reference, a target that covers every family -------------------------------

def _reference_fn(X, Y, params, *, network):
    from crosscheck.reference import L2, MLP
    net = MLP(network.sizes, network.activations, params, leaky_slope=network.leaky_slope)
    penalty = None
    if network.l2 or network.l2_bias:
        penalty = L2(list(network.l2) or 0.0, list(network.l2_bias) or 0.0, network.l2_by_batch)
    _, grads = net.gradients(X, Y, network.loss, network.reduction, scale=network.scale, penalty=penalty)
    return grads


def reference_target() -> Target:
    """The reference NumPy implementation, every tensor including intermediates."""
    return Target("reference", _reference_fn, Family(**DRAWN), takes_network=True, file="reference/network.py")


# -- the decorator users write --------------------------------------------------------

def audit_target(fn: Callable | None = None, *, activations: Sequence[str] | None = None, loss: str | None = None,
                 reduction: str = "mean", scale: float = 1.0, l2: float | Sequence[float] = 0.0,
                 l2_bias: float | Sequence[float] = 0.0, l2_by_batch: bool = False, bias: bool = True,
                 leaky_slope: float = LEAKY_SLOPE, returns: str = "grads", lr: float | None = None,
                 sizes: Sequence[int | None] | None = None, batch: int | None = None, dtype: str = "float64",
                 **options):
    """Declare a function ``(X, Y, params) -> grads`` as a target for ``crosscheck audit``.

    The loss it differentiates is ``scale · loss(A_L, Y)`` reduced by ``reduction`` (``mean``: torch's,
    over every element, over the batch for cross-entropy; ``sum``; ``batch_mean``: sum over the
    outputs, mean over the batch), plus ``(l2 / 2) Σ_k ||W_k||²`` and ``(l2_bias / 2) Σ_k ||b_k||²``
    (one number, or a list with one per layer), each divided by the batch with ``l2_by_batch``.
    ``loss="cross_entropy"`` needs ``softmax`` as the last activation (and only there), one-hot
    targets (batch, classes) and 2-10 classes. ``bias=False``: the layers have no biases, params
    arrive as [(W1, None), ...]. ``leaky_slope`` is the slope of ``leaky_relu`` below 0.

    Arguments are checked here; a mistake raises ``TargetError`` saying which
    argument is wrong and what it accepts. The declaration is stored on the
    function as ``__crosscheck_target__``; the function itself is unchanged.

    ``returns="update", lr=...``: the function returns the parameters after one plain SGD step;
    ``returns="step", lr=...``: it makes its own parameters and returns (params_before,
    params_after) of one SGD step; the truth is taken at params_before. Either way the gradient
    is recovered as (before - after) / lr and judged within the rounding of that difference.

    Training code: with ``returns="update"``, ``optimizer`` (``sgd``, ``momentum``,
    ``adam``, ``adamw``), ``steps`` (default 1) and torch.optim's hyperparameters
    by torch.optim's names (``momentum``, ``dampening``, ``nesterov``, ``betas``,
    ``eps``, ``weight_decay``; ``lr`` as above) declare a function that returns the
    parameters after ``steps`` updates; ``crosscheck.judge.trajectory`` compares it with
    torch.optim. If the function takes a ``steps`` keyword it is called with 1..steps
    to find the first step that diverges.
    """
    if fn is not None:
        raise TargetError("use @audit_target(activations=[...], loss=...) with arguments, not bare @audit_target")
    loss_options = dict(scale=scale, l2=l2, l2_bias=l2_bias, l2_by_batch=l2_by_batch, bias=bias,
                        leaky_slope=leaky_slope)
    family, extra = _check_declaration(activations, loss, reduction, sizes, batch, dtype, returns, lr, options,
                                       loss_options)

    def mark(f: Callable) -> Callable:
        if not callable(f):
            raise TargetError(f"@audit_target decorates a function, got {type(f).__name__}")
        f.__crosscheck_target__ = dict(family=family, returns=returns, lr=lr, options=extra)
        return f

    return mark


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool) and math.isfinite(v)


def _check_declaration(activations, loss, reduction, sizes, batch, dtype, returns, lr, options, loss_options=None):
    def fail(msg):
        raise TargetError(f"@audit_target: {msg}")

    if activations is None or isinstance(activations, str) or not isinstance(activations, Sequence) or not activations:
        fail("activations is required: a list with one name per dense layer, "
             f"from {', '.join(ACTIVATIONS)} (got {activations!r})")
    bad = [a for a in activations if a not in ACTIVATIONS]
    if bad:
        fail(f"unknown activation(s) {bad}; choose from {', '.join(ACTIVATIONS)}")
    depth = len(activations)
    if depth > MAX_DEPTH:
        fail(f"{depth} layers is more than the {MAX_DEPTH} a check accepts")
    if "softmax" in activations[:-1]:
        fail(f"softmax may only be the last activation (it is layer {list(activations).index('softmax') + 1} "
             f"of {depth}); hidden layers take one of {', '.join(ELEMENTWISE)}")
    if loss not in AUDIT_LOSSES and loss not in LOSSES:
        fail(f"loss is required and must be one of {', '.join(AUDIT_LOSSES)} (got {loss!r})")
    if activations[-1] == "softmax" and loss != "cross_entropy":
        fail(f"a softmax output needs loss='cross_entropy' (got loss={loss!r})")
    if loss == "cross_entropy" and activations[-1] != "softmax":
        fail(f"loss='cross_entropy' needs 'softmax' as the last activation (got {activations[-1]!r}); "
             f"code on raw logits computes the softmax inside its loss: declare it as the last activation")
    if activations[-1] not in OUTPUT_ACTIVATIONS[loss]:
        fail(f"loss {loss!r} needs the last activation to be one of {OUTPUT_ACTIVATIONS[loss]}, "
             f"got {activations[-1]!r}")
    if reduction not in REDUCTIONS:
        fail(f"reduction must be one of {', '.join(map(repr, REDUCTIONS))} (got {reduction!r})")
    if sizes is not None:
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or len(sizes) != depth + 1:
            fail(f"sizes must be a list of len(activations)+1 = {depth + 1} entries, "
                 f"each an int or None (got {sizes!r})")
        if any(s is not None and (not isinstance(s, int) or isinstance(s, bool) or s < 1) for s in sizes):
            fail(f"each entry of sizes must be a positive int or None (got {list(sizes)})")
        if any(s is not None and s > MAX_WIDTH for s in sizes):
            fail(f"sizes {list(sizes)}: a width of at most {MAX_WIDTH} is accepted")
        if loss == "cross_entropy" and sizes[-1] is not None and not CLASSES[0] <= sizes[-1] <= CLASSES[1]:
            fail(f"cross_entropy takes {CLASSES[0]} to {CLASSES[1]} classes: the last entry of sizes is {sizes[-1]}")
        sizes = tuple(sizes)
    if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or batch < 1):
        fail(f"batch must be a positive int or None (got {batch!r})")
    if batch is not None and batch > MAX_BATCH:
        fail(f"batch={batch} is more than the {MAX_BATCH} a check accepts")
    if dtype not in DTYPES:
        fail(f"dtype must be 'float64' or 'float32' (got {dtype!r})")
    opts = _check_loss_options(dict(LOSS_OPTIONS, **(loss_options or {})), activations, fail)
    if returns not in RETURNS:
        fail(f"returns must be one of {', '.join(map(repr, RETURNS))} (got {returns!r})")
    if returns in ("update", "step"):
        if lr is None or not _is_number(lr) or not lr > 0:
            fail(f"returns={returns!r} needs lr, the positive learning rate of the update (got {lr!r})")
    elif lr is not None and (not _is_number(lr) or lr <= 0):
        fail(f"lr must be a positive number (got {lr!r})")
    unknown = sorted(set(options) - set(EXTRA_OPTIONS))
    if unknown:
        fail(f"unknown argument(s) {', '.join(unknown)}; it takes activations, loss, reduction, "
             f"{', '.join(LOSS_OPTIONS)}, returns, lr, sizes, batch, dtype"
             + (", " + ", ".join(EXTRA_OPTIONS) if EXTRA_OPTIONS else ""))
    if not isinstance(options.get("intermediates", False), bool):
        fail(f"intermediates must be True or False (got {options['intermediates']!r})")
    training = {k: v for k, v in options.items() if k in TRAINING_OPTIONS}
    if training:
        try:
            check_training_options(returns, lr, training)
        except SpecError as e:
            fail(str(e))
    family = Family(tuple(activations), loss, reduction, sizes, batch, dtype, **opts)
    return family, options


def _check_loss_options(opts: dict, activations, fail) -> dict:
    """The loss options of a declaration, checked, as ``Family`` fields (lists as tuples)."""
    depth = len(activations)
    scale = opts["scale"]
    if not _is_number(scale) or not scale > 0:
        fail(f"scale must be a positive number, the factor between the code's loss and the declared one "
             f"(0.5 for a half squared error); got {scale!r}")
    for name in ("l2", "l2_bias"):
        value = opts[name]
        if isinstance(value, (list, tuple)):
            if len(value) != depth:
                fail(f"{name} as a list needs one number per layer: {depth} (got {len(value)}: {list(value)})")
            if not all(_is_number(v) and v >= 0 for v in value):
                fail(f"{name} must hold numbers >= 0 (got {list(value)})")
            opts[name] = tuple(float(v) for v in value)
        elif not _is_number(value) or value < 0:
            fail(f"{name} must be a number >= 0 or a list of {depth} (one per layer); got {value!r}")
        else:
            opts[name] = float(value)
    for name in ("l2_by_batch", "bias"):
        if not isinstance(opts[name], bool):
            fail(f"{name} must be True or False (got {opts[name]!r})")
    has = {name: any(opts[name]) if isinstance(opts[name], tuple) else opts[name] > 0 for name in ("l2", "l2_bias")}
    if opts["l2_by_batch"] and not (has["l2"] or has["l2_bias"]):
        fail("l2_by_batch=True divides the L2 terms by the batch, but l2 and l2_bias are 0: give l2")
    if has["l2_bias"] and not opts["bias"]:
        fail("l2_bias regularizes the biases, but bias=False declares layers without them")
    slope = opts["leaky_slope"]
    if not _is_number(slope) or not 0 < slope < 1:
        fail(f"leaky_slope must be in (0, 1), the slope of leaky_relu below 0 (got {slope!r})")
    if slope != LEAKY_SLOPE and "leaky_relu" not in activations:
        fail(f"leaky_slope={slope} is given but no layer is leaky_relu")
    opts["scale"], opts["leaky_slope"] = float(scale), float(slope)
    return opts
