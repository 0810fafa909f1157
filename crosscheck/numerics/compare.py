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

from crosscheck.model.returns import Rejected
from crosscheck.numerics import tolerance

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
    #: the finite-difference arbiter's verdict on a disagreement (``arbiter.VERDICTS``), "" if not run
    arbiter: str = ""
    arbiter_note: str = ""
    #: elements accepted only as another valid convention (``conventions``)
    conventions: int = 0

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
        why = f" ({r.note})" if r.note and r.note != "None" else ""
        return f"{r.tensor}: not returned{why}; expected an array of shape {tuple(r.expected_shape)}"
    if r.status == "shape":
        return f"{r.tensor}: {r.note or 'shape ' + str(tuple(r.shape))} returned, shape {tuple(r.expected_shape)} expected"
    if r.status == "nonfinite":
        return (f"{r.tensor}: {r.mismatches} / {r.size} elements are NaN or inf where torch is finite; "
                f"first at {_idx(r.worst_index)}")
    head = f"{r.tensor}: {r.mismatches} / {r.size} elements mismatch ({100 * r.mismatch_fraction:.3g}%)"
    tail = (f"; worst absolute difference {r.max_abs_err:.3g} at {_idx(r.worst_index)} "
            f"(allowed {r.allowed_abs_err:.3g}), relative {r.max_rel_err:.3g}")
    note = f"; {r.note}" if r.note else ""
    verdict = f"; {r.arbiter_note}" if r.arbiter_note else ""
    return head + tail + note + verdict


def as_array(value, name: str) -> tuple[np.ndarray | None, str]:
    """Convert a target's return value to a float array, or say why it is not one."""
    if value is None:
        return None, "None"
    if isinstance(value, Rejected):  # what the reader refused, in words (``model.returns``)
        return None, value.why
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
            noise: np.ndarray | None = None, scale: float = 0.0, allowed: np.ndarray | float | None = None,
            envelope: tuple[np.ndarray, np.ndarray] | None = None,
            undefined: np.ndarray | None = None) -> TensorComparison:
    """Compare one candidate tensor with the float64 truth.

    ``noise`` is the case's measured noise for this tensor and ``scale`` its
    layer's largest gradient (see ``tolerance``); ``dtype`` is the precision the
    candidate is judged at. ``allowed``, if given, is the per-element budget
    itself (``noise`` and ``scale`` are then only reported). ``envelope = (lo, hi)``
    widens the accepted values to other valid conventions (``conventions``): an
    element is then judged by its distance to ``[min(lo, truth), max(hi, truth)]``.
    ``undefined`` marks elements where torch at the candidate's precision is itself
    NaN or inf: they are not judged.
    """
    arr, early = convert(name, candidate, truth, dtype=dtype, noise=noise)
    if early is not None:
        return early
    if allowed is None:
        allowed = tolerance.budget(arr.truth, noise, dtype, scale)
    return judge(arr, allowed, envelope=envelope, undefined=undefined)


@dataclass
class Converted:
    """A candidate converted to the truth's shape, with what the record needs."""

    name: str
    values: np.ndarray
    truth: np.ndarray
    dtype: str
    base: dict


def convert(name: str, candidate, truth, *, dtype: str = "float64", noise=None):
    """``(Converted, None)``, or ``(None, record)`` when the candidate is missing or misshapen."""
    truth = np.asarray(truth, dtype=np.float64)
    expected = tuple(truth.shape)
    torch_err = float("nan")
    if noise is not None and np.size(noise):
        finite = np.asarray(noise, dtype=np.float64)
        torch_err = float(np.max(np.where(np.isfinite(finite), finite, 0.0)))
    base = dict(tensor=name, expected_shape=expected, dtype=dtype, size=int(truth.size), mismatches=0,
                mismatch_fraction=0.0, max_abs_err=0.0, max_rel_err=0.0, worst_index=None,
                allowed_abs_err=0.0, torch_err=torch_err)
    arr, why = as_array(candidate, name)
    if arr is None:
        status = "missing" if candidate is None or (isinstance(candidate, Rejected) and candidate.missing) else "shape"
        return None, TensorComparison(shape=(), status=status, note=why if candidate is not None else "",
                                      **{**base, "mismatches": base["size"], "mismatch_fraction": 1.0,
                                         "max_abs_err": float("inf"), "max_rel_err": float("inf")})
    if arr.shape != expected:
        if arr.size == truth.size and arr.squeeze().shape == truth.squeeze().shape:
            arr = arr.reshape(expected)  # (out, 1) or (1, out) for (out,): a layout, not a bug
        else:
            return None, TensorComparison(shape=tuple(arr.shape), status="shape",
                                          **{**base, "mismatches": base["size"], "mismatch_fraction": 1.0,
                                             "max_abs_err": float("inf"), "max_rel_err": float("inf")})
    return Converted(name, arr, truth, dtype, base), None


