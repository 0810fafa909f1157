"""The multilayer perceptron: a stack of Dense layers, each followed by its activation."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .activations import Softmax, activation
from .layers import Dense
from .losses import Loss, loss as make_loss
from .penalty import L2

Params = list[tuple[np.ndarray, np.ndarray | None]]


class MLP:
    """``sizes = [in, h1, ..., out]`` and one activation name per layer.

    Layer l (1-based) computes  Z_l = A_{l-1} W_lᵀ + b_l,  A_l = f_l(Z_l),  A_0 = X.

    ``backward(dA)`` takes dL/dA_L of shape (batch, out) and returns a dict with
    every gradient by name: ``W1, b1, ..., WL, bL`` (same shapes as the
    parameters), ``dZ1, dA1, ..., dZL, dAL`` (batch, width) and ``dX`` (batch, in).
    ``backward(dZ=...)`` starts at dL/dZ_L instead (softmax with cross-entropy: no dA_L).
    Parameters ``(W, None)`` are layers without bias (no ``b`` gradients).
    """

    def __init__(self, sizes: Sequence[int], activations: Sequence[str], params: Params | None = None,
                 *, rng: np.random.Generator | None = None, dtype=np.float64, leaky_slope: float = 0.01):
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
                if W.shape != (n_out, n_in) or (b is not None and b.shape != (n_out,)):
                    raise ValueError(f"layer {l}: expected W{l} {(n_out, n_in)} and b{l} {(n_out,)} or None, "
                                     f"got {W.shape} and {None if b is None else b.shape}")
                self.layers.append(Dense(W, b))
        self.sizes = sizes
        self.activations = [activation(name, leaky_slope) for name in activations]

    @property
    def params(self) -> Params:
        return [(layer.W, layer.b) for layer in self.layers]

    def forward(self, X: np.ndarray) -> np.ndarray:
        A = X
        for layer, act in zip(self.layers, self.activations):
            A = act.forward(layer.forward(A))
        return A

    __call__ = forward

    def backward(self, dA: np.ndarray | None = None, *, dZ: np.ndarray | None = None) -> dict[str, np.ndarray]:
        grads: dict[str, np.ndarray] = {}
        for l in range(len(self.layers), 0, -1):
            layer, act = self.layers[l - 1], self.activations[l - 1]
            if dZ is None:
                grads[f"dA{l}"] = dA
                dZ = act.backward(dA)
            grads[f"dZ{l}"] = dZ
            dW, db, dA = layer.backward(dZ)
            grads[f"W{l}"] = dW
            if db is not None:
                grads[f"b{l}"] = db
            dZ = None
        grads["dX"] = dA
        return grads

    def gradients(self, X: np.ndarray, Y: np.ndarray, loss: Loss | str = "mse", reduction: str = "mean",
                  *, scale: float = 1.0, penalty: L2 | None = None) -> tuple[float, dict[str, np.ndarray]]:
        """Forward, loss and backward in one call: returns (loss value, gradients by name).

        The loss is ``scale · loss(A_L, Y)`` plus the ``penalty`` (L2) if given. Softmax with
        cross-entropy is fused: the loss takes the softmax's log-probabilities, and backward
        starts at dZ_L = s (a - y)."""
        loss_fn = make_loss(loss, reduction, scale) if isinstance(loss, str) else loss
        out = self.forward(X)
        if loss_fn.name == "cross_entropy":  # the loss itself, or a wrapper of it (diagnosis.pieces)
            last = self.activations[-1]
            if not isinstance(last, Softmax):
                raise ValueError(f"cross_entropy needs a softmax output layer, got {last.name}")
            value = loss_fn.forward_log(last.log_a, Y)
            grads = self.backward(dZ=loss_fn.backward())
        else:
            value = loss_fn.forward(out, Y)
            grads = self.backward(loss_fn.backward())
        if penalty is not None:
            value += penalty.forward(self.params, X.shape[0])
            grads = penalty.backward(grads)
        return float(value), grads

    def __repr__(self) -> str:
        acts = ", ".join(a.name for a in self.activations)
        return f"MLP({self.sizes}, [{acts}])"
