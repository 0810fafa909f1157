"""The finite-difference arbiter: when a candidate and torch disagree, which one is right?

Let ``g_c`` and ``g_t`` be the candidate's and torch's gradient of a tensor θ
(a parameter, the input X, or an intermediate Z_l / A_l), and ``v`` the unit
vector along their difference on the disputed elements. The two sides predict
different slopes of the loss along v: ``g_c · v`` and ``g_t · v``, apart by
``|g_c - g_t|`` on those elements. A float64 central difference measures it:

    D(h) = (L(θ + h v) - L(θ - h v)) / 2h,    R = D(h/2) + (D(h/2) - D(h)) / 3

(R is the Richardson extrapolation; ``|D(h) - D(h/2)|`` plus the rounding of L
over h estimates its error). The verdict:

- ``torch`` / ``candidate``: R is within a quarter of the gap of that side's slope;
- ``neither``: R is far from both; ``inconclusive``: the gap is within the error, or
  the float64 loss is flat to the last bit along the step (outputs saturated to
  exactly 0 or 1), where a difference quotient says nothing;
- ``kink``: the one-sided slopes ``(L(θ ± h v) - L(θ)) / ±h`` differ by a jump that does
  not shrink with h (a ReLU kink, or a BCE clamp, lies within the step) and both
  sides' slopes lie between them: both are valid one-sided derivatives, so the
  disagreement is a note, not a finding.

Five loss evaluations in float64 NumPy (``forward64``), about the cost of one
forward pass each; run only on tensors that disagree after every tolerance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crosscheck.numerics import forward64
from crosscheck.model.vocabulary import tensor_kind, tensor_layer

VERDICTS = ("torch", "candidate", "kink", "neither", "inconclusive")
#: Relative step along the unit direction (about eps^(1/3), where truncation and rounding balance).
STEP = 2e-5


@dataclass
class Verdict:
    label: str
    slope: float  # the extrapolated central difference R
    torch_slope: float
    candidate_slope: float
    error: float  # estimated error of ``slope``
    left: float  # one-sided slopes at h/2
    right: float
    flat: bool = False  # the float64 loss is the same at every point of the difference

    def sentence(self) -> str:
        figures = (f"the loss changes at {self.slope:.4g} along the difference (±{self.error:.2g}), "
                   f"torch predicts {self.torch_slope:.4g}, the candidate {self.candidate_slope:.4g}")
        if self.label == "torch":
            return f"finite differences side with torch: {figures}"
        if self.label == "candidate":
            return f"finite differences side with the candidate: {figures}"
        if self.label == "kink":
            return (f"a kink of the loss lies within the finite-difference step (one-sided slopes "
                    f"{self.left:.4g} and {self.right:.4g}); torch's {self.torch_slope:.4g} and the "
                    f"candidate's {self.candidate_slope:.4g} are both valid one-sided derivatives")
        if self.label == "neither":
            return f"finite differences side with neither: {figures}"
        if self.flat:
            return ("finite differences cannot tell: the float64 loss does not change along the difference "
                    f"(saturated outputs, or units dead along it); torch predicts {self.torch_slope:.4g}, the candidate "
                    f"{self.candidate_slope:.4g}")
        return f"finite differences cannot tell: {figures}"


def _loss_along(network, X, Y, params, name: str, direction: np.ndarray):
    """L(t) = loss with tensor ``name`` moved by t · direction."""
    kind, l = tensor_kind(name), tensor_layer(name)
    X64, P = forward64.as64(X, params)

    def L(t: float) -> float:
        if kind in ("W", "b"):
            moved = [(W + t * direction, b) if (i == l and kind == "W") else
                     (W, b + t * direction) if (i == l and kind == "b") else (W, b)
                     for i, (W, b) in enumerate(P, start=1)]
            Z, A = forward64.forward(network, X64, moved)
        else:
            where = ("A", 0) if kind == "dX" else ("Z" if kind == "dZ" else "A", l)
            Z, A = forward64.forward(network, X64, P, inject=(*where, t * direction))
            moved = P
        return forward64.objective(network, Z, A, Y, moved)

    if kind == "W":
        base = P[l - 1][0]
    elif kind == "b":
        base = P[l - 1][1]
    else:
        Z, A = forward64.forward(network, X64, P)
        base = X64 if kind == "dX" else (Z[l] if kind == "dZ" else A[l])
    return L, base


def arbitrate(network, X, Y, params, name: str, candidate: np.ndarray, truth: np.ndarray,
              disputed: np.ndarray | None = None) -> Verdict:
    """Which side the float64 central difference of the loss supports, along the disputed direction.

    ``disputed`` (bool, the tensor's shape) limits the direction to the elements
    over budget; by default every element's difference counts.
    """
    cand = np.asarray(candidate, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    diff = np.where(np.isfinite(cand) & np.isfinite(truth), cand - truth, 0.0)
    if disputed is not None:
        diff = np.where(disputed, diff, 0.0)
    norm = float(np.linalg.norm(diff))
    if norm == 0 or not np.isfinite(norm):
        return Verdict("inconclusive", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    v = diff / norm
    Dt = float(np.sum(np.where(np.isfinite(truth), truth, 0.0) * v))
    Dc = float(np.sum(np.where(np.isfinite(cand), cand, 0.0) * v))
    with np.errstate(all="ignore"):
        L, base = _loss_along(network, X, Y, params, name, v)
        scale = float(np.max(np.abs(base))) if base.size else 0.0
        h = STEP * (scale if np.isfinite(scale) and scale > 0 else 1.0)
        L0, Lp, Lm, Lp2, Lm2 = L(0.0), L(h), L(-h), L(h / 2), L(-h / 2)
    values = np.array([L0, Lp, Lm, Lp2, Lm2])
    if not np.isfinite(values).all():
        return Verdict("inconclusive", float("nan"), Dt, Dc, float("inf"), float("nan"), float("nan"))
    if (values == L0).all():
        # NOTE: a loss flat to the last bit (sigmoid outputs rounded to exactly 0 or 1) says
        # nothing about which derivative the unrounded function has
        return Verdict("inconclusive", 0.0, Dt, Dc, 0.0, 0.0, 0.0, flat=True)
    D1, D2 = (Lp - Lm) / (2 * h), (Lp2 - Lm2) / h
    R = D2 + (D2 - D1) / 3
    rounding = 64 * np.finfo(np.float64).eps * float(np.max(np.abs(values))) / h
    error = abs(D1 - D2) + rounding
    right, left = (Lp2 - L0) / (h / 2), (L0 - Lm2) / (h / 2)
    jump_h, jump_h2 = (Lp - L0) / h - (L0 - Lm) / h, right - left
    gap = abs(Dc - Dt)
    kink = abs(jump_h2) > 0.6 * abs(jump_h) and abs(jump_h2) > 4 * rounding and abs(jump_h2) > 0.01 * gap
    if kink:
        tol = error + abs(jump_h - jump_h2)
        lo, hi = min(left, right) - tol, max(left, right) + tol
        if lo <= Dt <= hi and lo <= Dc <= hi:
            return Verdict("kink", R, Dt, Dc, error, left, right)
    if gap <= 2 * error:
        label = "inconclusive"
    elif abs(R - Dt) <= gap / 4:
        label = "torch"
    elif abs(R - Dc) <= gap / 4:
        label = "candidate"
    else:
        label = "neither"
    return Verdict(label, R, Dt, Dc, error, left, right)
