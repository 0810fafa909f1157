"""How far a candidate gradient may be from the truth: a budget measured per case.

Torch in float64 is the truth T. The noise of a case measures how well
conditioned each element is: for a float32 candidate it is torch's own float32
error, noise = |T32 - T|; for a float64 candidate it is how far torch float64
moves when every input, parameter, pre-activation and activation is nudged by
``NUDGE_ULPS`` units in the last place (the textbook model of rounding at each
step), noise = |T(nudged) - T|. An element of a candidate at dtype d may
differ from T by at most

    budget_i = K · max(noise_i, rms(noise)) + F · eps_d · S

with K = ``NOISE_MULTIPLE``, F = ``FLOOR_ULPS`` and S the largest true
magnitude among the gradients of the tensor's layer (W, b, dZ, dA): a bias
gradient that cancels to exactly 0 is a sum of terms of the size of dZ, and
its rounding is measured against them. Badly
conditioned elements (long cancelling sums, saturated units) get room in
proportion to the error torch itself makes there; well conditioned ones get
none beyond a few units in the last place of the tensor's largest entry.
``rms(noise)`` keeps an element whose float32 rounding happened to be exact from
getting a zero budget.
"""
from __future__ import annotations

import numpy as np

EPS = {"float32": float(np.finfo(np.float32).eps), "float64": float(np.finfo(np.float64).eps)}
NOISE_MULTIPLE = 16.0
FLOOR_ULPS = 128.0
NUDGE_ULPS = 4.0


def magnitude(a: np.ndarray) -> float:
    """Largest finite absolute value of ``a`` (0 if none)."""
    a = np.abs(np.asarray(a, dtype=np.float64))
    finite = a[np.isfinite(a)]
    return float(finite.max()) if finite.size else 0.0


def budget(truth: np.ndarray, noise: np.ndarray | None, dtype: str, scale: float = 0.0) -> np.ndarray:
    """Per-element allowed absolute difference for a candidate computed at ``dtype``.

    ``scale`` is S above (the layer's largest gradient); the tensor's own largest
    magnitude is used when it is larger.
    """
    eps = EPS[dtype]
    scale = max(scale, magnitude(truth))
    allowed = np.full(truth.shape, FLOOR_ULPS * eps * scale)
    if noise is not None and noise.size:
        noise = np.where(np.isfinite(noise), noise, 0.0)
        rms = float(np.sqrt(np.mean(noise * noise)))
        allowed = allowed + NOISE_MULTIPLE * np.maximum(noise, rms)
    return allowed
