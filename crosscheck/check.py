"""Check one case: run the target and the torch mirror, compare every tensor.

This is the single path every front end takes (fuzz, audit, pytest, replay).
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass, field

import numpy as np

from . import tolerance
from .cases import Case
from .compare import TensorComparison, compare
from .target import ReturnError, Target
from .vocabulary import backward_order, param_names, tensor_layer

#: Finding kinds, most serious first: a case's kind is the first that applies.
KINDS = ("crash", "shape", "nonfinite", "mismatch")


@dataclass
class CaseResult:
    """Everything one case produced: the comparisons, or the crash that replaced them."""

    case: Case
    target: str
    comparisons: list[TensorComparison] = field(default_factory=list)
    crash: dict | None = None  # {"type": ..., "message": ..., "traceback": ...}
    loss: float | None = None
    undefined: bool = False  # torch itself is NaN/inf: nothing to judge

    @property
    def agree(self) -> bool:
        return self.crash is None and all(c.agree for c in self.comparisons)

    @property
    def failing(self) -> list[TensorComparison]:
        return [c for c in self.comparisons if not c.agree]

    @property
    def kind(self) -> str | None:
        """``None`` when everything agrees, else the finding kind."""
        if self.crash is not None:
            return "crash"
        statuses = {c.status for c in self.failing}
        if not statuses:
            return None
        if statuses & {"shape", "missing"}:
            return "shape"
        return "nonfinite" if "nonfinite" in statuses else "mismatch"

    def failing_parameters(self) -> list[str]:
        """Names of failing parameter gradients (W, b), in layer order."""
        return [c.tensor for c in self.failing if c.tensor[0] in "Wb"]

    def message(self) -> str:
        if self.crash is not None:
            return f"{self.crash['type']}: {self.crash['message']}"
        return "\n".join(c.message for c in self.failing)


def truth_and_noise(case: Case, X, Y, params, *, intermediates: bool = True):
    """Torch float64 (the truth) and the noise floor at the case's dtype.

    float32: |torch float32 - truth|, torch's own error at that precision.
    float64: |torch float64 with every input and intermediate nudged by a few
    ulps - truth|: how far float64 rounding can move this case, measured where
    it happens (a saturated sigmoid's 1 - a, a long cancelling sum); see ``tolerance``.
    """
    from .oracle import mirror

    truth = mirror(case.network, X, Y, params, "float64", intermediates=intermediates)
    if case.dtype == "float32":
        other = mirror(case.network, X, Y, params, "float32", intermediates=intermediates)
    else:
        other = mirror(case.network, X, Y, params, "float64", intermediates=intermediates,
                       nudge_ulps=tolerance.NUDGE_ULPS, seed=case.seed)
    with np.errstate(invalid="ignore", over="ignore"):
        noise = {k: np.abs(other.grads[k].astype(np.float64) - v) for k, v in truth.grads.items()}
    return truth, noise


def layer_scales(grads: dict[str, np.ndarray]) -> dict[int, float]:
    """The largest true gradient magnitude of each layer (W, b, dZ, dA together)."""
    scales: dict[int, float] = {}
    for name, g in grads.items():
        l = tensor_layer(name) or 1
        scales[l] = max(scales.get(l, 0.0), tolerance.magnitude(g))
    return scales


def check_case(target: Target, case: Case) -> CaseResult:
    """Run ``target`` on ``case`` and compare every tensor it returns with torch."""
    X, Y, params = case.arrays()
    result = CaseResult(case, target.name)
    try:
        got = target.run(case.network, X, Y, params)
    except ReturnError as e:
        names = param_names(case.network.depth)
        truth, _ = truth_and_noise(case, X, Y, params, intermediates=False)
        result.loss = truth.loss
        result.comparisons = [compare(n, object(), truth.grads[n], dtype=case.dtype) for n in names]
        for c in result.comparisons:
            c.note = str(e)
        return result
    except BaseException as e:  # the target's own failure is a finding, never ours
        if isinstance(e, KeyboardInterrupt):
            raise
        result.crash = {"type": type(e).__name__, "message": str(e)[:500],
                        "traceback": "".join(traceback.format_exception(e))[-4000:]}
        return result
    wants_intermediates = any(k.startswith("d") for k in got)
    truth, noise = truth_and_noise(case, X, Y, params)
    result.loss = truth.loss
    result.undefined = not np.isfinite(truth.loss)
    names = param_names(case.network.depth)
    if wants_intermediates:
        names = names + [n for n in truth.grads if n not in names and n in got]
    scales = layer_scales(truth.grads)
    result.comparisons = [compare(n, got.get(n), truth.grads[n], dtype=case.dtype, noise=noise[n],
                                  scale=scales[tensor_layer(n) or 1]) for n in backward_order(names)]
    return result
