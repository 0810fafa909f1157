"""Check one case: run the target and the torch mirror, compare every tensor.

This is the single path every front end takes (fuzz, audit, pytest, replay).
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass, field

import numpy as np

from . import tolerance
from .cases import Case
from .compare import TensorComparison, compare, convert, judge, over_budget, with_noise
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
    """Torch float64 (the truth) and the measured noise at the case's dtype, both computed now.

    float32: |torch float32 - truth|, torch's own error at that precision.
    float64: |torch float64 with every input and intermediate nudged by a few
    ulps - truth|: how far float64 rounding moves this case; see ``tolerance``.
    ``check_case`` measures the noise only when it needs it (``Judge``).
    """
    from .oracle import mirror

    truth = mirror(case.network, X, Y, params, "float64", intermediates=intermediates)
    return truth, measure_noise(case, X, Y, params, truth, intermediates=intermediates)[0]


def measure_noise(case: Case, X, Y, params, truth, *, intermediates: bool = True):
    """``(noise by name, the torch pass at the case's precision)``: one more torch pass."""
    from .oracle import mirror

    if case.dtype == "float32":
        other = mirror(case.network, X, Y, params, "float32", intermediates=intermediates)
    else:
        other = mirror(case.network, X, Y, params, "float64", intermediates=intermediates,
                       nudge_ulps=tolerance.NUDGE_ULPS, seed=case.seed)
    with np.errstate(invalid="ignore", over="ignore"):
        noise = {k: np.abs(other.grads[k].astype(np.float64) - v) for k, v in truth.grads.items()}
    return noise, other


def layer_scales(grads: dict[str, np.ndarray]) -> dict[int, float]:
    """The largest true gradient magnitude of each layer (W, b, dZ, dA together)."""
    scales: dict[int, float] = {}
    for name, g in grads.items():
        l = tensor_layer(name) or 1
        scales[l] = max(scales.get(l, 0.0), tolerance.magnitude(g))
    return scales


class Judge:
    """How one case's tensors are judged, each piece computed only when a tensor needs it.

    Stages, cheapest first; each only widens what is accepted, so stopping at the
    first that accepts gives the verdict of all of them (``tolerance``):

    1. the floor F · eps · S (free);
    2. plus the rounding bound of every element (``rounding``, NumPy);
    3. plus the measured noise (one more torch pass, at the case's precision);
    4. the conventions that are not bugs (``conventions``: ReLU subgradients at 0,
       torch's BCE clamp), accepted with a note;
    5. the finite-difference arbiter (``arbiter``) on what still disagrees: a kink
       within its step makes the disagreement a note, otherwise its verdict goes
       beside the finding.
    """

    def __init__(self, case: Case, X, Y, params, truth, *, update_lr: float | None = None):
        self.case, self.X, self.Y, self.params, self.truth = case, X, Y, params, truth
        self.dtype = case.dtype
        self.update_lr = update_lr
        self.scales = layer_scales(truth.grads)
        self._rounding = self._noise = self._other = self._envelope = None
        self._envelope_done = False

    # -- the lazily measured pieces ---------------------------------------------------
    @property
    def rounding(self):
        if self._rounding is None:
            from .rounding import bounds
            self._rounding = bounds(self.case.network, self.X, self.Y, self.params, self.truth.grads,
                                    self.dtype, update_lr=self.update_lr)
        return self._rounding

    def _measure(self):
        if self._noise is None:
            self._noise, self._other = measure_noise(self.case, self.X, self.Y, self.params, self.truth)
        return self._noise

    @property
    def noise(self) -> dict[str, np.ndarray]:
        return self._measure()

    @property
    def envelope(self):
        if not self._envelope_done:
            from .conventions import envelope
            self._envelope = envelope(self.case.network, self.Y, self.rounding)
            self._envelope_done = True
        return self._envelope

    def scale(self, name: str) -> float:
        return self.scales.get(tensor_layer(name) or 1, 0.0)

    def allowed(self, name: str, *, bound: bool = True, noise: bool = True) -> np.ndarray:
        """The full per-element budget of tensor ``name`` (every term measured)."""
        t = self.truth.grads[name]
        return tolerance.budget(t, self.noise.get(name) if noise else None, self.dtype, self.scale(name),
                                bound=self.rounding.bounds.get(name) if bound else None)

    def undefined_at_precision(self, name: str) -> np.ndarray | None:
        """Elements where torch at the case's precision (float32) is NaN or inf itself."""
        if self.dtype == "float64":
            return None
        self._measure()
        g = self._other.grads.get(name)
        return None if g is None else ~np.isfinite(g)

    # -- the verdict of one tensor ----------------------------------------------------
    def compare(self, name: str, candidate) -> TensorComparison:
        truth = self.truth.grads[name]
        conv, early = convert(name, candidate, truth, dtype=self.dtype)
        if early is not None:
            return early
        undefined = None
        if not np.isfinite(conv.values).all():
            # NaN/inf where torch at the candidate's precision is NaN/inf too is undefined, not a finding
            at_precision = self.undefined_at_precision(name)
            if at_precision is not None:
                undefined = at_precision & ~np.isfinite(conv.values)
                with_noise(conv, self.noise.get(name))
        floor = tolerance.floor(truth, self.dtype, self.scale(name))
        r = judge(conv, floor, undefined=undefined)
        if r.status != "mismatch":
            return r
        r = judge(conv, floor + tolerance.BOUND_MULTIPLE * self.rounding.bounds[name], undefined=undefined)
        if r.status != "mismatch":
            return r
        allowed = self.allowed(name)
        r = judge(with_noise(conv, self.noise.get(name)), allowed, undefined=undefined)
        if r.status != "mismatch":
            return r
        env = self.envelope
        span = (env.lo[name], env.hi[name]) if env is not None and name in env.lo else None
        if span is not None:
            widened = judge(conv, allowed, envelope=span, undefined=undefined)
            _, plain_over = over_budget(conv, allowed, undefined=undefined)
            widened.conventions = int(np.count_nonzero(plain_over)) - widened.mismatches
            if widened.conventions:
                widened.note = f"{widened.conventions} element(s) accepted as {env.describe()}"
            if widened.status != "mismatch":
                return widened
            r = widened
        _, over = over_budget(conv, allowed, span, undefined)
        from .arbiter import arbitrate
        verdict = arbitrate(self.case.network, self.X, self.Y, self.params, name, conv.values, truth, over)
        r.arbiter, r.arbiter_note = verdict.label, verdict.sentence()
        if verdict.label == "kink":
            r.status, r.note = "agree", f"not a finding: {verdict.sentence()}"
            r.arbiter_note = ""
        return r


def check_case(target: Target, case: Case) -> CaseResult:
    """Run ``target`` on ``case`` and compare every tensor it returns with torch."""
    from .oracle import mirror

    X, Y, params = case.arrays()
    result = CaseResult(case, target.name)
    try:
        got = target.run(case.network, X, Y, params)
    except ReturnError as e:
        names = param_names(case.network.depth)
        truth = mirror(case.network, X, Y, params, "float64", intermediates=False)
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
    truth = mirror(case.network, X, Y, params, "float64")
    result.loss = truth.loss
    result.undefined = not np.isfinite(truth.loss)
    names = param_names(case.network.depth)
    if any(k.startswith("d") for k in got):
        names = names + [n for n in truth.grads if n not in names and n in got]
    lr = target.lr if target.returns == "update" else None
    from .fastpath import compare_all  # tensors within the floor in one pass; the rest go to the Judge
    result.comparisons = compare_all(backward_order(names), got, truth.grads, case.dtype,
                                     lambda: Judge(case, X, Y, params, truth, update_lr=lr))
    return result
