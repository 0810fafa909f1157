"""A small training loop: forward, loss, backward, update, repeat."""
from __future__ import annotations

import numpy as np

from .losses import loss as make_loss
from .network import MLP
from .optimizers import SGD


def train(net: MLP, X: np.ndarray, Y: np.ndarray, *, loss: str = "bce", reduction: str = "mean",
          optimizer=None, steps: int = 1000, callback=None) -> list[float]:
    """Full-batch training for ``steps`` steps; returns the loss before each step.

    ``callback(step, loss_value)`` is called after every step if given.
    """
    optimizer = optimizer if optimizer is not None else SGD(lr=0.5)
    loss_fn = make_loss(loss, reduction)
    history = []
    for step in range(steps):
        value, grads = net.gradients(X, Y, loss_fn)
        params = [p for pair in net.params for p in pair]
        names = [n for l in range(1, len(net.layers) + 1) for n in (f"W{l}", f"b{l}")]
        optimizer.step(params, [grads[n] for n in names])
        history.append(value)
        if callback is not None:
            callback(step, value)
    return history
