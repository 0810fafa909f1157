"""Gradient-descent optimizers with ``torch.optim`` semantics.

Each optimizer updates a list of parameter arrays in place from a list of
gradient arrays of the same shapes (``step(params, grads)``).
"""
from __future__ import annotations

import numpy as np


class SGD:
    """Plain stochastic gradient descent:  θ ← θ - lr · g."""

    def __init__(self, lr: float = 0.1):
        if lr <= 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        self.lr = lr

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        for p, g in zip(params, grads):
            p -= self.lr * g
