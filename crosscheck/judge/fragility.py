"""Fragile targets: right wherever their values are finite, but inf or NaN at edge data.

Code that differentiates BCE unfused, ``-(y / a - (1 - y) / (1 - a))``, is correct, yet
an output that rounds to exactly 1 makes ``1 - a`` zero and the gradient inf or NaN
where torch (which clamps) stays finite. That is neither agreement nor a wrong
formula: the finding says *when* it happens, as a threshold a reader can check.

A case is fragile when (1) every tensor that fails is ``nonfinite`` (NaN or inf where
torch is finite), (2) with those elements set to torch's values the whole case agrees,
and (3) some output of the case rounds to exactly 0 or 1 at the case's precision
(a sigmoid output, or a softmax probability). The threshold is measured, not
remembered: the smallest z whose sigmoid rounds to 1 in that dtype (36.7 in float64,
16.6 in float32), the z below which exp(-z) overflows so the sigmoid rounds to 0, and
the gap z_j - max_k z_k below which a softmax probability underflows to 0.
"""
from __future__ import annotations

import functools

import numpy as np

from crosscheck.numerics import forward64


@functools.lru_cache(maxsize=None)
def sigmoid_rounds_to_one(dtype: str) -> float:
    """The smallest z > 0 with 1 / (1 + exp(-z)) == 1 in ``dtype`` (bisection to 3 decimals)."""
    one = np.dtype(dtype).type(1)
    lo, hi = 0.0, 200.0
    while hi - lo > 1e-3:
        mid = (lo + hi) / 2
        z = np.dtype(dtype).type(mid)
        lo, hi = (lo, mid) if one / (one + np.exp(-z)) == one else (mid, hi)
    return hi


@functools.lru_cache(maxsize=None)
def exp_overflows(dtype: str) -> float:
    """The z beyond which exp(z) is inf in ``dtype`` (log of the largest float)."""
    return float(np.log(np.finfo(dtype).max))


@functools.lru_cache(maxsize=None)
def exp_underflows(dtype: str) -> float:
    """The z below which exp(z) is 0 in ``dtype`` (log of the smallest subnormal)."""
    return float(np.log(np.finfo(dtype).smallest_subnormal))


def saturated_outputs(network, X, params, dtype: str) -> tuple[int, int]:
    """(outputs that round to 0, outputs that round to 1) of a case, the output activation
    evaluated at the case's precision from the float64 pre-activations."""
    Z, _ = forward64.forward(network, X, params)
    z = Z[-1].astype(dtype)
    act = network.activations[-1]
    with np.errstate(all="ignore"):
        if act == "sigmoid":
            a = 1 / (1 + np.exp(-z))
        elif act == "softmax":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            a = e / e.sum(axis=1, keepdims=True)
        else:
            return 0, 0
    return int(np.count_nonzero(a == 0)), int(np.count_nonzero(a == 1))


def threshold(network, dtype: str, zeros: int, ones: int) -> str:
    """When the outputs round to 0 or 1, as a sentence a reader can check."""
    parts = []
    if network.activations[-1] == "softmax":
        if zeros:
            parts.append(f"probabilities that round to 0: z_j - max_k z_k < {exp_underflows(dtype):.1f} in {dtype}, "
                         f"where y / p divides by zero ({zeros} here)")
        if ones:
            parts.append(f"probabilities that round to 1: every other z_k below the largest by more than "
                         f"{sigmoid_rounds_to_one(dtype):.1f} in {dtype}, where (1 - y) / (1 - p) divides by zero "
                         f"({ones} here)")
    else:
        if ones:
            parts.append(f"outputs that round to 1: z > {sigmoid_rounds_to_one(dtype):.1f} in {dtype}, "
                         f"where (1 - y) / (1 - a) divides by zero ({ones} here)")
        if zeros:
            parts.append(f"outputs that round to 0: z < -{exp_overflows(dtype):.1f} in {dtype} (exp(-z) overflows), "
                         f"where y / a divides by zero ({zeros} here)")
    return "; ".join(parts)


def fragility(target, case) -> str | None:
    """The sentence of a fragile case (see the module docstring), or None when the case is not fragile."""
    from crosscheck.judge.check import check_case, judge_outputs
    from crosscheck.judge.oracle import mirror

    result = check_case(target, case)
    if result.crash is not None or not result.failing or any(c.status != "nonfinite" for c in result.failing):
        return None
    X, Y, params = case.arrays()
    zeros, ones = saturated_outputs(case.network, X, params, case.dtype)
    if not (zeros or ones):
        return None
    got, params = target.call(case.network, X, Y, params)
    truth = mirror(case.network, X, Y, params, "float64")
    mended = {}
    for name, value in got.items():
        t = truth.grads.get(name)
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return None
        if t is not None and arr.shape == t.shape:
            arr = np.where(np.isfinite(arr) | ~np.isfinite(t), arr, t)
        mended[name] = arr
    if not judge_outputs(target, case, X, Y, params, mended, truth).agree:
        return None
    return ("fragile: the gradients agree wherever the code's values are finite, but it returns inf or NaN "
            "where torch is finite, at " + threshold(case.network, case.dtype, zeros, ones))


def classify(target, findings) -> None:
    """Set ``finding.fragile`` (the sentence of ``fragility``) on every nonfinite finding whose minimal example
    is fragile: the one classification of ``crosscheck fuzz``, the pytest plugin and the audit."""
    from crosscheck.model.cases import Case

    for finding in findings:
        if finding.kind == "nonfinite" and isinstance(finding.result.case, Case):
            finding.fragile = fragility(target, finding.result.case)


def allowed(findings, allow_fragile: bool) -> bool:
    """Do these findings pass: none at all, or (with ``allow_fragile``) only fragile ones."""
    return all(allow_fragile and getattr(f, "fragile", None) for f in findings)
