"""One comparison function; its record type is ``model.records.TensorComparison``.

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

import math
from dataclasses import dataclass

import numpy as np

from crosscheck.model.returns import Rejected
from crosscheck.model.records import STATUSES, TensorComparison, format_message  # noqa: F401 (the record type)
from crosscheck.numerics import tolerance

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
                                         "max_abs_err": math.inf, "max_rel_err": math.inf, "ratio": math.inf})
    if arr.shape != expected:
        if arr.size == truth.size and arr.squeeze().shape == truth.squeeze().shape:
            arr = arr.reshape(expected)  # (out, 1) or (1, out) for (out,): a layout, not a bug
        else:
            return None, TensorComparison(shape=tuple(arr.shape), status="shape",
                                          **{**base, "mismatches": base["size"], "mismatch_fraction": 1.0,
                                             "max_abs_err": math.inf, "max_rel_err": math.inf, "ratio": math.inf})
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
                                   "max_abs_err": math.inf, "max_rel_err": math.inf, "worst_index": first,
                                   "ratio": math.inf})
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
    all_defined = bool(defined.all())
    ratio = worst_ratio(dist, allowed)
    if not n and all_defined:
        return agreement(base["tensor"], shape, base["dtype"], base["size"], max_abs, top, worst, at_allowed, ratio,
                         base["torch_err"])
    status = "mismatch" if n else "undefined"
    note = "" if all_defined else "torch is NaN or inf here: the gradient is undefined"
    return TensorComparison(shape=shape, status=status, note=note,
                            **{**base, "mismatches": n, "mismatch_fraction": n / max(truth.size, 1),
                               "max_abs_err": max_abs, "max_rel_err": normwise(max_abs, top), "worst_index": worst,
                               "allowed_abs_err": at_allowed, "ratio": ratio})


def normwise(worst: float, top: float) -> float:
    """The relative error of a tensor: its largest difference over its largest true magnitude."""
    return worst / top if top > 0 else (0.0 if worst == 0 else math.inf)


def worst_ratio(distance: np.ndarray, allowed) -> float:
    """The largest ``distance / allowed`` of a tensor's elements (0 where both are 0, inf where only the
    allowance is): under 1 passes."""
    if not np.size(distance):
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q = np.divide(distance, allowed)
    return float(np.max(np.where(distance > 0, q, 0.0)))


def agreement(name: str, shape: tuple, dtype: str, size: int, worst: float, top: float, index, allowed: float,
              ratio: float, torch_err: float = math.nan) -> TensorComparison:
    """The record of a tensor that agrees: ``worst`` its largest difference (first at ``index``),
    ``top`` its largest true magnitude, ``allowed`` the budget there, ``ratio`` the worst element's
    error over its allowance. The judge's (``judge``) and its batch entry point's (``fastpath``) one
    constructor."""
    return TensorComparison(name, shape, shape, dtype, size, 0, 0.0, worst, normwise(worst, top), index, allowed,
                            torch_err, "agree", ratio=ratio)
