"""A correct backprop written the way tutorials write it, unlike the reference: a benchmark target.

Column layout (features x samples), ``Z = W A + b[:, None]``; the naive sigmoid
``1 / (1 + exp(-z))``; ``f'`` of ReLU and leaky ReLU taken as 1 at z = 0 (``z >= 0``,
another valid subgradient); the sigmoid and BCE derivatives fused into
``dZ = (a - y) / n`` (no clamp: right where torch clamps); every array cast to
the target's dtype first, so a float32 target computes in float32 throughout.
Only the parameter gradients are returned, as audit targets do.
"""
from __future__ import annotations

import numpy as np

LEAKY = 0.01


def _act(name, z):
    if name == "sigmoid":
        with np.errstate(over="ignore"):
            return 1 / (1 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return z * (z > 0)
    if name == "leaky_relu":
        return np.where(z >= 0, z, LEAKY * z)
    return z


def _slope(name, z, a):
    if name == "sigmoid":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a ** 2
    if name == "relu":
        return (z >= 0).astype(z.dtype)
    if name == "leaky_relu":
        return np.where(z >= 0, 1, LEAKY).astype(z.dtype)
    return np.ones_like(z)


def column_gradients(X, Y, params, *, network, dtype="float32"):
    dt = np.dtype(dtype)
    A = [X.T.astype(dt)]
    Ws = [W.astype(dt) for W, _ in params]
    bs = [b.astype(dt).reshape(-1, 1) for _, b in params]
    Zs = []
    for W, b, act in zip(Ws, bs, network.activations):
        Zs.append(W @ A[-1] + b)
        A.append(_act(act, Zs[-1]))
    out, T = A[-1], Y.T.astype(dt)
    n = dt.type(T.size if network.reduction == "mean" else 1)
    if network.loss == "mse":
        dZ = 2 * (out - T) / n * _slope(network.activations[-1], Zs[-1], out)
    elif network.loss == "bce":  # sigmoid output: the fused derivative
        dZ = (out - T) / n
    else:  # bce_with_logits: z is the output
        with np.errstate(over="ignore"):
            dZ = (1 / (1 + np.exp(-out)) - T) / n
    grads = [None] * len(Ws)
    for l in range(len(Ws) - 1, -1, -1):
        grads[l] = (dZ @ A[l].T, dZ.sum(axis=1))
        if l:
            dZ = (Ws[l].T @ dZ) * _slope(network.activations[l - 1], Zs[l - 1], A[l])
    return grads


def column_target(dtype: str = "float32"):
    """The column-layout code as a crosscheck Target covering every network, judged at ``dtype``."""
    from crosscheck.model.target import Family, Target

    def fn(X, Y, params, *, network):
        return column_gradients(X, Y, params, network=network, dtype=dtype)

    return Target(f"column_layout_{dtype}", fn, Family(dtype=dtype), takes_network=True,
                  file="benchmarks/column_layout.py")
