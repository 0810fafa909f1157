"""A case is everything needed to rebuild one comparison exactly.

``Network`` is the architecture (sizes, activations, loss, reduction); ``Case``
adds batch, dtype, a data regime and a seed. The arrays (X, Y, params) are a pure
function of the case, so a case printed in a report replays bit for bit.
Hypothesis draws cases (see ``strategies``) and shrinks them field by field.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, replace

import numpy as np

from crosscheck.model.vocabulary import (ACTIVATIONS, CLASSES, DTYPES, LEAKY_SLOPE, LOSS_OPTIONS, LOSSES,
                                         OUTPUT_ACTIVATIONS, REDUCTIONS, param_names)


def per_layer(value, depth: int) -> tuple[float, ...]:
    """An L2 coefficient as one float per layer: a number for every layer, a list as given;
    ``()`` when every coefficient is 0 (no penalty)."""
    values = tuple(float(v) for v in value) if isinstance(value, (list, tuple)) else (float(value),) * depth
    return values if any(values) else ()


@dataclass(frozen=True)
class Network:
    """sizes = (in, h1, ..., out); one activation per dense layer; the loss the code differentiates.

    The loss is ``scale · loss(A_L, Y) + Σ_l c (l2_l / 2) ||W_l||² + Σ_l c (l2_bias_l / 2) ||b_l||²``
    with ``c = 1 / batch`` if ``l2_by_batch`` else 1 (``penalties``). ``l2`` and ``l2_bias`` hold
    one coefficient per layer, or ``()`` for none. ``bias=False``: the layers have no biases.
    """

    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str = "mse"
    reduction: str = "mean"
    scale: float = 1.0
    l2: tuple[float, ...] = ()
    l2_bias: tuple[float, ...] = ()
    l2_by_batch: bool = False
    bias: bool = True
    leaky_slope: float = LEAKY_SLOPE

    def __post_init__(self):
        object.__setattr__(self, "sizes", tuple(int(n) for n in self.sizes))
        object.__setattr__(self, "activations", tuple(self.activations))
        depth = len(self.activations)
        object.__setattr__(self, "l2", per_layer(self.l2, depth))
        object.__setattr__(self, "l2_bias", per_layer(self.l2_bias, depth))
        object.__setattr__(self, "scale", float(self.scale))
        object.__setattr__(self, "leaky_slope", float(self.leaky_slope))
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
            problems.append(f"reduction must be one of {', '.join(REDUCTIONS)}, got {self.reduction!r}")
        if "softmax" in self.activations[:-1]:
            problems.append("softmax may only be the last activation")
        if self.loss == "cross_entropy" and len(self.sizes) >= 2 and not CLASSES[0] <= self.sizes[-1] <= CLASSES[1]:
            problems.append(f"cross_entropy needs {CLASSES[0]} to {CLASSES[1]} classes, got {self.sizes[-1]} outputs")
        if not (self.scale > 0 and math.isfinite(self.scale)):
            problems.append(f"scale must be a positive number, got {self.scale!r}")
        for name in ("l2", "l2_bias"):
            values = getattr(self, name)
            if values and (len(values) != depth or not all(v >= 0 and math.isfinite(v) for v in values)):
                problems.append(f"{name} must be {depth} numbers >= 0, one per layer, got {list(values)}")
        if self.l2_bias and not self.bias:
            problems.append("l2_bias needs layers with biases (bias=True)")
        if not 0 < self.leaky_slope < 1:
            problems.append(f"leaky_slope must be in (0, 1), got {self.leaky_slope!r}")
        if problems:
            raise ValueError("invalid network: " + "; ".join(problems))

    @property
    def depth(self) -> int:
        return len(self.activations)

    @property
    def fused(self) -> bool:
        """Softmax with cross-entropy: the output layer's dZ is (a - y) · s, dA_L is never formed."""
        return self.loss == "cross_entropy"

    def options(self) -> dict:
        """The loss options that differ from their defaults, as the declaration spells them."""
        out = {}
        if self.scale != 1.0:
            out["scale"] = self.scale
        for name in ("l2", "l2_bias"):
            values = getattr(self, name)
            if values:
                out[name] = values[0] if len(set(values)) == 1 else list(values)
        if self.l2_by_batch:
            out["l2_by_batch"] = True
        if not self.bias:
            out["bias"] = False
        if self.leaky_slope != LEAKY_SLOPE:
            out["leaky_slope"] = self.leaky_slope
        return out

    def with_options(self, **options) -> "Network":
        """This network with some loss options replaced (``vocabulary.LOSS_OPTIONS``)."""
        return replace(self, **options)

    def param_names(self) -> list[str]:
        """``W1, b1, ..., WL, bL`` (no ``b`` names without biases)."""
        return param_names(self.depth, self.bias)

    def penalties(self, batch: int) -> list[tuple[float, float]]:
        """(k_W, k_b) of each layer: the L2 terms add ``k_W W`` to dW and ``k_b b`` to db
        (``k = l2`` or ``l2 / batch`` with ``l2_by_batch``), and ``(k / 2) ||.||²`` to the loss."""
        c = 1.0 / batch if self.l2_by_batch else 1.0
        w = self.l2 or (0.0,) * self.depth
        b = self.l2_bias or (0.0,) * self.depth
        return [(c * kw, c * kb) for kw, kb in zip(w, b)]

    def describe(self) -> str:
        extra = "".join(f", {k}={v}" for k, v in self.options().items())
        return f"{'-'.join(map(str, self.sizes))} [{', '.join(self.activations)}] {self.loss}/{self.reduction}{extra}"


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
        """The case as JSON values; the loss options appear only where they differ from their defaults."""
        n = self.network
        return {"sizes": list(n.sizes), "activations": list(n.activations), "loss": n.loss,
                "reduction": n.reduction, **n.options(), "batch": self.batch, "dtype": self.dtype,
                "regime": self.regime, "seed": self.seed}

    @classmethod
    def from_dict(cls, d: dict) -> "Case":
        try:
            options = {k: d[k] for k in LOSS_OPTIONS if k in d}
            net = Network(tuple(d["sizes"]), tuple(d["activations"]), d.get("loss", "mse"),
                          d.get("reduction", "mean"), **options)
            return cls(net, int(d["batch"]), d.get("dtype", "float64"), d.get("regime", "normal"),
                       int(d.get("seed", 0)))
        except KeyError as e:
            raise ValueError(f"a case needs the field {e.args[0]!r}; got fields {sorted(d)}") from None

    def describe(self) -> str:
        return f"{self.network.describe()}, batch {self.batch}, {self.dtype}, {self.regime} data, seed {self.seed}"

    # -- arrays ------------------------------------------------------------------
    def arrays(self) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """(X, Y, params) in the case's dtype, a pure function of the case (see ``_draw``).

        The parameters are views into one array of the case's own (W1, b1, W2, ...), end to end;
        every call returns new arrays."""
        X, Y, flat, params = _draw(self)
        dt = np.dtype(self.dtype)  # the drawn arrays are fresh float64: cast, never shared
        if dt != flat.dtype:
            X, Y, params = X.astype(dt), Y.astype(dt), _views(flat.astype(dt), [W.shape for W, _ in params])
        if not self.network.bias:  # the biases are drawn all the same, so W is the same with or without them
            params = [(W, None) for W, _ in params]
        return X, Y, params


