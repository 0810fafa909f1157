"""Losses, forward and backward side by side, with torch's reduction semantics.

``forward(a, y)`` takes the network output ``a`` and the target ``y``, both of
shape (batch, out), and returns a scalar. ``backward()`` returns dL/da of shape
(batch, out). ``reduction`` is ``"mean"`` (divide by the number of *elements*,
batch * out, as torch does), ``"sum"``, or ``"batch_mean"`` (sum over the outputs,
mean over the batch: divide by the batch). ``scale`` multiplies the loss and so
its gradient: 0.5 with MSE's ``sum`` is the half squared error ½ Σ (a - y)².
"""
from __future__ import annotations

import numpy as np

REDUCTIONS = ("mean", "sum", "batch_mean")


class Loss:
    name = "loss"

    def __init__(self, reduction: str = "mean", scale: float = 1.0):
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale!r}")
        self.reduction, self.scale = reduction, float(scale)

    def _reduce(self, elementwise: np.ndarray):
        """scale · (Σ terms) / n, n the count ``_scale`` divides by."""
        return elementwise.sum() * self._scale(elementwise.shape)

    def _scale(self, shape: tuple[int, ...]) -> float:
        """s in dL/da = s · (the derivative of one term): scale / (batch · out) for mean,
        scale / batch for batch_mean, scale for sum."""
        if self.reduction == "sum":
            return self.scale
        n = shape[0] if self.reduction == "batch_mean" else int(np.prod(shape))
        return self.scale / n

    def __repr__(self) -> str:
        scale = f", scale={self.scale!r}" if self.scale != 1.0 else ""
        return f"{type(self).__name__}(reduction={self.reduction!r}{scale})"


class MSE(Loss):
    """L = reduce((a - y)²);  dL/da = 2 (a - y) · s, s = 1/(batch·out) for mean, 1 for sum."""

    name = "mse"

    def forward(self, a, y):
        self.diff = a - y
        return self._reduce(self.diff * self.diff)

    def backward(self):
        return (2 * self._scale(self.diff.shape)) * self.diff


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
        return (a - y) / denom * self._scale(a.shape)


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
        return (sig - self.y) * self._scale(z.shape)


class CrossEntropy(Loss):
    """Categorical cross-entropy of a softmax output ``a`` against one-hot rows ``y``, (batch, classes).

    L = reduce_i(-Σ_j y_ij log a_ij), one term per example: ``mean`` and ``batch_mean`` divide by
    the batch (torch's ``F.cross_entropy`` with probability targets), ``sum`` does not;
    dL/dz = s (a - y), the softmax Jacobian and dL/da = -y / a multiplied out: the network's
    backward starts at dZ of the output layer (``MLP``) and never forms dL/da, which is
    infinite where a probability underflows to 0.

    NOTE: ``forward_log`` takes the softmax's log-probabilities (``activations.Softmax.log_a``),
    finite where a probability underflows to 0; ``forward(a, y)`` takes the probabilities.
    """

    name = "cross_entropy"

    def forward(self, a, y):
        with np.errstate(divide="ignore"):
            return self.forward_log(np.log(a), y)

    def forward_log(self, log_a, y):
        self.log_a, self.y = log_a, y
        with np.errstate(invalid="ignore"):  # 0 · log 0 is 0: a class the example is not
            per_example = -np.where(y != 0, y * log_a, 0.0).sum(axis=1)  # (batch,)
        return per_example.sum() * self._scale(per_example.shape)

    def backward(self):
        """dL/dz of the output layer's pre-activation, (batch, classes)."""
        return (np.exp(self.log_a) - self.y) * self._scale(self.log_a.shape[:1])


LOSSES: dict[str, type[Loss]] = {cls.name: cls for cls in (MSE, BCE, BCEWithLogits, CrossEntropy)}


def loss(name: str, reduction: str = "mean", scale: float = 1.0) -> Loss:
    """A fresh loss object by name (``mse``, ``bce``, ``bce_with_logits``, ``cross_entropy``)."""
    try:
        cls = LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}: choose one of {', '.join(LOSSES)}") from None
    return cls(reduction, scale)
