"""Gradient-descent optimizers with ``torch.optim``'s exact semantics and defaults.

Each optimizer updates a list of parameter arrays in place from a list of
gradient arrays of the same shapes: ``step(params, grads)``. Its state (momentum
buffers, moment estimates, step count) is kept per position in that list, so
pass the same parameters in the same order at every step, as torch.optim does
with its parameter groups.

Notation: θ a parameter, g its gradient, t the step count (1 at the first step),
γ the learning rate, λ the weight decay. Updates are element-wise and keep the
parameters' dtype (float32 parameters are updated in float32).
"""
from __future__ import annotations

import math

import numpy as np


def _check(name: str, value, ok: bool, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not ok:
        raise ValueError(f"invalid {name} {value!r}: {what}")


def _check_betas(betas) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    for i, beta in enumerate(betas):
        _check(f"beta parameter at index {i}", beta, 0.0 <= beta < 1.0, "each beta must be in [0, 1)")
    return float(betas[0]), float(betas[1])


class Optimizer:
    """Shared bookkeeping: the parameters' shapes are fixed by the first step."""

    def __init__(self):
        self.t = 0  # steps taken
        self._shapes: list[tuple] | None = None

    def _begin(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        if len(params) != len(grads):
            raise ValueError(f"step got {len(params)} parameters but {len(grads)} gradients")
        for i, (p, g) in enumerate(zip(params, grads)):
            if np.shape(g) != p.shape:
                raise ValueError(f"gradient {i} has shape {np.shape(g)}, parameter {i} has shape {p.shape}")
        shapes = [p.shape for p in params]
        if self._shapes is None:
            self._shapes = shapes
        elif shapes != self._shapes:
            raise ValueError(f"step got parameters of shapes {shapes}, but the optimizer's state was built "
                             f"for {self._shapes}; pass the same parameters in the same order at every step")
        self.t += 1

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD``::

        g ← g + λ θ                            (weight decay, if λ ≠ 0)
        b ← g                                  (momentum μ ≠ 0, first step: no dampening)
        b ← μ b + (1 - τ) g                    (momentum μ ≠ 0, later steps; τ the dampening)
        g ← g + μ b  if nesterov  else  g ← b  (momentum μ ≠ 0)
        θ ← θ - γ g

    With the defaults (μ = 0) this is plain gradient descent θ ← θ - γ g.
    Nesterov needs μ > 0 and τ = 0, as in torch.
    """

    def __init__(self, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__()
        _check("learning rate", lr, lr >= 0, "the learning rate must be at least 0")
        _check("momentum value", momentum, momentum >= 0, "momentum must be at least 0")
        _check("dampening value", dampening, True, "dampening must be a number")
        _check("weight_decay value", weight_decay, weight_decay >= 0, "weight decay must be at least 0")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        self.lr, self.momentum, self.dampening = float(lr), float(momentum), float(dampening)
        self.weight_decay, self.nesterov = float(weight_decay), bool(nesterov)
        self.buffers: list[np.ndarray | None] = []

    def hyperparameters(self) -> dict:
        return {"lr": self.lr, "momentum": self.momentum, "dampening": self.dampening,
                "weight_decay": self.weight_decay, "nesterov": self.nesterov}

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        self._begin(params, grads)
        if not self.buffers:
            self.buffers = [None] * len(params)
        for i, (p, g) in enumerate(zip(params, grads)):
            g = np.asarray(g, dtype=p.dtype)
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.momentum:
                buf = self.buffers[i]
                if buf is None:
                    buf = self.buffers[i] = g.copy()  # NOTE: torch does not dampen the first step
                else:
                    buf *= self.momentum
                    buf += (1 - self.dampening) * g
                g = g + self.momentum * buf if self.nesterov else buf
            p -= self.lr * g


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (no amsgrad)::

        g ← g + λ θ                                (L2 weight decay, if λ ≠ 0)
        m ← β₁ m + (1 - β₁) g                      (m, v start at 0)
        v ← β₂ v + (1 - β₂) g²
        θ ← θ - γ / (1 - β₁ᵗ) · m / (√v / √(1 - β₂ᵗ) + ε)

    The bias corrections 1 - β₁ᵗ and 1 - β₂ᵗ use the step count t *after*
    incrementing it, so t = 1 at the first step. NOTE: ε is added to the
    bias-corrected √v̂, not to √v. Defaults: γ = 1e-3, β = (0.9, 0.999),
    ε = 1e-8, λ = 0.
    """

    decoupled = False

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__()
        _check("learning rate", lr, lr >= 0, "the learning rate must be at least 0")
        _check("epsilon value", eps, eps >= 0, "eps must be at least 0")
        _check("weight_decay value", weight_decay, weight_decay >= 0, "weight decay must be at least 0")
        self.lr, self.betas, self.eps = float(lr), _check_betas(betas), float(eps)
        self.weight_decay = float(weight_decay)
        self.m: list[np.ndarray] = []
        self.v: list[np.ndarray] = []

    def hyperparameters(self) -> dict:
        return {"lr": self.lr, "betas": self.betas, "eps": self.eps, "weight_decay": self.weight_decay}

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        self._begin(params, grads)
        if not self.m:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        beta1, beta2 = self.betas
        # Python floats, so float32 parameters stay float32 (NumPy scalars would promote them)
        correction1, correction2 = 1 - beta1 ** self.t, 1 - beta2 ** self.t
        step_size = self.lr / correction1
        for p, g, m, v in zip(params, grads, self.m, self.v):
            g = np.asarray(g, dtype=p.dtype)
            if self.weight_decay:
                if self.decoupled:
                    p *= 1 - self.lr * self.weight_decay
                else:
                    g = g + self.weight_decay * p
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            p -= step_size * (m / (np.sqrt(v) / math.sqrt(correction2) + self.eps))


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: Adam with decoupled weight decay::

        θ ← θ (1 - γ λ)                            (decay the parameter, not the gradient)
        m ← β₁ m + (1 - β₁) g;   v ← β₂ v + (1 - β₂) g²
        θ ← θ - γ / (1 - β₁ᵗ) · m / (√v / √(1 - β₂ᵗ) + ε)

    Defaults as torch: γ = 1e-3, β = (0.9, 0.999), ε = 1e-8, λ = 1e-2 (not 0).
    """

    decoupled = True

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(lr, betas, eps, weight_decay)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW}
