"""The mutant corpus: bug variants placed at a layer of a network family that makes
them reachable, each wrapped as a ``Target`` for the fuzzer.

A mutant returns W/b only, like an audit target (``intermediates=True`` makes it
return dZ, dA and dX too, like the reference), so the diagnosis is proven on
the same evidence a user's code gives it.
"""
from __future__ import annotations

from dataclasses import dataclass

from crosscheck.model.target import Family, Target
from crosscheck.model.vocabulary import param_names
from crosscheck.diagnosis.variants import Variant, variant


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

    @property
    def variant(self) -> Variant:
        return variant(self.key)

    @property
    def pattern(self) -> int:
        return self.variant.pattern

    @property
    def label(self) -> str:
        """The diagnosis label a right diagnosis gives."""
        return self.variant.label

    def target(self) -> Target:
        bug, layer, value, keep_all = self.variant, self.layer, self.value, self.intermediates

        def mutant(X, Y, params, *, network):
            grads = bug.gradients(network, X, Y, params, layer, value)
            if keep_all:
                return grads
            return {name: grads[name] for name in param_names(network.depth)}

        mutant.__name__ = self.name.replace("-", "_")
        family = Family(activations=self.activations, loss=self.loss, reduction=self.reduction, dtype=self.dtype)
        return Target(self.name, mutant, family, takes_network=True, file="crosscheck/mutants/corpus.py",
                      options={"mutant": self.key, "pattern": self.pattern, "layer": layer})


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


def corpus(select: str | None = None) -> list[Mutant]:
    """The corpus, or the mutants whose name contains ``select``."""
    return [m for m in CORPUS if select is None or select in m.name]


def _check() -> None:
    """Every mutant's variant applies at its layer of its network family (import-time sanity)."""
    from crosscheck.model.cases import Network

    for m in CORPUS:
        sizes = (2,) * (len(m.activations) + 1)
        net = Network(sizes, m.activations, m.loss, m.reduction or "mean")
        if m.layer not in m.variant.layers(net):
            raise ValueError(f"mutant {m.name}: variant {m.key} does not apply at layer {m.layer}")


_check()
