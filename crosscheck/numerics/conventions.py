"""Conventions that are not bugs: the range of gradients other valid code may return.

Two places where correct code may differ from torch by more than rounding
(``shared/bug-taxonomy.md``, "Conventions that are not bugs"):

1. **ReLU and leaky ReLU at z = 0.** torch takes f'(0) = 0 (ReLU) or the slope
   (leaky ReLU); every value in between the one-sided derivatives, [0, 1] or
   [0.01, 1], is a valid subgradient. A pre-activation counts as 0 when it is 0 up
   to the rounding the candidate may make computing it (``rounding``'s E(Z)):
   then the candidate's z may even lie on the other side of the kink.
2. **torch's BCE clamp.** torch's backward divides by ``max(a (1 - a), 1e-12)``;
   where the clamp is active (a saturated output), code without the clamp, or
   with the sigmoid and BCE derivatives fused into ``s (a - y)``, is right too.
3. **Clipped predictions.** Code that clips a BCE or cross-entropy prediction to
   [ε, 1 - ε] before its gradient (ε = 1e-7 is common) is a stability choice like
   torch's clamp: for every ε up to ``CLIP_EPS``, the gradient at outputs within ε
   of 0 or 1 lies between torch's and the one clipped at ``CLIP_EPS`` (it moves
   monotonically with ε), for the BCE formula s (a_c - y) / (a_c (1 - a_c)) and for
   the fused s (a_c - y) alike.

``envelope`` propagates these choices backwards with interval arithmetic: each
ambiguous local derivative is the interval of its valid values, products and
sums of intervals are bounded in midpoint-radius form (``mid ± rad``:
``[mid ± rad] W = mid W ± rad |W|``). The result holds, for every gradient
element, an interval that contains its value under every combination of
choices. It is sound (never too narrow) and computed only for cases that have
such a point and a tensor that is outside its rounding budget.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from crosscheck.numerics import forward64
from crosscheck.numerics.rounding import EPS, Rounding

#: A pre-activation is "at the kink" when |z| is at most this many times its rounding bound.
KINK_MARGIN = 2.0
#: The largest ε of a clip of predictions to [ε, 1 - ε] accepted as a convention.
CLIP_EPS = 1e-6


@dataclass
class Envelope:
    """``lo[name] <= valid gradient <= hi[name]``, and which conventions made the range."""

    lo: dict[str, np.ndarray]
    hi: dict[str, np.ndarray]
    kinks: dict[int, tuple[int, int]] = field(default_factory=dict)  # layer -> (exact zeros, within rounding)
    clamped: int = 0  # BCE outputs where torch's clamp is active
    clipped: int = 0  # BCE or cross-entropy outputs within CLIP_EPS of 0 or 1
    loss: str = "bce"

    def describe(self) -> str:
        """What the range allows, as a clause for a note."""
        parts = []
        for l, (exact, near) in sorted(self.kinks.items()):
            what = []
            if exact:
                what.append(f"{exact} exactly 0")
            if near:
                what.append(f"{near} 0 within rounding")
            parts.append(f"layer {l}: {' and '.join(what)}")
        out = []
        if parts:
            out.append("another valid subgradient of the activation at z = 0 (" + "; ".join(parts) + ")")
        if self.clamped:
            out.append(f"BCE without torch's clamp of a(1 - a) at 1e-12 ({self.clamped} saturated outputs)")
        if self.clipped:
            name = "cross-entropy" if self.loss == "cross_entropy" else "BCE"
            out.append(f"a {name} gradient at predictions clipped to [eps, 1 - eps] for an eps up to {CLIP_EPS:g} "
                       f"({self.clipped} outputs within {CLIP_EPS:g} of 0 or 1)")
        return " and ".join(out)


def _hull(lo, hi, other):
    return np.minimum(lo, other), np.maximum(hi, other)


def _times(lo, hi, dlo, dhi):
    """[lo, hi] · [dlo, dhi] element-wise (the derivatives are never negative)."""
    p = (lo * dlo, lo * dhi, hi * dlo, hi * dhi)
    return np.minimum.reduce(p), np.maximum.reduce(p)


def envelope(network, Y, rounding: Rounding) -> Envelope | None:
    """The range of valid gradients of a case, or None when torch's value is the only one.

    ``rounding`` carries the float64 forward values and the candidate's E(Z).
    """
    Z, A, Ez = rounding.Z, rounding.A, rounding.Ez
    L, acts = network.depth, network.activations
    rel64 = EPS["float64"] / EPS[rounding.dtype]
    ambiguous: dict[int, np.ndarray] = {}
    kinks: dict[int, tuple[int, int]] = {}
    for l in range(1, L + 1):
        if acts[l - 1] not in ("relu", "leaky_relu"):
            continue
        near = np.abs(Z[l]) <= KINK_MARGIN * (1 + rel64) * Ez[l]
        if near.any():
            ambiguous[l] = near
            exact = int(np.count_nonzero(Z[l][near] == 0))
            kinks[l] = (exact, int(near.sum()) - exact)
    out, Yd = A[L], np.asarray(Y, dtype=np.float64)
    clamp = np.zeros(out.shape, bool)
    if network.loss == "bce":
        with np.errstate(invalid="ignore"):
            clamp = out * (1 - out) < forward64.BCE_EPS
    clip = np.zeros(out.shape, bool)
    if network.loss in ("bce", "cross_entropy"):
        with np.errstate(invalid="ignore"):
            clip = (out < CLIP_EPS) | (out > 1 - CLIP_EPS)
    if not ambiguous and not clamp.any() and not clip.any():
        return None

    lo: dict[str, np.ndarray] = {}
    hi: dict[str, np.ndarray] = {}
    with np.errstate(all="ignore"):
        g = forward64.loss_gradient(network, out, Yd)
        glo, ghi = g.copy(), g.copy()
        s = forward64.reduction_scale(network, out.shape)
        if clamp.any():
            d = out * (1 - out)
            free = np.where(clamp & (d > 0), s * (out - Yd) / np.where(d > 0, d, 1.0), g)
            glo, ghi = _hull(glo, ghi, free)
        fused_clip = None
        if clip.any():
            c = np.clip(out, CLIP_EPS, 1 - CLIP_EPS)
            fused_clip = np.where(clip, s * (c - Yd), g)  # s (a_c - y): cross-entropy's dZ_L, or BCE fused
            if network.loss == "bce":
                glo, ghi = _hull(glo, ghi, np.where(clip, s * (c - Yd) / (c * (1 - c)), g))
            else:
                glo, ghi = _hull(glo, ghi, fused_clip)
        penalties = network.penalties(out.shape[0])
        for l in range(L, 0, -1):
            act, z, a = acts[l - 1], Z[l], A[l]
            if network.fused and l == L:
                zlo, zhi = glo, ghi  # cross-entropy's gradient is dZ_L itself: no dA_L, no slope
            else:
                fp = forward64.slope(act, z, a, network.leaky_slope)
                dlo = dhi = fp
                if l in ambiguous:
                    other = 0.0 if act == "relu" else network.leaky_slope
                    dlo = np.where(ambiguous[l], min(other, 1.0), fp)
                    dhi = np.where(ambiguous[l], 1.0, fp)
                lo[f"dA{l}"], hi[f"dA{l}"] = glo, ghi
                zlo, zhi = _times(glo, ghi, dlo, dhi)
            if l == L and clamp.any():
                # the fused sigmoid + BCE derivative s (a - y), valid where torch clamps
                zlo, zhi = _hull(zlo, zhi, np.where(clamp, s * (out - Yd), zlo))
            if l == L and fused_clip is not None and network.loss == "bce":
                zlo, zhi = _hull(zlo, zhi, np.where(clip, fused_clip, zlo))
            lo[f"dZ{l}"], hi[f"dZ{l}"] = zlo, zhi
            mid, rad = (zlo + zhi) / 2, (zhi - zlo) / 2
            Aprev, W = A[l - 1], rounding.weights[l - 1]
            kw, kb = penalties[l - 1]
            wm, wr = mid.T @ Aprev + kw * W, rad.T @ np.abs(Aprev)  # the L2 term moves both ends alike
            lo[f"W{l}"], hi[f"W{l}"] = wm - wr, wm + wr
            if network.bias:
                bm, br = mid.sum(axis=0), rad.sum(axis=0)
                if kb:
                    bm = bm + kb * rounding.biases[l - 1]
                lo[f"b{l}"], hi[f"b{l}"] = bm - br, bm + br
            am, ar = mid @ W, rad @ np.abs(W)
            glo, ghi = am - ar, am + ar
        lo["dX"], hi["dX"] = glo, ghi
    return Envelope(lo, hi, kinks, int(clamp.sum()), int(clip.sum()), network.loss)