#: The per-thread random generator ``_draw`` resets for each case: making a new one costs several
#: times more than drawing a small case's numbers from it.
_GENERATORS = threading.local()

#: Odd 128-bit constants (the fractional digits of the golden ratio and of the square root of 2)
#: that place each (seed, regime) on PCG64's cycle, and PCG's default 128-bit increment.
_SEED_STEP, _REGIME_STEP = 0x9E3779B97F4A7C15F39CC0605CEDC835, 0x6A09E667F3BCC908B2FB1366EA957D3F
_INCREMENT = 0x5851F42D4C957F2D14057B7EF767814F


def _generator(seed: int, regime: int) -> np.random.Generator:
    """This thread's PCG64 generator, set to the stream of (seed, regime).

    Every case draws from one PCG64 sequence, starting at the state ``seed · a + (regime + 1) · b``
    (mod 2^128, ``a`` and ``b`` the odd constants above): distinct cases start far apart on the
    generator's cycle, so their numbers do not overlap, and no case starts at the state 0. Setting
    the state is public PCG64 API, and about a quarter of the cost of seeding a new generator
    through a ``SeedSequence``.
    """
    g = getattr(_GENERATORS, "g", None)
    if g is None:
        g = _GENERATORS.g = np.random.Generator(np.random.PCG64(0))
    g.bit_generator.state = {"bit_generator": "PCG64",
                             "state": {"state": (int(seed) * _SEED_STEP + (regime + 1) * _REGIME_STEP) % (1 << 128),
                                       "inc": _INCREMENT},
                             "has_uint32": 0, "uinteger": 0}
    return g


