"""The mutant corpus: bug variants placed at a layer of a network family that makes
them reachable, each wrapped as a ``Target`` for the fuzzer.

A mutant returns W/b only, like an audit target (``intermediates=True`` makes it
return dZ, dA and dX too, like the reference), so the diagnosis is proven on
the same evidence a user's code gives it.

A mutant may hold several bugs at once (``also``: more variants at other
layers or pieces, combined by ``variants.combined_gradients``): ``COMBINATIONS``
are the mistakes real code makes together, among them the four of
``examples/tutorials/relu_rows.py``. Its lines are traced in ``pieces.py``, where
each buggy piece's code is, so the mutant run can check that every bug is named
and its line found.
"""
from __future__ import annotations

from dataclasses import dataclass

from crosscheck.model.target import Family, Target
from crosscheck.model.vocabulary import param_names
from crosscheck.diagnosis import pieces
from crosscheck.diagnosis.variants import Variant, combined_gradients, variant


@dataclass(frozen=True)
class Mutant:
    name: str
    key: str  # the variant
    layer: int  # where the bug sits (0: the loss)
    activations: tuple[str, ...]
    loss: str = "mse"
    reduction: str | None = None  # None: drawn
    dtype: str | None = None  # None: drawn
    value: float | None = None  # the variant's parameter (stray factor, lr), if it has one
    intermediates: bool = False
    exposed_by: str = ""
    also: tuple[tuple[str, int, float | None], ...] = ()  # further bugs: (variant, layer, value)
    sizes: tuple[int | None, ...] | None = None  # widths the family fixes (None: drawn)

    @property
    def variant(self) -> Variant:
        return variant(self.key)

    @property
    def bugs(self) -> tuple[tuple[str, int, float | None], ...]:
        """Every bug of the mutant as (variant key, layer, value); the first is ``key``."""
        return ((self.key, self.layer, self.value),) + tuple(self.also)

    @property
    def labels(self) -> list[str]:
        """The diagnosis labels of all its bugs."""
        return list(dict.fromkeys(variant(k).label for k, _, _ in self.bugs))

    @property
    def pattern(self) -> int:
        return self.variant.pattern

    @property
    def label(self) -> str:
        """The diagnosis label a right diagnosis gives."""
        return self.variant.label

    def target(self) -> Target:
        bugs, keep_all = [(variant(k), l, v) for k, l, v in self.bugs], self.intermediates

        def mutant(X, Y, params, *, network):
            grads = combined_gradients(bugs, network, X, Y, params)
            if keep_all:
                return grads
            return {name: grads[name] for name in param_names(network.depth)}

        mutant.__name__ = self.name.replace("-", "_").replace("+", "_").replace("@", "_")
        family = Family(activations=self.activations, loss=self.loss, reduction=self.reduction, dtype=self.dtype,
                        sizes=self.sizes)
        return Target(self.name, mutant, family, takes_network=True, file=__file__,
                      options={"mutant": self.key, "pattern": self.pattern, "layer": self.layer,
                               "trace_files": [pieces.__file__]})


def _m(key, layer, activations, loss="mse", **kw) -> Mutant:
    where = "loss" if layer == 0 else f"L{layer}"
    acts = "-".join(a.replace("leaky_relu", "leaky") for a in activations)
    return Mutant(f"p{variant(key).pattern:02d}-{key}-{where}-{acts}-{loss}", key, layer, tuple(activations), loss, **kw)


