"""A case is everything needed to rebuild one comparison exactly.

``Network`` is the architecture (sizes, activations, loss, reduction); ``Case``
adds batch, dtype, a data regime and a seed. The arrays (X, Y, params) are a pure
function of the case, so a case printed in a report replays bit for bit.
Hypothesis draws cases (see ``strategies``) and shrinks them field by field.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .vocabulary import ACTIVATIONS, DTYPES, LOSSES, OUTPUT_ACTIVATIONS, REDUCTIONS


@dataclass(frozen=True)
class Network:
    """sizes = (in, h1, ..., out); one activation per dense layer."""

    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str = "mse"
    reduction: str = "mean"

    def __post_init__(self):
        object.__setattr__(self, "sizes", tuple(int(n) for n in self.sizes))
        object.__setattr__(self, "activations", tuple(self.activations))
        problems = []
        if len(self.sizes) < 2 or any(n < 1 for n in self.sizes):
            problems.append(f"sizes must be at least two positive ints, got {list(self.sizes)}")
        if len(self.activations) != len(self.sizes) - 1:
            problems.append(f"need one activation per layer ({len(self.sizes) - 1}), got {len(self.activations)}")
        bad = [a for a in self.activations if a not in ACTIVATIONS]
        if bad:
            problems.append(f"unknown activation(s) {bad}: choose from {', '.join(ACTIVATIONS)}")
        if self.loss not in LOSSES:
            problems.append(f"unknown loss {self.loss!r}: choose from {', '.join(LOSSES)}")
        elif self.activations and self.activations[-1] not in OUTPUT_ACTIVATIONS[self.loss]:
            problems.append(f"loss {self.loss!r} needs an output activation in {OUTPUT_ACTIVATIONS[self.loss]}, "
                            f"got {self.activations[-1]!r}")
        if self.reduction not in REDUCTIONS:
            problems.append(f"reduction must be 'mean' or 'sum', got {self.reduction!r}")
        if problems:
            raise ValueError("invalid network: " + "; ".join(problems))

    @property
    def depth(self) -> int:
        return len(self.activations)

    def describe(self) -> str:
        return f"{'-'.join(map(str, self.sizes))} [{', '.join(self.activations)}] {self.loss}/{self.reduction}"


#: Data regimes: how the arrays of a case are drawn. "normal" first: Hypothesis
#: shrinks towards it, so a minimal failing example uses plain data unless the
#: bug needs an edge. Each other regime is one edge of the numerics:
#:
#: - ``relu-gap``: positive inputs, mostly negative pre-activations (a mask built from
#:   the wrong tensor differs almost everywhere);
#: - ``zeros``: small integers, so pre-activations are exactly 0 at ReLU kinks and some
#:   weights, inputs and whole units are 0;
#: - ``saturated``: |z| well past 40, sigmoid and tanh flat, BCE at its clamps;
#: - ``tiny`` / ``large``: magnitudes around 1e-6 / 1e3 and beyond;
#: - ``clamp``: output probabilities at torch's BCE clamps, some exactly 0 or 1, with
#:   hard targets exactly 0 and 1;
#: - ``kinks``: plain float data where whole units, input columns and weight rows are
#:   exactly 0, so z = 0 exactly at some units of every layer.
REGIMES = ("normal", "relu-gap", "zeros", "saturated", "tiny", "large", "clamp", "kinks")


@dataclass(frozen=True)
class Case:
    network: Network
    batch: int
    dtype: str = "float64"
    regime: str = "normal"
    seed: int = 0
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        if self.batch < 1:
            raise ValueError(f"batch must be at least 1, got {self.batch}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.regime not in REGIMES:
            raise ValueError(f"unknown data regime {self.regime!r}: choose from {', '.join(REGIMES)}")

    # -- serialization (reports, replay, workers) --------------------------------
    def to_dict(self) -> dict:
        n = self.network
        return {"sizes": list(n.sizes), "activations": list(n.activations), "loss": n.loss,
                "reduction": n.reduction, "batch": self.batch, "dtype": self.dtype,
                "regime": self.regime, "seed": self.seed}

    @classmethod
    def from_dict(cls, d: dict) -> "Case":
        try:
            net = Network(tuple(d["sizes"]), tuple(d["activations"]), d.get("loss", "mse"),
                          d.get("reduction", "mean"))
            return cls(net, int(d["batch"]), d.get("dtype", "float64"), d.get("regime", "normal"),
                       int(d.get("seed", 0)))
        except KeyError as e:
            raise ValueError(f"a case needs the field {e.args[0]!r}; got fields {sorted(d)}") from None

    def describe(self) -> str:
        return f"{self.network.describe()}, batch {self.batch}, {self.dtype}, {self.regime} data, seed {self.seed}"

    # -- arrays ------------------------------------------------------------------
    def arrays(self) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """(X, Y, params) in the case's dtype, a pure function of the case."""
        X, Y, params = _draw(self)
        dt = np.dtype(self.dtype)  # the drawn arrays are fresh float64: cast, never shared
        return (X.astype(dt, copy=False), Y.astype(dt, copy=False),
                [(W.astype(dt, copy=False), b.astype(dt, copy=False)) for W, b in params])


