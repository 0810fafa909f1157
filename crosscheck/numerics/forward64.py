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


def _no_slope(z, a, s=None):
    raise ValueError("softmax has no element-wise derivative: take dZ of its layer from loss_gradient")


#: name -> (f(z, slope), f'(z, a, slope)): each activation's forward and its derivative side by side, torch's
#: choice at the kinks (0 for ReLU, the slope for leaky ReLU at z = 0); ``slope`` is leaky ReLU's, the others
#: ignore it. Softmax normalizes each row; its layer's dZ comes from ``loss_gradient`` (cross-entropy).
#: A new activation is one more entry.
ACTIVATIONS = {
    "identity": (lambda z, s=None: z, lambda z, a, s=None: np.ones_like(z)),
    "relu": (lambda z, s=None: np.maximum(z, 0.0), lambda z, a, s=None: (z > 0).astype(np.float64)),
    "leaky_relu": (lambda z, s=LEAKY_SLOPE: np.where(z > 0, z, s * z), lambda z, a, s=LEAKY_SLOPE: np.where(z > 0, 1.0, s)),
    "sigmoid": (lambda z, s=None: sigmoid(z), lambda z, a, s=None: a * (1 - a)),
    "tanh": (lambda z, s=None: np.tanh(z), lambda z, a, s=None: 1 - a * a),
    "softmax": (lambda z, s=None: np.exp(log_softmax(z)), _no_slope),
}


def activate(name: str, z: np.ndarray, leaky_slope: float = LEAKY_SLOPE) -> np.ndarray:
    """a = f(z) for an activation name (``leaky_slope``: leaky ReLU's slope below 0)."""
    return ACTIVATIONS[name][0](z, leaky_slope)


def slope(name: str, z: np.ndarray, a: np.ndarray, leaky_slope: float = LEAKY_SLOPE) -> np.ndarray:
    """f'(z), given a = f(z)."""
    return ACTIVATIONS[name][1](z, a, leaky_slope)


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


def _bce_terms(out, Y):
    with np.errstate(divide="ignore", invalid="ignore"):
        log_a = np.maximum(np.log(out), BCE_LOG_CLAMP)
        log_1ma = np.maximum(np.log1p(-out), BCE_LOG_CLAMP)
    return -(Y * log_a + (1 - Y) * log_1ma)


#: name -> (elementwise terms of the loss of the output ``out`` against Y, their derivative d term / d out):
#: the loss and its gradient side by side, torch's definitions (BCE clamps each log at -100 and its
#: backward divides by ``max(a (1 - a), 1e-12)``; ``bce_with_logits`` takes the logits z as ``out``).
#: A new loss is one more entry.
LOSSES = {
    "mse": (lambda out, Y: (out - Y) ** 2, lambda out, Y: 2 * (out - Y)),
    "bce": (_bce_terms, lambda out, Y: (out - Y) / np.maximum(out * (1 - out), BCE_EPS)),
    "bce_with_logits": (lambda out, Y: np.maximum(out, 0) - out * Y + np.log1p(np.exp(-np.abs(out))),
                        lambda out, Y: sigmoid(out) - Y),
    # on the softmax output p: the terms -y log p (``loss`` takes log-softmax of the logits instead when it
    # has them); the gradient is the fused dL/dZ_L, p - y, never the dL/dp = -y/p of an unfused backward
    "cross_entropy": (lambda out, Y: -np.where(Y != 0, Y * np.log(np.where(Y != 0, out, 1.0)), 0.0),
                      lambda out, Y: out - Y),
}


def loss(network, out: np.ndarray, Y, *, logits: np.ndarray | None = None) -> float:
    """The scalar loss of the output ``out`` (A_L) against Y: ``s · Σ terms`` (``reduction_scale``, the
    declared scale included). Cross-entropy takes log-softmax of ``logits`` (Z_L) when given, as torch does."""
    Y = np.asarray(Y, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if network.loss == "cross_entropy" and logits is not None:
            terms = -np.where(Y != 0, Y * log_softmax(logits), 0.0)
        else:
            terms = LOSSES[network.loss][0](out, Y)
    return float(terms.sum() * reduction_scale(network, out.shape))


def loss_gradient(network, out: np.ndarray, Y) -> np.ndarray:
    """dL/dA_L of shape (batch, out): ``s · d terms / d out``; for cross-entropy dL/dZ_L = s (a - y),
    the fused gradient at the logits."""
    return reduction_scale(network, out.shape) * LOSSES[network.loss][1](out, np.asarray(Y, dtype=np.float64))
