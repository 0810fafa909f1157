"""One comparison function, one record type.

``compare(name, candidate, truth, ...)`` turns anything a target returned into
a ``TensorComparison``: shapes that differ, non-arrays and NaN/inf are results,
never exceptions. Every front end (fuzz, audit, reports, pytest) uses this
record and its ``message``, which follows one template::

    W1: 3 / 8 elements mismatch (37.5%); worst absolute difference 2.5e-01 at (0, 1)
    (allowed 3.6e-15), relative 5.0e-01

Relative errors are normwise: the difference divided by the tensor's largest
true magnitude, so entries that cancel to nearly zero do not report huge ratios.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from . import tolerance

STATUSES = ("agree", "mismatch", "nonfinite", "shape", "missing", "undefined")


@dataclass
class TensorComparison:
    tensor: str
    shape: tuple
    expected_shape: tuple
    dtype: str
    size: int
    mismatches: int
    mismatch_fraction: float
    max_abs_err: float
    max_rel_err: float
    worst_index: tuple | None
    allowed_abs_err: float
    torch_err: float
    status: str
    note: str = ""

    @property
    def agree(self) -> bool:
        return self.status in ("agree", "undefined")

    @property
    def message(self) -> str:
        return format_message(self)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"], d["expected_shape"] = list(self.shape), list(self.expected_shape)
        d["worst_index"] = list(self.worst_index) if self.worst_index is not None else None
        d["agree"], d["message"] = self.agree, self.message
        return d


def _idx(index) -> str:
    return str(tuple(int(i) for i in index)) if index is not None else "?"


def format_message(r: TensorComparison) -> str:
    """The one message template."""
    if r.status == "missing":
        return f"{r.tensor}: not returned; expected an array of shape {tuple(r.expected_shape)}"
    if r.status == "shape":
        return f"{r.tensor}: {r.note or 'shape ' + str(tuple(r.shape))} returned, shape {tuple(r.expected_shape)} expected"
    if r.status == "nonfinite":
        return (f"{r.tensor}: {r.mismatches} / {r.size} elements are NaN or inf where torch is finite; "
                f"first at {_idx(r.worst_index)}")
    head = f"{r.tensor}: {r.mismatches} / {r.size} elements mismatch ({100 * r.mismatch_fraction:.3g}%)"
    tail = (f"; worst absolute difference {r.max_abs_err:.3g} at {_idx(r.worst_index)} "
            f"(allowed {r.allowed_abs_err:.3g}), relative {r.max_rel_err:.3g}")
    note = f"; {r.note}" if r.note else ""
    return head + tail + note


def as_array(value, name: str) -> tuple[np.ndarray | None, str]:
    """Convert a target's return value to a float array, or say why it is not one."""
    if value is None:
        return None, "None"
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except Exception as e:  # ragged lists and the like
        return None, f"a {type(value).__name__} that is not an array ({e})"
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        return None, f"a {type(value).__name__} of dtype {arr.dtype}, not a numeric array"
    return arr.astype(np.float64, copy=False), ""


def compare(name: str, candidate, truth: np.ndarray, *, dtype: str = "float64",
            noise: np.ndarray | None = None, scale: float = 0.0) -> TensorComparison:
    """Compare one candidate tensor with the float64 truth.

    ``noise`` is the case's measured noise for this tensor and ``scale`` its
    layer's largest gradient (see ``tolerance``); ``dtype`` is the precision the
    candidate is judged at.
    """
    truth = np.asarray(truth, dtype=np.float64)
    expected = tuple(truth.shape)
    base = dict(tensor=name, expected_shape=expected, dtype=dtype, size=int(truth.size), mismatches=0,
                mismatch_fraction=0.0, max_abs_err=0.0, max_rel_err=0.0, worst_index=None,
                allowed_abs_err=0.0, torch_err=float(np.max(noise)) if noise is not None and noise.size else 0.0)
    arr, why = as_array(candidate, name)
    if arr is None:
        status = "missing" if candidate is None else "shape"
        return TensorComparison(shape=(), status=status, note=why if candidate is not None else "",
                                **{**base, "mismatches": base["size"], "mismatch_fraction": 1.0,
                                   "max_abs_err": float("inf"), "max_rel_err": float("inf")})
    if arr.shape != expected:
        if arr.size == truth.size and arr.squeeze().shape == truth.squeeze().shape:
            arr = arr.reshape(expected)  # (out, 1) or (1, out) for (out,): a layout, not a bug
        else:
            return TensorComparison(shape=tuple(arr.shape), status="shape",
                                    **{**base, "mismatches": base["size"], "mismatch_fraction": 1.0,
                                       "max_abs_err": float("inf"), "max_rel_err": float("inf")})
    shape = tuple(arr.shape)
    defined = np.isfinite(truth)
    bad = ~np.isfinite(arr) & defined
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        n = int(bad.sum())
        return TensorComparison(shape=shape, status="nonfinite",
                                **{**base, "mismatches": n, "mismatch_fraction": n / max(truth.size, 1),
                                   "max_abs_err": float("inf"), "max_rel_err": float("inf"), "worst_index": first})
    diff = np.where(defined, np.abs(arr - np.where(defined, truth, 0.0)), 0.0)
    allowed = tolerance.budget(truth, noise, dtype, scale)
    over = diff > allowed
    n = int(over.sum())
    if diff.size:
        flat = int(np.argmax(diff - allowed if n else diff))
        worst = tuple(int(i) for i in np.unravel_index(flat, diff.shape))
        max_abs, at_allowed = float(diff[worst]), float(allowed[worst])
        if n:
            max_abs = float(diff.max())
            worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
            at_allowed = float(allowed[worst])
    else:
        worst, max_abs, at_allowed = None, 0.0, 0.0
    scale = float(np.max(np.abs(truth[defined]))) if defined.any() else 0.0
    rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    status = "mismatch" if n else ("undefined" if not defined.all() else "agree")
    note = "torch is NaN or inf here: the gradient is undefined" if not defined.all() else ""
    return TensorComparison(shape=shape, status=status, note=note,
                            **{**base, "mismatches": n, "mismatch_fraction": n / max(truth.size, 1),
                               "max_abs_err": max_abs, "max_rel_err": rel, "worst_index": worst,
                               "allowed_abs_err": at_allowed})