#: At least one mutant per taxonomy pattern 1-11, 13-16, 18-20, 24, 26-28, at
#: different layers, activations, losses, reductions and dtypes.
CORPUS: tuple[Mutant, ...] = (
    _m("relu-mask-from-input", 1, ("relu", "identity"), exposed_by="in == hidden; X > 0 where z1 <= 0"),
    _m("relu-mask-from-input", 2, ("tanh", "relu", "identity"), reduction="sum", dtype="float32",
       exposed_by="h1 == h2; a1 > 0 where z2 <= 0"),
    _m("weight-grad-wrong-input", 2, ("sigmoid", "sigmoid"), "bce", exposed_by="always (shape error unless in == h1)"),
    _m("weight-grad-wrong-input", 3, ("relu", "tanh", "identity"), intermediates=True,
       exposed_by="always (shape error unless in == h2)"),
    _m("hidden-derivative-skipped", 1, ("sigmoid", "identity"), exposed_by="always"),
    _m("hidden-derivative-skipped", 2, ("relu", "tanh", "sigmoid"), "bce", exposed_by="always"),
    _m("upstream-typo", 2, ("tanh", "identity"), exposed_by="always"),
    _m("upstream-typo", 3, ("leaky_relu", "relu", "sigmoid"), "bce", dtype="float32", exposed_by="always"),
    _m("derivative-of-upstream", 1, ("sigmoid", "identity"), exposed_by="always"),
    _m("derivative-of-upstream", 1, ("relu", "identity"), "bce_with_logits", exposed_by="dA1 < 0 where z1 > 0"),
    _m("sigmoid-prime-of-z", 1, ("sigmoid", "sigmoid"), "bce", exposed_by="always"),
    _m("sigmoid-applied-twice", 2, ("tanh", "sigmoid"), exposed_by="always"),
    _m("tanh-prime-of-z", 1, ("tanh", "identity"), exposed_by="z != 0"),
    _m("tanh-prime-of-z", 2, ("relu", "tanh", "sigmoid"), "bce", dtype="float32", exposed_by="z2 != 0"),
    _m("relu-mask-nonnegative", 1, ("relu", "identity"), exposed_by="dead units (z1 <= 0)"),
    _m("relu-mask-nonnegative", 2, ("sigmoid", "relu", "identity"), intermediates=True,
       exposed_by="dead units (z2 <= 0)"),
    _m("local-replaces-upstream", 1, ("sigmoid", "identity"), exposed_by="always"),
    _m("local-replaces-upstream", 2, ("tanh", "leaky_relu", "identity"), reduction="mean", exposed_by="always"),
    _m("output-derivative-missing", 2, ("relu", "sigmoid"), exposed_by="always"),
    _m("output-derivative-twice", 2, ("tanh", "sigmoid"), "bce", exposed_by="always"),
    _m("half-mse", 0, ("relu", "identity"), exposed_by="always"),
    _m("batch-normalizer", 0, ("tanh", "identity"), reduction="mean", exposed_by="out_features > 1"),
    _m("gradient-not-averaged", 0, ("sigmoid", "sigmoid"), "bce", reduction="mean", exposed_by="batch > 1"),
    _m("gradient-divided-twice", 0, ("relu", "identity"), reduction="sum", dtype="float32", exposed_by="batch > 1"),
    _m("stray-factor-W", 2, ("relu", "identity"), value=2.0, exposed_by="always"),
    _m("stray-factor-b", 1, ("tanh", "tanh", "identity"), value=2.0, exposed_by="always"),
    _m("bias-not-summed", 2, ("relu", "identity"), exposed_by="batch > 1"),
    _m("bias-summed-all-axes", 1, ("sigmoid", "identity"), exposed_by="out_features of the layer > 1"),
    _m("bias-mean", 1, ("relu", "sigmoid"), "bce", exposed_by="batch > 1"),
    _m("bias-axis-swapped", 2, ("tanh", "identity"), exposed_by="batch > 1 (shape error unless batch == out)"),
    _m("weights-transposed", 1, ("relu", "identity"), exposed_by="always (silent only when square)"),
    _m("weights-transposed", 2, ("sigmoid", "tanh", "identity"), reduction="sum",
       exposed_by="always (silent only when square)"),
    _m("stale-weights", 2, ("relu", "identity"), value=0.1, exposed_by="lr > 0"),
    _m("stale-weights", 3, ("tanh", "sigmoid", "sigmoid"), "bce", value=0.1, exposed_by="lr > 0"),
    _m("cache-overwritten", 1, ("relu", "identity"), exposed_by="a1 not in {0, 1}"),
    _m("sign-flipped", 0, ("sigmoid", "sigmoid"), "bce", exposed_by="always"),
    _m("sign-flipped", 0, ("relu", "relu", "identity"), reduction="sum", exposed_by="always"),
)


def _c(bugs, activations, loss="mse", **kw) -> Mutant:
    """A mutant with several bugs: ``bugs`` is a list of (variant key, layer) or (key, layer, value)."""
    bugs = [tuple(b) + (None,) * (3 - len(b)) for b in bugs]
    where = "+".join(f"{k}@{'loss' if l == 0 else f'L{l}'}" for k, l, _ in bugs)
    acts = "-".join(a.replace("leaky_relu", "leaky") for a in activations)
    (key, layer, value), *also = bugs
    return Mutant(f"c{len(bugs)}-{where}-{acts}-{loss}", key, layer, tuple(activations), loss, value=value,
                  also=tuple(also), **kw)


