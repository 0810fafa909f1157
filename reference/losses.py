"""Losses, forward and backward side by side, with torch's reduction semantics.

``forward(a, y)`` takes the network output ``a`` and the target ``y``, both of
shape (batch, out), and returns a scalar. ``backward()`` returns dL/da of shape
(batch, out). ``reduction`` is ``"mean"`` (divide by the number of *elements*,
batch * out, as torch does) or ``"sum"``.
"""
from __future__ import annotations

import numpy as np

REDUCTIONS = ("mean", "sum")


class Loss:
    name = "loss"

    def __init__(self, reduction: str = "mean"):
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction

    def _reduce(self, elementwise: np.ndarray):
        total = elementwise.sum()
        return total / elementwise.size if self.reduction == "mean" else total

    def _scale(self, n: int) -> float:
        return 1.0 / n if self.reduction == "mean" else 1.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reduction={self.reduction!r})"


class MSE(Loss):
    """L = reduce((a - y)²);  dL/da = 2 (a - y) · s, s = 1/(batch·out) for mean, 1 for sum."""

    name = "mse"

    def forward(self, a, y):
        self.diff = a - y
        return self._reduce(self.diff * self.diff)

    def backward(self):
        return (2 * self._scale(self.diff.size)) * self.diff


class BCE(Loss):
    """Binary cross-entropy on probabilities, exactly as ``torch.nn.functional.binary_cross_entropy``.

    L = reduce(-(y·log a + (1 - y)·log(1 - a))), each log clamped at -100 (torch's clamp);
    dL/da = (a - y) / max(a (1 - a), 1e-12) · s (torch's backward clamps the denominator).

    NOTE: the clamps make the loss finite at a = 0 or 1, where the literal formula is not.
    """

    name = "bce"
    LOG_CLAMP = -100.0
    EPS = float(np.float32(1e-12))  # NOTE: torch keeps this clamp as a float32 constant, even in float64

    def forward(self, a, y):
        self.a, self.y = a, y
        with np.errstate(divide="ignore"):
            log_a = np.maximum(np.log(a), self.LOG_CLAMP)
            log_1ma = np.maximum(np.log1p(-a), self.LOG_CLAMP)
        return self._reduce(-(y * log_a + (1 - y) * log_1ma))

    def backward(self):
        a, y = self.a, self.y
        denom = np.maximum(a * (1 - a), self.EPS)
        return (a - y) / denom * self._scale(a.size)


class BCEWithLogits(Loss):
    """Binary cross-entropy on logits z (the output layer's activation must be identity).

    L = reduce(max(z, 0) - z·y + log(1 + exp(-|z|)));  dL/dz = (σ(z) - y) · s.
    """

    name = "bce_with_logits"

    def forward(self, z, y):
        self.z, self.y = z, y
        return self._reduce(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))

    def backward(self):
        z = self.z
        e = np.exp(-np.abs(z))
        sig = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
        return (sig - self.y) * self._scale(z.size)


LOSSES: dict[str, type[Loss]] = {cls.name: cls for cls in (MSE, BCE, BCEWithLogits)}


def loss(name: str, reduction: str = "mean") -> Loss:
    """A fresh loss object by name (``mse``, ``bce``, ``bce_with_logits``)."""
    try:
        cls = LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}: choose one of {', '.join(LOSSES)}") from None
    return cls(reduction)