def _draw(case: Case):
    net = case.network
    rng = np.random.default_rng([case.seed, REGIMES.index(case.regime)])
    sizes, batch, regime = net.sizes, case.batch, case.regime
    params = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        bound = math.sqrt(3.0 / n_in)  # unit-variance pre-activations for unit-variance inputs
        W = rng.uniform(-bound, bound, (n_out, n_in))
        b = rng.uniform(-0.5, 0.5, (n_out,))
        params.append([W, b])
    X = rng.standard_normal((batch, sizes[0]))

    if regime == "relu-gap":
        # Positive inputs but mostly negative pre-activations: a ReLU mask built
        # from the layer's input instead of its pre-activation differs from the
        # right one almost everywhere.
        X = np.abs(X) + 0.1
        for p in params:
            p[1] = -np.abs(p[1]) - 0.25
    elif regime == "zeros":
        # Small integers: pre-activations hit exactly 0 (the ReLU kink) and
        # some weights, inputs and whole units are exactly 0.
        X = rng.integers(-1, 2, X.shape).astype(float)
        for p in params:
            p[0] = rng.integers(-1, 2, p[0].shape).astype(float)
            p[1] = rng.integers(-1, 2, p[1].shape).astype(float)
    elif regime == "saturated":
        for p in params:  # |z| well past 40: sigmoid and tanh flat, BCE at its clamps
            p[0] *= 60.0
            p[1] *= 60.0
    elif regime == "tiny":
        X *= 1e-4
        for p in params:
            p[0] *= 1e-2
            p[1] *= 1e-4
    elif regime == "large":
        X *= 1e3
    elif regime == "clamp":
        # |z| of 40 puts a (1 - a) below torch's 1e-12 clamp; 1000 makes a exactly 0 or 1
        for p in params[-1:]:
            factor = np.where(rng.random(p[0].shape[0]) < 0.25, 1000.0, 40.0)
            p[0] *= factor[:, None]
            p[1] *= factor
    elif regime == "kinks":
        # Exact zeros amid float data: a zero row of W with a zero bias is a unit at z = 0
        # for every sample; zero input columns and zero weights make more terms vanish.
        X[:, rng.random(X.shape[1]) < 0.3] = 0.0
        for p in params:
            dead = rng.random(p[0].shape[0]) < 0.3
            p[0][dead] = 0.0
            p[1][dead | (rng.random(p[1].shape) < 0.2)] = 0.0
            p[0][rng.random(p[0].shape) < 0.2] = 0.0

    out = sizes[-1]
    if net.loss == "mse":
        Y = rng.standard_normal((batch, out))
        if regime == "large":
            Y *= 1e3
    else:
        Y = rng.uniform(0, 1, (batch, out))
        if regime in ("clamp", "saturated", "zeros", "kinks") or rng.random() < 0.5:
            Y = np.round(Y)  # hard labels at exactly 0 and 1
    return X, Y, [tuple(p) for p in params]
