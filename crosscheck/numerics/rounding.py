"""A first-order bound on the rounding error of every gradient of a case (running error analysis).

A candidate computing at precision d (unit u = eps_d) cannot be expected to match
the float64 truth better than the rounding of its own arithmetic allows. This
module bounds that error element by element from the case itself, with the
classic rules (Higham, *Accuracy and Stability of Numerical Algorithms*, ch. 3):

- a sum of n products is off by at most ``(n + 2) u Σ|terms|`` plus the propagated
  errors of its inputs: ``E(X Wᵀ + b) = E(X) |W|ᵀ + (n + 2) u (|X| |W|ᵀ + |b|)``;
- an element-wise function is off by ``|f'| E(z) + c u |f(z)|``;
- a derivative computed from a rounded activation is off by the rounding of its
  formula's terms: ``1 - a²`` by ``2|a| E(a) + 2u (1 + a²)``, ``a (1 - a)`` by
  ``|1 - 2a| E(a) + 2u |a| (1 + |a|)``. This is where a saturated unit gets room:
  ``1 - a²`` of an ``a`` rounded next to 1 is mostly rounding.

Forward:  ``E(Z_l) = E(A_{l-1}) |W_l|ᵀ + (n_l + 2) u (|A_{l-1}| |W_l|ᵀ + |b_l|)``,
          ``E(A_l) = max|f'| on [Z_l ± E(Z_l)] · E(Z_l) + c u |A_l|``.
Softmax:  ``E(a_i) = a_i (E(z_i) + Σ_j a_j E(z_j)) + (n + 2c) u a_i`` (d log a_i = dz_i - Σ_j a_j dz_j).
Loss:     ``E(dA_L)`` from the loss formula (MSE ``2 s (a - y)``, BCE ``s (a - y) / max(a (1 - a), ε)``,
          BCE with logits ``s (σ(z) - y)``); cross-entropy gives dZ_L = s (a - y) directly:
          ``E(dZ_L) = s (E(a) + u (|a| + |y|)) + 3u |dZ_L|``. s includes the declared scale.
Backward: ``E(dZ) = |f'| E(dA) + |dA| E(f') + 2u |dZ|``,
          ``E(dW) = E(dZ)ᵀ |A| + |dZ|ᵀ E(A) + (batch + 2) u |dZ|ᵀ |A|``,
          ``E(db) = Σ E(dZ) + (batch + 2) u Σ |dZ|``,
          ``E(dA_{l-1}) = E(dZ) |W| + (out + 2) u |dZ| |W|``.
L2:       dW + k W adds ``2u (|dW| + 2 k |W|)`` (the product, the sum, k = l2 / batch rounded).

The bound is worst case over summation orders and formulas (any correct code
within it), first order in u, and needs only NumPy on arrays of the case's size:
no extra torch pass. ``E(Z)`` also says which pre-activations may land on either
side of a ReLU kink in the candidate's arithmetic (``conventions``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from crosscheck.numerics import forward64

EPS = {"float32": float(np.finfo(np.float32).eps), "float64": float(np.finfo(np.float64).eps)}
#: Absolute error of one operation near the underflow threshold (code may flush subnormals to 0).
TINY = {"float32": float(np.finfo(np.float32).tiny), "float64": float(np.finfo(np.float64).tiny)}
#: Ulps of error of exp, tanh and the sigmoid formulas of common libraries (a generous bound).
FUNCTION_ULPS = 4.0


@dataclass
class Rounding:
    """Bounds for one case at one precision: ``bounds[name]`` per gradient, ``Ez[l]`` per pre-activation."""

    dtype: str
    bounds: dict[str, np.ndarray]
    Ez: list  # Ez[l], l = 1..L (Ez[0] is None)
    Z: list  # the float64 forward values the bound was computed at (Z[0] is None, A[0] = X)
    A: list
    weights: list = field(default_factory=list)  # W_l in float64
    biases: list = field(default_factory=list)  # b_l in float64 (None without biases)


def _max_slope(act: str, z: np.ndarray, a: np.ndarray, ez: np.ndarray,
               leaky_slope: float = forward64.LEAKY_SLOPE) -> np.ndarray:
    """The largest |f'| on [z - ez, z + ez] (first order: f' at z plus the interval times max|f''| ≤ 1)."""
    if act in ("relu", "leaky_relu"):
        near = np.abs(z) <= ez
        return np.where(near | (z > 0), 1.0, 0.0 if act == "relu" else leaky_slope)
    if act == "identity":
        return np.ones_like(z)
    return np.minimum(forward64.slope(act, z, a) + ez, 1.0)


def _activation_error(act: str, z, a, ez, u: float, leaky_slope: float) -> np.ndarray:
    """E(A_l) from E(Z_l): the propagated error plus the activation's own rounding."""
    if act == "softmax":
        # d log a_i = dz_i - Σ_j a_j dz_j; exp, the sum of n terms and the quotient add (n + 2c) u
        return a * (ez + (a * ez).sum(axis=1, keepdims=True)) + (z.shape[1] + 2 * FUNCTION_ULPS) * u * a
    own = 0.0 if act in ("identity", "relu") else (u if act == "leaky_relu" else FUNCTION_ULPS * u)
    return _max_slope(act, z, a, ez, leaky_slope) * ez + own * np.abs(a)


