"""L2 regularization: a term of the loss on the parameters, forward and backward side by side."""
from __future__ import annotations

from typing import Sequence

import numpy as np


class L2:
    """The L2 term on the weights (and, if asked, the biases) of every layer.

    Forward:  P = Σ_l (k_l / 2) ||W_l||² + Σ_l (kb_l / 2) ||b_l||²   (a scalar, added to the loss)
    Backward: dW_l += k_l W_l,  db_l += kb_l b_l                     (the shapes of W_l and b_l)

    ``l2`` and ``l2_bias`` are one coefficient for every layer or a list with one per layer;
    with ``by_batch`` each is divided by the batch, ``(l2 / (2 m)) ||W||²`` (the course convention).
    """

    def __init__(self, l2: float | Sequence[float] = 0.0, l2_bias: float | Sequence[float] = 0.0,
                 by_batch: bool = False):
        self.l2, self.l2_bias, self.by_batch = l2, l2_bias, bool(by_batch)

    def _coefficients(self, depth: int, batch: int) -> list[tuple[float, float]]:
        def each(v):
            values = list(v) if isinstance(v, (list, tuple)) else [v] * depth
            if len(values) != depth:
                raise ValueError(f"L2 needs one coefficient per layer ({depth}), got {len(values)}: {values}")
            return values
        c = 1.0 / batch if self.by_batch else 1.0
        return [(c * kw, c * kb) for kw, kb in zip(each(self.l2), each(self.l2_bias))]

    def forward(self, params, batch: int) -> float:
        """P for ``params`` = [(W1, b1), ...] (b may be None) and the batch size."""
        self.params = params
        self.k = self._coefficients(len(params), batch)
        total = 0.0
        for (W, b), (kw, kb) in zip(params, self.k):
            total += kw / 2 * float(np.sum(W * W))
            if b is not None and kb:
                total += kb / 2 * float(np.sum(b * b))
        return total

    def backward(self, grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``grads`` with k W added to each dW and kb b to each db (new arrays, by name)."""
        out = dict(grads)
        for l, ((W, b), (kw, kb)) in enumerate(zip(self.params, self.k), start=1):
            if kw:
                out[f"W{l}"] = grads[f"W{l}"] + kw * W
            if b is not None and kb:
                out[f"b{l}"] = grads[f"b{l}"] + kb * b
        return out

    def __repr__(self) -> str:
        return f"L2(l2={self.l2!r}, l2_bias={self.l2_bias!r}, by_batch={self.by_batch!r})"
