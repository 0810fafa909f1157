"""The network in float64 NumPy with torch's semantics: forward values, loss, loss gradient.

The numerics (``rounding``, ``conventions``, ``arbiter``) need the forward values
of a case and the loss at perturbed points. They compute them here, not with the
reference (which is code under test, and mutated by the mutant corpus) and not
with torch (a NumPy pass of a small network is several times cheaper).

Layer l (1-based): ``Z_l = A_{l-1} W_lᵀ + b_l`` of shape (batch, out), ``A_l = f_l(Z_l)``,
``A_0 = X``. Losses follow ``torch.nn.functional``: ``reduction="mean"`` divides by
the number of elements; ``binary_cross_entropy`` clamps each log at -100 and its
backward divides by ``max(a (1 - a), 1e-12)``; ``cross_entropy`` takes the logits
Z_L (log-softmax and the product fused) and its mean divides by the batch.
The loss the code differentiates is ``scale · loss + penalty`` (``objective``).
"""
from __future__ import annotations

import numpy as np

from crosscheck.model.vocabulary import LEAKY_SLOPE

#: torch's BCE backward clamps a (1 - a) at this float32 constant, even in float64.
BCE_EPS = float(np.float32(1e-12))
BCE_LOG_CLAMP = -100.0


def sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) = 1 / (1 + e^(-z)), evaluated as e^(-|z|) only so it never overflows."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax(z) over each row: z - max - log Σ exp(z - max), never overflowing."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def activate(name: str, z: np.ndarray, leaky_slope: float = LEAKY_SLOPE) -> np.ndarray:
    """a = f(z) for an activation name (softmax over each row)."""
    if name == "sigmoid":
        return sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, leaky_slope * z)
    if name == "softmax":
        return np.exp(log_softmax(z))
    return z


def slope(name: str, z: np.ndarray, a: np.ndarray, leaky_slope: float = LEAKY_SLOPE) -> np.ndarray:
    """f'(z) with torch's choice at the kinks (0 for ReLU, the slope for leaky ReLU at z = 0).
    Softmax has no element-wise derivative: its layer's dZ comes from ``loss_gradient``."""
    if name == "sigmoid":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a * a
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, leaky_slope)
    if name == "softmax":
        raise ValueError("softmax has no element-wise derivative: take dZ of its layer from loss_gradient")
    return np.ones_like(z)


def as64(X, params):
    """X and [(W, b), ...] as float64 arrays (b stays None for a layer without bias)."""
    return (np.asarray(X, dtype=np.float64),
            [(np.asarray(W, dtype=np.float64), None if b is None else np.asarray(b, dtype=np.float64))
             for W, b in params])


def forward(network, X, params, *, inject: tuple[str, int, np.ndarray] | None = None):
    """Pre-activations ``Z[1..L]`` and activations ``A[0..L]`` (``Z[0]`` is None, ``A[0]`` is X).

    ``inject = ("Z" or "A", l, delta)`` adds ``delta`` to Z_l or A_l (A_0 = X) on
    the way, so the loss can be evaluated at a perturbed intermediate.
    """
    X, params = as64(X, params)
    if inject is not None and inject[0] == "A" and inject[1] == 0:
        X = X + inject[2]
    Z, A = [None], [X]
    for l, ((W, b), act) in enumerate(zip(params, network.activations), start=1):
        z = A[-1] @ W.T
        if b is not None:
            z = z + b
        if inject is not None and inject[0] == "Z" and inject[1] == l:
            z = z + inject[2]
        a = activate(act, z, network.leaky_slope)
        if inject is not None and inject[0] == "A" and inject[1] == l:
            a = a + inject[2]
        Z.append(z)
        A.append(a)
    return Z, A


def reduction_scale(network, shape: tuple[int, ...]) -> float:
    """s in dL/da = s · (elementwise derivative), for an output of ``shape`` (batch, out):
    scale/(batch · out) for ``mean`` (scale/batch for cross-entropy, one term per example),
    scale/batch for ``batch_mean``, scale for ``sum``."""
    if network.reduction == "sum":
        return network.scale
    if network.reduction == "batch_mean" or network.loss == "cross_entropy":
        return network.scale / shape[0]
    return network.scale / (shape[0] * shape[1])


def penalty(network, params, batch: int) -> float:
    """The L2 terms Σ_l (k_W / 2) ||W_l||² + (k_b / 2) ||b_l||² (``Network.penalties``)."""
    total = 0.0
    for (W, b), (kw, kb) in zip(params, network.penalties(batch)):
        if kw:
            total += kw / 2 * float(np.sum(np.square(W, dtype=np.float64)))
        if kb and b is not None:
            total += kb / 2 * float(np.sum(np.square(b, dtype=np.float64)))
    return total


def objective(network, Z: list, A: list, Y, params) -> float:
    """The loss the code differentiates: ``loss`` of the output (``scale`` included) plus ``penalty``."""
    return loss(network, A[-1], Y, logits=Z[-1]) + penalty(network, params, A[0].shape[0])


def loss(network, out: np.ndarray, Y, *, logits: np.ndarray | None = None) -> float:
    """The scalar loss (times ``scale``) of the output ``out`` (A_L) against Y, torch's definition.
    Cross-entropy uses ``logits`` (Z_L) when given, as torch does, else log(out)."""
    Y = np.asarray(Y, dtype=np.float64)
    if network.loss == "cross_entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            log_a = log_softmax(logits) if logits is not None else np.log(out)
            terms = -np.where(Y != 0, Y * log_a, 0.0).sum(axis=1)
        return float(terms.sum() * reduction_scale(network, out.shape))
    if network.loss == "mse":
        terms = (out - Y) ** 2
    elif network.loss == "bce":
        with np.errstate(divide="ignore", invalid="ignore"):
            log_a = np.maximum(np.log(out), BCE_LOG_CLAMP)
            log_1ma = np.maximum(np.log1p(-out), BCE_LOG_CLAMP)
        terms = -(Y * log_a + (1 - Y) * log_1ma)
    else:  # bce_with_logits on z = out
        terms = np.maximum(out, 0) - out * Y + np.log1p(np.exp(-np.abs(out)))
    return float(terms.sum() * reduction_scale(network, terms.shape))


def loss_gradient(network, out: np.ndarray, Y) -> np.ndarray:
    """dL/dA_L of shape (batch, out), torch's backward (BCE clamps a (1 - a) at 1e-12);
    for cross-entropy dL/dZ_L = s (a - y), the fused gradient at the logits."""
    Y = np.asarray(Y, dtype=np.float64)
    s = reduction_scale(network, out.shape)
    if network.loss == "cross_entropy":
        return s * (out - Y)
    if network.loss == "mse":
        return 2 * s * (out - Y)
    if network.loss == "bce":
        return s * (out - Y) / np.maximum(out * (1 - out), BCE_EPS)
    return s * (sigmoid(out) - Y)