def _draw(case: Case):
    """(X, Y, flat, params) of a case, in float64: the parameters end to end in ``flat``
    (W1 as (out, in) row by row, then b1, W2, ...), ``params`` the (W, b) views into it.

    Every number comes from the case's generator (``_generator``), in this order: the
    parameters, uniform in [-sqrt(3 / in), sqrt(3 / in)) for W (unit-variance pre-activations
    for unit-variance inputs) and in [-0.5, 0.5) for b, in one call; then X, standard normal;
    then what the regime needs; then Y.
    """
    net = case.network
    sizes, batch, regime = net.sizes, case.batch, case.regime
    rng = _generator(case.seed, REGIMES.index(regime))
    shapes = list(zip(sizes[1:], sizes))  # (out, in) of each layer
    flat = rng.random(sum(out * (n_in + 1) for out, n_in in shapes))
    flat -= 0.5  # b in [-0.5, 0.5); W scaled to its range below
    views = _views(flat, shapes)  # (W, b) of each layer
    for W, _ in views:
        W *= 2.0 * math.sqrt(3.0 / W.shape[1])
    X = rng.standard_normal((batch, sizes[0]))

    if regime == "relu-gap":
        # Positive inputs but mostly negative pre-activations: a ReLU mask built
        # from the layer's input instead of its pre-activation differs from the
        # right one almost everywhere.
        X = np.abs(X) + 0.1
        for _, b in views:
            np.abs(b, out=b)
            b *= -1.0
            b -= 0.25
    elif regime == "zeros":
        # Small integers: pre-activations hit exactly 0 (the ReLU kink) and
        # some weights, inputs and whole units are exactly 0.
        X = np.floor(rng.random(X.shape) * 3.0) - 1.0
        flat[:] = np.floor(rng.random(flat.size) * 3.0) - 1.0
    elif regime == "saturated":
        flat *= 60.0  # |z| well past 40: sigmoid and tanh flat, BCE at its clamps
    elif regime == "tiny":
        X *= 1e-4
        for W, b in views:
            W *= 1e-2
            b *= 1e-4
    elif regime == "large":
        X *= 1e3
    elif regime == "clamp":
        # |z| of 40 puts a (1 - a) below torch's 1e-12 clamp; 1000 makes a exactly 0 or 1
        W, b = views[-1]
        factor = np.where(rng.random(W.shape[0]) < 0.25, 1000.0, 40.0)
        W *= factor[:, None]
        b *= factor
    elif regime == "kinks":
        # Exact zeros amid float data: a zero row of W with a zero bias is a unit at z = 0
        # for every sample; zero input columns and zero weights and biases make more terms vanish.
        X[:, rng.random(X.shape[1]) < 0.3] = 0.0
        flat[rng.random(flat.size) < 0.2] = 0.0
        for W, b in views:
            dead = rng.random(W.shape[0]) < 0.3
            W[dead] = 0.0
            b[dead] = 0.0

    out = sizes[-1]
    if net.loss == "cross_entropy":
        Y = np.eye(out)[rng.integers(0, out, batch)]  # one-hot rows: one class per example
    elif net.loss == "mse":
        Y = rng.standard_normal((batch, out))
        if regime == "large":
            Y *= 1e3
    else:
        Y = rng.random((batch, out))
        if regime in ("clamp", "saturated", "zeros", "kinks") or rng.random() < 0.5:
            Y = np.round(Y)  # hard labels at exactly 0 and 1
    return X, Y, flat, views


def _views(flat: np.ndarray, shapes) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W, b) of each layer of (out, in) ``shapes``, views into ``flat`` (W row by row, then b)."""
    views, at = [], 0
    for out, n_in in shapes:
        end = at + out * n_in
        views.append((flat[at:end].reshape(out, n_in), flat[end:end + out]))
        at = end + out
    return views