def with_noise(c: Converted, noise) -> Converted:
    """The same candidate, with ``torch_err`` from a noise measured later."""
    if noise is not None and np.size(noise):
        n = np.asarray(noise, dtype=np.float64)
        c.base["torch_err"] = float(np.max(np.where(np.isfinite(n), n, 0.0)))
    return c


def over_budget(c: Converted, allowed, envelope=None, undefined=None) -> tuple[np.ndarray, np.ndarray]:
    """(distance of each element from the accepted values, bool mask of those over ``allowed``)."""
    arr, truth = c.values, c.truth
    defined = np.isfinite(truth)
    if undefined is not None:
        defined = defined & ~undefined
    with np.errstate(invalid="ignore", over="ignore"):
        if envelope is not None:
            lo, hi = np.minimum(envelope[0], truth), np.maximum(envelope[1], truth)
            dist = np.maximum(np.maximum(lo - arr, arr - hi), 0.0)
        else:
            dist = np.abs(arr - truth)
        dist = np.where(defined, dist, 0.0)
        return dist, dist > allowed


def judge(c: Converted, allowed, *, envelope=None, undefined=None) -> TensorComparison:
    """The record of a converted candidate against a per-element budget (and optional envelope)."""
    arr, truth, base = c.values, c.truth, c.base
    shape = tuple(arr.shape)
    defined = np.isfinite(truth)
    if undefined is not None:
        defined = defined & ~undefined
    bad = ~np.isfinite(arr) & defined
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        n = int(bad.sum())
        return TensorComparison(shape=shape, status="nonfinite",
                                **{**base, "mismatches": n, "mismatch_fraction": n / max(truth.size, 1),
                                   "max_abs_err": float("inf"), "max_rel_err": float("inf"), "worst_index": first})
    allowed = np.broadcast_to(np.asarray(allowed, dtype=np.float64), truth.shape)
    dist, over = over_budget(c, allowed, envelope, undefined)
    n = int(np.count_nonzero(over))
    with np.errstate(invalid="ignore"):
        diff = np.where(defined, np.abs(arr - np.where(defined, truth, 0.0)), 0.0)
    if diff.size:
        if n:
            flat = int(np.argmax(np.where(over, diff, -1.0)))
        else:
            flat = int(np.argmax(diff))
        worst = tuple(int(i) for i in np.unravel_index(flat, diff.shape))
        max_abs, at_allowed = float(diff[worst]), float(allowed[worst])
    else:
        worst, max_abs, at_allowed = None, 0.0, 0.0
    top = tolerance.magnitude(np.where(defined, truth, 0.0)) if truth.size else 0.0
    rel = max_abs / top if top > 0 else (0.0 if max_abs == 0 else float("inf"))
    all_defined = bool(defined.all())
    status = "mismatch" if n else ("agree" if all_defined else "undefined")
    note = "" if all_defined else "torch is NaN or inf here: the gradient is undefined"
    return TensorComparison(shape=shape, status=status, note=note,
                            **{**base, "mismatches": n, "mismatch_fraction": n / max(truth.size, 1),
                               "max_abs_err": max_abs, "max_rel_err": rel, "worst_index": worst,
                               "allowed_abs_err": at_allowed})
