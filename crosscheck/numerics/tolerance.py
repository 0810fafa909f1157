"""How far a candidate gradient may be from the truth: a budget measured per case and element.

Torch in float64 is the truth T. An element of a candidate computed at precision
d (eps_d its machine epsilon) may differ from T by at most

    budget_i = F · eps_d · S  +  M · bound_i  +  K · max(noise_i, rms(noise))

- ``S`` is the largest true magnitude among the gradients of the tensor's layer
  (W, b, dZ, dA): a bias gradient that cancels to 0 is a sum of terms of the size
  of dZ, and its rounding is measured against them. F = ``FLOOR_ULPS``.
- ``bound_i`` is the first-order rounding bound of the element for code at
  precision d (``rounding``): long cancelling sums and saturated units (``1 - a²``
  of an ``a`` rounded next to 1) get room in proportion to the rounding they
  really suffer, well conditioned elements get none. M = ``BOUND_MULTIPLE``.
- ``noise`` is measured on the case: for a float32 candidate the error of torch's
  own float32 computation, ``|T32 - T|``; for a float64 candidate how far torch
  float64 moves when every input, parameter, pre-activation and activation is
  nudged by ``NUDGE_ULPS`` ulps, ``|T(nudged) - T|``. K = ``NOISE_MULTIPLE``;
  ``rms(noise)`` keeps an element whose rounding happened to be exact from
  getting no room.

Every term is non-negative, so the terms are added only as long as the candidate
is outside: the floor first (free), then the bound (NumPy on the case's arrays),
then the noise (one more torch pass). The verdict is the same as with all three,
and a correct case costs no extra torch pass. A tensor's reported ``torch_err``
is NaN when the noise was not needed.
"""
from __future__ import annotations

import numpy as np

from crosscheck.numerics.rounding import EPS

NOISE_MULTIPLE = 16.0
FLOOR_ULPS = 128.0
BOUND_MULTIPLE = 2.0
NUDGE_ULPS = 4.0


def magnitude(a: np.ndarray) -> float:
    """Largest finite absolute value of ``a`` (0 if none)."""
    a = np.abs(np.asarray(a, dtype=np.float64))
    if not a.size:
        return 0.0
    top = float(a.max())
    if np.isfinite(top):
        return top
    finite = a[np.isfinite(a)]
    return float(finite.max()) if finite.size else 0.0


def floor(truth: np.ndarray, dtype: str, scale: float = 0.0) -> float:
    """F · eps_d · S, with S the larger of ``scale`` and the tensor's own largest magnitude."""
    return FLOOR_ULPS * EPS[dtype] * max(scale, magnitude(truth))


def noise_term(noise: np.ndarray | None) -> np.ndarray | float:
    """K · max(noise_i, rms(noise)); non-finite noise counts as 0."""
    if noise is None or not np.size(noise):
        return 0.0
    noise = np.asarray(noise, dtype=np.float64)
    noise = np.where(np.isfinite(noise), noise, 0.0)
    rms = float(np.sqrt(np.mean(noise * noise)))
    return NOISE_MULTIPLE * np.maximum(noise, rms)


def budget(truth: np.ndarray, noise: np.ndarray | None, dtype: str, scale: float = 0.0,
           bound: np.ndarray | None = None) -> np.ndarray:
    """Per-element allowed absolute difference for a candidate computed at ``dtype``.

    ``scale`` is S above (the layer's largest gradient), ``bound`` the rounding
    bound of ``rounding.bounds`` for this tensor, ``noise`` the measured noise.
    """
    truth = np.asarray(truth, dtype=np.float64)
    allowed = np.full(truth.shape, floor(truth, dtype, scale))
    if bound is not None:
        allowed = allowed + BOUND_MULTIPLE * np.asarray(bound, dtype=np.float64)
    return allowed + noise_term(noise)
