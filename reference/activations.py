"""Element-wise activations, forward and backward side by side.

Every class follows one shape contract: ``forward(z)`` takes the pre-activation
``z`` of shape (batch, units) and returns ``a`` of the same shape; ``backward(dA)``
takes the upstream gradient dL/da of that shape and returns dL/dz. Each instance
caches only what its backward needs, named by role.
"""
from __future__ import annotations

import numpy as np


class Activation:
    """Base class: ``a = f(z)``, ``dZ = dA * f'(z)``."""

    name = "activation"

    def forward(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dA: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Identity(Activation):
    """a = z;  da/dz = 1."""

    name = "identity"

    def forward(self, z):
        return z

    def backward(self, dA):
        return dA


class Sigmoid(Activation):
    """a = 1 / (1 + exp(-z));  da/dz = a (1 - a).

    NOTE: ``exp(-z)`` overflows for z << 0; the stable form evaluates
    ``exp(-|z|)`` only: a = 1 / (1 + e) where z >= 0 and e / (1 + e) where
    z < 0, with e = exp(-|z|), so |z| > 700 is fine. The second quotient is
    computed only where it is used.
    """

    name = "sigmoid"

    def forward(self, z):
        e = np.exp(-np.abs(z))
        d = 1 + e
        self.a = 1 / d
        np.divide(e, d, out=self.a, where=z < 0)
        return self.a

    def backward(self, dA):
        return dA * self.a * (1 - self.a)


class ReLU(Activation):
    """a = max(z, 0);  da/dz = 1 if z > 0 else 0 (torch's choice at z = 0).

    NOTE: the mask comes from this layer's pre-activation z, never from its input.
    """

    name = "relu"

    def forward(self, z):
        self.mask = z > 0
        return np.maximum(z, 0)  # NaN stays NaN, as in torch; several times faster than np.where

    def backward(self, dA):
        return dA * self.mask


class LeakyReLU(Activation):
    """a = z if z > 0 else slope z;  da/dz = 1 if z > 0 else slope (slope 0.01, torch's default).

    NOTE: for 0 <= slope <= 1, max(z, slope z) is exactly that piecewise form, without
    a branch: many times faster than ``np.where`` on a mask that is true half the time.
    """

    name = "leaky_relu"

    def __init__(self, slope: float = 0.01):
        if not 0 <= slope <= 1:
            raise ValueError(f"LeakyReLU needs 0 <= slope <= 1, got {slope!r}")
        self.slope = float(slope)

    def forward(self, z):
        self.mask = z > 0
        return np.maximum(z, self.slope * z)

    def backward(self, dA):
        dadz = np.maximum(self.mask, self.slope, dtype=dA.dtype)  # 1 where z > 0, slope elsewhere
        return dA * dadz


class Tanh(Activation):
    """a = tanh(z);  da/dz = 1 - a²."""

    name = "tanh"

    def forward(self, z):
        self.a = np.tanh(z)
        return self.a

    def backward(self, dA):
        return dA * (1 - self.a * self.a)


class Softmax(Activation):
    """a_ij = exp(z_ij) / Σ_k exp(z_ik), over the classes of each row (axis 1);
    dZ_ij = a_ij (dA_ij - Σ_k dA_ik a_ik)  (the Jacobian diag(a) - a aᵀ of each row times dA).

    NOTE: exp overflows for large z: shifting each row by its maximum changes nothing
    mathematically and keeps every exponent <= 0. The log-probabilities z - max - log Σ exp
    are kept too: cross-entropy takes them (``losses.CrossEntropy``), so a probability that
    underflows to 0 never meets a log.
    """

    name = "softmax"

    def forward(self, z):
        shifted = z - z.max(axis=1, keepdims=True)
        self.log_a = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.a = np.exp(self.log_a)
        return self.a

    def backward(self, dA):
        a = self.a
        return a * (dA - (dA * a).sum(axis=1, keepdims=True))


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Identity, Sigmoid, ReLU, Tanh, LeakyReLU, Softmax)
}


def activation(name: str, leaky_slope: float = 0.01) -> Activation:
    """A fresh activation object by name (``identity``, ``sigmoid``, ``relu``, ``tanh``, ``leaky_relu``,
    ``softmax``); ``leaky_slope`` is the slope of ``leaky_relu``."""
    if name == "leaky_relu":
        return LeakyReLU(leaky_slope)
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}: choose one of {', '.join(ACTIVATIONS)}"
        ) from None
