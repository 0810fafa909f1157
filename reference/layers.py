"""The dense layer in torch's layout, forward and backward side by side."""
from __future__ import annotations

import numpy as np


class Dense:
    """Fully connected layer, ``torch.nn.Linear`` layout.

    Forward:  Z = X Wᵀ + b        X (batch, in), W (out, in), b (out,), Z (batch, out)
    Backward: dW = dZᵀ X          (out, in)
              db = Σ_batch dZ     (out,)
              dX = dZ W           (batch, in)

    ``b = None`` is a layer without bias: Z = X Wᵀ, and db is None. With ``input_gradient``
    False, dX is not computed (None), as torch leaves it for an input that does not require
    gradients: the first layer's dX is no parameter's gradient and training never uses it.
    """

    input_gradient: bool = True

    def __init__(self, W: np.ndarray, b: np.ndarray | None):
        if W.ndim != 2 or (b is not None and b.shape != (W.shape[0],)):
            raise ValueError(
                f"Dense needs W of shape (out, in) and b of shape (out,) or None; got W {W.shape}, "
                f"b {None if b is None else b.shape}"
            )
        self.W, self.b = W, b

    @classmethod
    def init(cls, n_in: int, n_out: int, rng: np.random.Generator, dtype=np.float64) -> "Dense":
        """torch.nn.Linear's default: W, b ~ U(-1/sqrt(in), 1/sqrt(in))."""
        bound = 1.0 / np.sqrt(n_in)
        W = rng.uniform(-bound, bound, (n_out, n_in)).astype(dtype)
        b = rng.uniform(-bound, bound, (n_out,)).astype(dtype)
        return cls(W, b)

    def forward(self, X: np.ndarray) -> np.ndarray:
        self.X = X
        Z = X @ self.W.T
        if self.b is not None:
            Z += self.b  # in place: the same sums, one temporary fewer
        return Z

    def backward(self, dZ: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Return (dW, db, dX) for the upstream gradient dZ = dL/dZ (db None without a bias)."""
        if dZ.shape[0] == 1:
            # NOTE: at batch 1, dZᵀ X is an outer product (one product per element, so any
            # method gives the same numbers); OpenBLAS's GEMM with inner dimension 1 takes
            # 3 to 6 times as long as einsum's loop (benchmarks/reference_speed.py)
            dW = np.einsum("bo,bi->oi", dZ, self.X)
        else:
            dW = dZ.T @ self.X
        db = dZ.sum(axis=0) if self.b is not None else None
        dX = dZ @ self.W if self.input_gradient else None
        return dW, db, dX

    def __repr__(self) -> str:
        out, n_in = self.W.shape
        return f"Dense({n_in} -> {out})"
