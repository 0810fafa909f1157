"""The network in float64 NumPy with torch's semantics: forward values, loss, loss gradient.

The numerics (``rounding``, ``conventions``, ``arbiter``) need the forward values
of a case and the loss at perturbed points. They compute them here, not with the
reference (which is code under test, and mutated by the mutant corpus) and not
with torch (a NumPy pass of a small network is several times cheaper).

Layer l (1-based): ``Z_l = A_{l-1} W_lᵀ + b_l`` of shape (batch, out), ``A_l = f_l(Z_l)``,
``A_0 = X``. Losses follow ``torch.nn.functional``: ``reduction="mean"`` divides by
the number of elements; ``binary_cross_entropy`` clamps each log at -100 and its
backward divides by ``max(a (1 - a), 1e-12)``.
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


#: name -> (f(z), f'(z, a)): each activation's forward and its derivative side by side, torch's choice at
#: the kinks (0 for ReLU, the slope for leaky ReLU at z = 0). A new activation is one more entry.
ACTIVATIONS = {
    "identity": (lambda z: z, lambda z, a: np.ones_like(z)),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z, a: (z > 0).astype(np.float64)),
    "leaky_relu": (lambda z: np.where(z > 0, z, LEAKY_SLOPE * z), lambda z, a: np.where(z > 0, 1.0, LEAKY_SLOPE)),
    "sigmoid": (sigmoid, lambda z, a: a * (1 - a)),
    "tanh": (np.tanh, lambda z, a: 1 - a * a),
}


def activate(name: str, z: np.ndarray) -> np.ndarray:
    """a = f(z) for an activation name."""
    return ACTIVATIONS[name][0](z)


def slope(name: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """f'(z), given a = f(z)."""
    return ACTIVATIONS[name][1](z, a)


def as64(X, params):
    """X and [(W, b), ...] as float64 arrays."""
    return (np.asarray(X, dtype=np.float64),
            [(np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)) for W, b in params])


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
        z = A[-1] @ W.T + b
        if inject is not None and inject[0] == "Z" and inject[1] == l:
            z = z + inject[2]
        a = activate(act, z)
        if inject is not None and inject[0] == "A" and inject[1] == l:
            a = a + inject[2]
        Z.append(z)
        A.append(a)
    return Z, A


def reduction_scale(network, size: int) -> float:
    """s in dL/da = s · (elementwise derivative): 1/size for ``mean``, 1 for ``sum``."""
    return 1.0 / size if network.reduction == "mean" else 1.0


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
}


def loss(network, out: np.ndarray, Y) -> float:
    """The scalar loss of the output ``out`` (A_L) against Y: ``s · Σ terms`` (``reduction_scale``)."""
    terms = LOSSES[network.loss][0](out, np.asarray(Y, dtype=np.float64))
    return float(terms.sum() * reduction_scale(network, terms.size))


def loss_gradient(network, out: np.ndarray, Y) -> np.ndarray:
    """dL/dA_L of shape (batch, out): ``s · d terms / d out``."""
    return reduction_scale(network, out.size) * LOSSES[network.loss][1](out, np.asarray(Y, dtype=np.float64))