#: Two to four bugs at different layers or pieces, as real code has them. Widths are fixed
#: where a bug needs two of them equal (a mask or a weight gradient from the wrong tensor),
#: so that the mismatch, not the shape error, is what the fuzzer finds.
COMBINATIONS: tuple[Mutant, ...] = (
    # the seed tutorial's four (examples/tutorials/relu_rows.py)
    _c([("half-mse", 0), ("output-derivative-missing", 2), ("weight-grad-wrong-input", 2),
        ("relu-mask-from-input", 1)], ("relu", "sigmoid"), sizes=(3, 3, None)),
    _c([("output-derivative-missing", 2), ("stale-weights", 2, 0.1)], ("relu", "sigmoid")),
    _c([("stray-factor-W", 2, 2.0), ("stray-factor-b", 1, 4.0)], ("relu", "identity")),
    _c([("half-mse", 0), ("relu-mask-nonnegative", 1)], ("relu", "identity")),
    _c([("sign-flipped", 0), ("bias-mean", 1)], ("tanh", "identity")),
    _c([("gradient-not-averaged", 0), ("tanh-prime-of-z", 1)], ("tanh", "identity"), reduction="mean"),
    _c([("batch-normalizer", 0), ("hidden-derivative-skipped", 1)], ("sigmoid", "identity"), reduction="mean",
       sizes=(None, None, 3)),
    _c([("output-derivative-twice", 2), ("bias-summed-all-axes", 1)], ("tanh", "sigmoid"), "bce"),
    _c([("upstream-typo", 2), ("sigmoid-prime-of-z", 1)], ("sigmoid", "identity")),
    _c([("weights-transposed", 2), ("relu-mask-nonnegative", 1)], ("relu", "identity")),
    _c([("stray-factor-b", 2, 3.0), ("derivative-of-upstream", 1)], ("sigmoid", "identity")),
    _c([("half-mse", 0), ("local-replaces-upstream", 1)], ("tanh", "identity")),
    _c([("bias-not-summed", 2), ("tanh-prime-of-z", 1)], ("tanh", "identity")),
    _c([("stray-factor-W", 3, 2.0), ("hidden-derivative-skipped", 2), ("relu-mask-nonnegative", 1)],
       ("relu", "tanh", "identity")),
    _c([("half-mse", 0), ("upstream-typo", 3), ("bias-mean", 1)], ("relu", "tanh", "identity")),
    _c([("sigmoid-applied-twice", 2), ("stale-weights", 3, 0.1)], ("relu", "sigmoid", "sigmoid"), "bce"),
    _c([("output-derivative-missing", 2), ("cache-overwritten", 1)], ("relu", "sigmoid")),
    _c([("sign-flipped", 0), ("weight-grad-wrong-input", 3), ("derivative-of-upstream", 2)],
       ("tanh", "relu", "identity"), sizes=(None, 3, 3, None)),
    _c([("relu-mask-from-input", 2), ("stray-factor-b", 1, 4.0)], ("tanh", "relu", "identity"),
       sizes=(None, 3, 3, None)),
    _c([("gradient-divided-twice", 0), ("relu-mask-nonnegative", 2), ("tanh-prime-of-z", 1)],
       ("tanh", "relu", "identity"), reduction="sum"),
    _c([("output-derivative-missing", 3), ("upstream-typo", 2), ("stray-factor-W", 1, 0.5)],
       ("tanh", "tanh", "sigmoid")),
    _c([("batch-normalizer", 0), ("weights-transposed", 1)], ("sigmoid", "identity"), reduction="mean",
       sizes=(None, None, 2)),
    _c([("stale-weights", 2, 0.05), ("bias-summed-all-axes", 1)], ("tanh", "identity")),
    _c([("half-mse", 0), ("local-replaces-upstream", 2), ("bias-mean", 1)], ("relu", "sigmoid", "identity")),
    _c([("output-derivative-twice", 2), ("relu-mask-nonnegative", 1)], ("relu", "sigmoid"), "bce"),
    _c([("sign-flipped", 0), ("weight-grad-wrong-input", 2)], ("relu", "identity"), sizes=(3, 3, None)),
    _c([("gradient-not-averaged", 0), ("stray-factor-b", 2, 2.0), ("stray-factor-W", 1, 3.0)],
       ("tanh", "identity"), reduction="mean"),
    _c([("output-derivative-missing", 2), ("hidden-derivative-skipped", 1)], ("sigmoid", "sigmoid")),
    _c([("half-mse", 0), ("relu-mask-from-input", 1)], ("relu", "identity"), sizes=(3, 3, None)),
    _c([("sign-flipped", 0), ("tanh-prime-of-z", 2), ("bias-not-summed", 1)], ("relu", "tanh", "identity")),
    _c([("derivative-of-upstream", 2), ("stale-weights", 3, 0.1), ("bias-mean", 1)], ("relu", "tanh", "identity")),
    _c([("output-derivative-missing", 2), ("stale-weights", 2, 0.1), ("half-mse", 0), ("bias-mean", 1)],
       ("tanh", "sigmoid")),
)


def corpus(select: str | None = None, *, combinations: bool = True) -> list[Mutant]:
    """The corpus (single bugs, then the combinations), or the mutants whose name contains ``select``."""
    every = CORPUS + (COMBINATIONS if combinations else ())
    return [m for m in every if select is None or select in m.name]


def _check() -> None:
    """Every mutant's variant applies at its layer of its network family (import-time sanity)."""
    from crosscheck.model.cases import Network

    for m in CORPUS + COMBINATIONS:
        sizes = (2,) * (len(m.activations) + 1)
        net = Network(sizes, m.activations, m.loss, m.reduction or "mean")
        slots = set()
        for key, layer, _ in m.bugs:
            v = variant(key)
            if layer not in v.layers(net):
                raise ValueError(f"mutant {m.name}: variant {key} does not apply at layer {layer}")
            if v.slot(layer) in slots:
                raise ValueError(f"mutant {m.name}: two bugs replace the same piece {v.slot(layer)}")
            slots.add(v.slot(layer))


_check()
