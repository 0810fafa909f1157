"""A small training loop: forward, loss, backward, update, repeat."""
from __future__ import annotations

from typing import Callable

from .losses import Loss, loss as make_loss
from .network import MLP
from .optimizers import SGD


def train_step(net: MLP, X, Y, loss: Loss, optimizer) -> float:
    """One full-batch step: forward, loss, backward, then ``optimizer.step`` on
    the parameters in the order W1, b1, W2, b2, ...; returns the loss *before* the update."""
    value, grads = net.gradients(X, Y, loss)
    params = [p for pair in net.params for p in pair]
    names = [n for l in range(1, len(net.layers) + 1) for n in (f"W{l}", f"b{l}")]
    optimizer.step(params, [grads[n] for n in names])
    return value


def train(net: MLP, X, Y, *, loss: str | Loss = "bce", reduction: str = "mean", optimizer=None,
          steps: int = 1000, callback: Callable[[int, float], None] | None = None) -> list[float]:
    """Full-batch training for ``steps`` steps; returns the loss before each step.

    ``optimizer`` is any object with ``step(params, grads)`` (``reference.optimizers``;
    plain SGD with lr 0.5 if not given). ``callback(step, loss_value)`` is called
    after every step if given (step counts from 0).
    """
    optimizer = optimizer if optimizer is not None else SGD(lr=0.5)
    loss_fn = make_loss(loss, reduction) if isinstance(loss, str) else loss
    history = []
    for step in range(steps):
        value = train_step(net, X, Y, loss_fn, optimizer)
        history.append(value)
        if callback is not None:
            callback(step, value)
    return history