def bounds(network, X, Y, params, grads: dict[str, np.ndarray], dtype: str, *,
           update_lr: float | None = None) -> Rounding:
    """First-order rounding bounds of every gradient a candidate at ``dtype`` computes.

    ``grads`` are the true (float64) gradients by name, with the intermediates
    ``dZ``/``dA``; ``update_lr`` adds the rounding of recovering a gradient from one
    SGD step, ``(W - (W - lr dW)) / lr``, for targets that return updated parameters.
    """
    u, tiny = EPS[dtype], TINY[dtype]
    X64, P = forward64.as64(X, params)
    Z, A = forward64.forward(network, X64, P)
    L, batch = network.depth, X64.shape[0]
    acts = network.activations
    with np.errstate(all="ignore"):
        EA = [np.zeros_like(X64)]
        Ez: list = [None]
        slope = network.leaky_slope
        for l, ((W, b), act) in enumerate(zip(P, acts), start=1):
            aW = np.abs(W)
            terms = np.abs(A[l - 1]) @ aW.T
            if b is not None:
                terms += np.abs(b)
            ez = EA[l - 1] @ aW.T + (W.shape[1] + 2) * u * terms + tiny
            Ez.append(ez)
            EA.append(_activation_error(act, Z[l], A[l], ez, u, slope) + tiny)

        out, ea, Yd = A[L], EA[L], np.asarray(Y, dtype=np.float64)
        s = forward64.reduction_scale(network, out.shape)
        if network.loss == "cross_entropy":
            # dZ_L = s (a - y): the error of a and of the difference, then of the product by s
            edA = s * (ea + u * (np.abs(out) + np.abs(Yd))) + 3 * u * s * np.abs(out - Yd)
        elif network.loss == "mse":
            edA = 2 * s * ea + 3 * u * 2 * s * (np.abs(out) + np.abs(Yd))
        elif network.loss == "bce":
            d = out * (1 - out)
            dcl = np.maximum(d, forward64.BCE_EPS)
            num = out - Yd
            e_num = ea + u * (np.abs(out) + np.abs(Yd))
            e_d = np.abs(1 - 2 * out) * ea + 2 * u * np.abs(out) * (1 + np.abs(out))
            g = s * np.abs(num) / dcl
            edA = s * (e_num + np.abs(num) * e_d / dcl) / dcl + 3 * u * g
            # NOTE: where the candidate cannot resolve a (1 - a) at all, the first-order bound
            # is not one: its clamped denominator may be anywhere in [ε, d + e_d].
            unresolved = e_d >= 0.25 * dcl
            edA = np.where(unresolved, s * (np.abs(num) + e_num) / forward64.BCE_EPS, edA)
        else:
            sg = forward64.sigmoid(out)
            edA = s * (sg * (1 - sg) * Ez[L] + 3 * u * (sg + np.abs(Yd)))
        if network.scale != 1.0:  # one more product: scale times the derivative
            edA = edA + u * np.abs(forward64.loss_gradient(network, out, Yd))
        edA = edA + tiny

        if (f"dA{L}" not in grads and not network.fused) or f"dZ{L}" not in grads:
            grads = {**grads, **_intermediates(network, Z, A, P, Yd)}
        B: dict[str, np.ndarray] = {}
        for l in range(L, 0, -1):
            W, b = P[l - 1]
            act, a, z = acts[l - 1], A[l], Z[l]
            dZ = np.abs(grads[f"dZ{l}"])
            if network.fused and l == L:
                edZ = edA  # the loss gave dZ_L itself; there is no dA_L
            elif act == "identity":
                edZ = edA
            elif act in ("relu", "leaky_relu"):
                edZ = _max_slope(act, z, a, Ez[l], slope) * edA + u * dZ
            else:
                if act == "sigmoid":
                    fp = a * (1 - a)
                    efp = np.abs(1 - 2 * a) * EA[l] + 2 * u * np.abs(a) * (1 + np.abs(a))
                else:
                    fp = 1 - a * a
                    efp = 2 * np.abs(a) * EA[l] + 2 * u * (1 + a * a)
                edZ = (np.abs(fp) + efp) * edA + np.abs(grads[f"dA{l}"]) * efp + 2 * u * dZ
            edZ = edZ + tiny
            Aprev, eAprev = np.abs(A[l - 1]), EA[l - 1]
            if not (network.fused and l == L):
                B[f"dA{l}"] = edA
            B[f"dZ{l}"] = edZ
            B[f"W{l}"] = edZ.T @ Aprev + dZ.T @ eAprev + (batch + 2) * u * (dZ.T @ Aprev) + tiny
            if b is not None:
                B[f"b{l}"] = edZ.sum(axis=0) + (batch + 2) * u * dZ.sum(axis=0) + tiny
            aW = np.abs(W)
            edA = edZ @ aW + (W.shape[0] + 2) * u * (dZ @ aW) + tiny
        B["dX"] = edA
        for l, ((W, b), (kw, kb)) in enumerate(zip(P, network.penalties(batch)), start=1):
            # the L2 term k W: its product, the sum with the data gradient, and k = l2 / batch rounded
            for name, p, k in ((f"W{l}", W, kw), (f"b{l}", b, kb)):
                if k and p is not None:
                    B[name] = B[name] + 2 * u * (np.abs(grads.get(name, 0.0)) + 2 * k * np.abs(p))
        if update_lr:
            # a gradient recovered from one SGD step: (W - fl(W - lr dW)) / lr
            for l, (W, b) in enumerate(P, start=1):
                for name, p in ((f"W{l}", W), (f"b{l}", b)):
                    if p is None:
                        continue
                    g = np.abs(grads.get(name, 0.0))
                    B[name] = B[name] + 2 * u * (np.abs(p) + update_lr * g) / update_lr
        # bounds are >= 0: a finite sum means every element is finite (one sum for them all first)
        if not np.isfinite(np.concatenate([v.ravel() for v in B.values()]).sum()):
            for k, v in B.items():
                if not np.isfinite(v.sum()):
                    B[k] = np.where(np.isfinite(v), v, np.inf)
    return Rounding(dtype, B, Ez, Z, A, [W for W, _ in P], [b for _, b in P])


def _intermediates(network, Z, A, P, Y) -> dict[str, np.ndarray]:
    """dA_l and dZ_l in float64 NumPy, for a truth computed without them."""
    out = {}
    dA = forward64.loss_gradient(network, A[-1], Y)
    for l in range(network.depth, 0, -1):
        if network.fused and l == network.depth:
            dZ = dA  # cross-entropy's gradient is dZ_L already
        else:
            dZ = dA * forward64.slope(network.activations[l - 1], Z[l], A[l], network.leaky_slope)
            out[f"dA{l}"] = dA
        out[f"dZ{l}"] = dZ
        dA = dZ @ P[l - 1][0]
    return out
