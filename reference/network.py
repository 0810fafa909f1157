"""The multilayer perceptron: a stack of Dense layers, each followed by its activation."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .activations import activation
from .layers import Dense
from .losses import Loss, loss as make_loss

Params = list[tuple[np.ndarray, np.ndarray]]


class MLP:
    """``sizes = [in, h1, ..., out]`` and one activation name per layer.

    Layer l (1-based) computes  Z_l = A_{l-1} W_lᵀ + b_l,  A_l = f_l(Z_l),  A_0 = X.

    ``backward(dA)`` takes dL/dA_L of shape (batch, out) and returns a dict with
    every gradient by name: ``W1, b1, ..., WL, bL`` (same shapes as the
    parameters), ``dZ1, dA1, ..., dZL, dAL`` (batch, width) and ``dX`` (batch, in).
    """

    def __init__(self, sizes: Sequence[int], activations: Sequence[str], params: Params | None = None,
                 *, rng: np.random.Generator | None = None, dtype=np.float64):
        sizes = [int(n) for n in sizes]
        if len(sizes) < 2 or len(activations) != len(sizes) - 1:
            raise ValueError(
                f"MLP needs len(activations) == len(sizes) - 1; got sizes {sizes} and "
                f"{len(activations)} activations {list(activations)}"
            )
        if params is None:
            rng = rng if rng is not None else np.random.default_rng(0)
            self.layers = [Dense.init(n_in, n_out, rng, dtype) for n_in, n_out in zip(sizes, sizes[1:])]
        else:
            if len(params) != len(sizes) - 1:
                raise ValueError(f"MLP with sizes {sizes} needs {len(sizes) - 1} (W, b) pairs, got {len(params)}")
            self.layers = []
            for l, ((W, b), n_in, n_out) in enumerate(zip(params, sizes, sizes[1:]), start=1):
                if W.shape != (n_out, n_in) or b.shape != (n_out,):
                    raise ValueError(
                        f"layer {l}: expected W{l} {(n_out, n_in)} and b{l} {(n_out,)}, got {W.shape} and {b.shape}"
                    )
                self.layers.append(Dense(W, b))
        self.sizes = sizes
        self.activations = [activation(name) for name in activations]

    @property
    def params(self) -> Params:
        return [(layer.W, layer.b) for layer in self.layers]

    def forward(self, X: np.ndarray) -> np.ndarray:
        A = X
        for layer, act in zip(self.layers, self.activations):
            A = act.forward(layer.forward(A))
        return A

    __call__ = forward

    def backward(self, dA: np.ndarray) -> dict[str, np.ndarray]:
        grads: dict[str, np.ndarray] = {}
        for l in range(len(self.layers), 0, -1):
            layer, act = self.layers[l - 1], self.activations[l - 1]
            grads[f"dA{l}"] = dA
            dZ = act.backward(dA)
            grads[f"dZ{l}"] = dZ
            grads[f"W{l}"], grads[f"b{l}"], dA = layer.backward(dZ)
        grads["dX"] = dA
        return grads

    def gradients(self, X: np.ndarray, Y: np.ndarray, loss: Loss | str = "mse",
                  reduction: str = "mean") -> tuple[float, dict[str, np.ndarray]]:
        """Forward, loss and backward in one call: returns (loss value, gradients by name)."""
        loss_fn = make_loss(loss, reduction) if isinstance(loss, str) else loss
        value = loss_fn.forward(self.forward(X), Y)
        return float(value), self.backward(loss_fn.backward())

    def __repr__(self) -> str:
        acts = ", ".join(a.name for a in self.activations)
        return f"MLP({self.sizes}, [{acts}])"
