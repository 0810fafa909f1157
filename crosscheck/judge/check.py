"""Check one case: run the target and the torch mirror, compare every tensor.

This is the single path every front end takes (fuzz, audit, pytest, replay).
"""
from __future__ import annotations

import functools
import math
import traceback

import numpy as np

from crosscheck.judge.fastpath import compare_many
from crosscheck.numerics import tolerance
from crosscheck.model.cases import Case
from crosscheck.model.records import KINDS, CaseResult  # noqa: F401 (the record types)
from crosscheck.numerics.compare import TensorComparison, compare, convert, judge, over_budget, with_noise
from crosscheck.model.target import ReturnError, Target
from crosscheck.model.vocabulary import backward_order, param_names, tensor_layer

def truth_and_noise(case: Case, X, Y, params, *, intermediates: bool = True):
    """Torch float64 (the truth) and the measured noise at the case's dtype, both computed now.

    float32: |torch float32 - truth|, torch's own error at that precision.
    float64: |torch float64 with every input and intermediate nudged by a few
    ulps - truth|: how far float64 rounding moves this case; see ``tolerance``.
    ``check_case`` measures the noise only when it needs it (``Judge``).
    """
    from crosscheck.judge.oracle import mirror

    truth = mirror(case.network, X, Y, params, "float64", intermediates=intermediates)
    return truth, measure_noise(case, X, Y, params, truth, intermediates=intermediates)[0]


def measure_noise(case: Case, X, Y, params, truth, *, intermediates: bool = True):
    """``(noise by name, the torch pass at the case's precision)``: one more torch pass."""
    from crosscheck.judge.oracle import mirror

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
    3. the conventions that are not bugs (``conventions``: ReLU subgradients at 0,
       torch's BCE clamp), accepted with a note (NumPy, only when the case has such
       a point);
    4. plus the measured noise (one more torch pass, at the case's precision),
       measured as the distance of torch's value from the conventions' range, so a
       kink that torch's own rounding flips does not count as noise;
    5. the finite-difference arbiter (``arbiter``) on what still disagrees: a kink
       within its step makes the disagreement a note, otherwise its verdict goes
       beside the finding.
    """

    def __init__(self, case: Case, X, Y, params, truth, *, update_lr: float | None = None):
        self.case, self.X, self.Y, self.params, self.truth = case, X, Y, params, truth
        self.dtype = case.dtype
        self.update_lr = update_lr
        self._scales = None
        self._rounding = self._noise = self._other = self._envelope = None
        self._envelope_done = False
        self._rounding32 = None
        self.arbitrated = False

    # -- the lazily measured pieces ---------------------------------------------------
    @property
    def scales(self) -> dict[int, float]:
        """``layer_scales`` of the truth (the floor's S per layer)."""
        if self._scales is None:
            self._scales = layer_scales(self.truth.grads)
        return self._scales

    @property
    def rounding(self):
        """``rounding.Rounding``: the bound of every element, at the case's precision."""
        if self._rounding is None:
            from crosscheck.numerics.rounding import bounds
            self._rounding = bounds(self.case.network, self.X, self.Y, self.params, self.truth.grads,
                                    self.dtype, update_lr=self.update_lr)
        return self._rounding

    @property
    def envelope(self):
        """``conventions.Envelope``, or None when torch's value is the only valid one."""
        if not self._envelope_done:
            from crosscheck.numerics.conventions import envelope
            self._envelope = envelope(self.case.network, self.Y, self.rounding)
            self._envelope_done = True
        return self._envelope

    def span(self, name: str):
        env = self.envelope
        return (env.lo[name], env.hi[name]) if env is not None and name in env.lo else None

    @property
    def noise(self) -> dict[str, np.ndarray]:
        """Measured noise by name: torch at the case's precision, distance from the valid range."""
        if self._noise is None:
            raw, self._other = measure_noise(self.case, self.X, self.Y, self.params, self.truth)
            if self.envelope is not None:
                for name, t in self.truth.grads.items():
                    span = self.span(name)
                    if span is not None:
                        other = self._other.grads[name].astype(np.float64)
                        lo, hi = np.minimum(span[0], t), np.maximum(span[1], t)
                        with np.errstate(invalid="ignore"):
                            raw[name] = np.maximum(np.maximum(lo - other, other - hi), 0.0)
            self._noise = raw
        return self._noise

    @property
    def measured(self) -> tuple[str, ...]:
        """The lazy pieces measured so far (``CaseResult.measured``)."""
        done = (("rounding", self._rounding is not None), ("conventions", self._envelope is not None),
                ("noise", self._noise is not None), ("arbiter", self.arbitrated))
        return tuple(name for name, used in done if used)

    def scale(self, name: str) -> float:
        return self.scales.get(tensor_layer(name) or 1, 0.0)

    def allowed(self, name: str, *, bound: bool = True, noise: bool = True) -> np.ndarray:
        """The per-element budget of tensor ``name`` with every term measured (see ``tolerance``).

        Elements may further differ from torch within ``span(name)`` (the conventions).
        """
        t = self.truth.grads[name]
        return tolerance.budget(t, self.noise.get(name) if noise else None, self.dtype, self.scale(name),
                                bound=self.rounding.bounds.get(name) if bound else None)

    def undefined_at_precision(self, name: str) -> np.ndarray | None:
        """Elements where torch at the case's precision (float32) is NaN or inf itself."""
        if self.dtype == "float64":
            return None
        self.noise
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
        rounded = floor + tolerance.BOUND_MULTIPLE * self.rounding.bounds[name]
        r = judge(conv, rounded, undefined=undefined)
        if r.status != "mismatch":
            return r
        span = self.span(name)
        if span is not None:
            r = self._conventional(conv, rounded, span, undefined)
            if r.status != "mismatch":
                return r
        allowed = self.allowed(name)
        with_noise(conv, self.noise.get(name))
        r = self._conventional(conv, allowed, span, undefined) if span is not None else \
            judge(conv, allowed, undefined=undefined)
        if r.status != "mismatch":
            return r
        if self.dtype == "float64" and self._within_float32(conv, name, span, undefined):
            r.note = "; ".join(x for x in (r.note, "within float32 rounding: the code seems to compute in float32 "
                                           "(declare dtype='float32' to judge it at that precision)") if x)
        _, over = over_budget(conv, allowed, span, undefined)
        from crosscheck.numerics.arbiter import arbitrate
        verdict = arbitrate(self.case.network, self.X, self.Y, self.params, name, conv.values, truth, over)
        self.arbitrated = True
        r.arbiter, r.arbiter_note = verdict.label, verdict.sentence()
        if verdict.label == "kink":
            r.status, r.note, r.arbiter_note = "agree", f"not a finding: {verdict.sentence()}", ""
        return r

    def _within_float32(self, conv, name, span, undefined) -> bool:
        """Whether a float64 candidate's disagreement is the size of float32 rounding."""
        from crosscheck.numerics.rounding import bounds
        if self._rounding32 is None:
            self._rounding32 = bounds(self.case.network, self.X, self.Y, self.params, self.truth.grads,
                                      "float32", update_lr=self.update_lr)
        truth = self.truth.grads[name]
        loose = tolerance.floor(truth, "float32", self.scale(name)) + \
            tolerance.BOUND_MULTIPLE * self._rounding32.bounds[name]
        return not over_budget(conv, loose, span, undefined)[1].any()

    def _conventional(self, conv, allowed, span, undefined) -> TensorComparison:
        """Judge within the conventions' range; note the elements only the range accepts."""
        r = judge(conv, allowed, envelope=span, undefined=undefined)
        _, plain_over = over_budget(conv, allowed, undefined=undefined)
        r.conventions = int(np.count_nonzero(plain_over)) - r.mismatches
        if r.conventions > 0:
            r.note = f"{r.conventions} element(s) accepted as {self.envelope.describe()}"
        else:
            r.conventions = 0
        return r


def check_case(target: Target, case: Case) -> CaseResult:
    """Run ``target`` on ``case`` and compare every tensor it returns with torch."""
    from crosscheck.judge.oracle import mirror

    X, Y, params = case.arrays()
    result = CaseResult(case, target.name)
    try:
        got, params = target.call(case.network, X, Y, params)  # "step": the truth at the params it began from
    except ReturnError as e:
        names = case.network.param_names()
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
    return judge_outputs(target, case, X, Y, params, got, mirror(case.network, X, Y, params, "float64"))


def judge_outputs(target: Target, case: Case, X, Y, params, got: dict, truth) -> CaseResult:
    """The end of ``check_case``: every tensor of ``got`` (the target's output) against ``truth`` (the
    float64 mirror)."""
    return judge_many([(target, case, X, Y, params, got, truth)])[0]


def judge_many(items: list[tuple]) -> list[CaseResult]:
    """``[judge_outputs(*item) for item in items]``, the floor stage of every case at once
    (``fastpath.compare_many``): how ``fastpath.check_chunk`` ends a chunk."""

    results, jobs, made = [], [], []
    for target, case, X, Y, params, got, truth in items:
        loss = truth.loss
        finite = math.isfinite(loss) if type(loss) is float else bool(np.isfinite(loss))
        results.append(CaseResult(case, target.name, loss=loss, undefined=not finite))
        lr = target.lr if target.returns in ("update", "step") else None
        judges: list[Judge] = []
        made.append(judges)
        jobs.append((_judged_names(case.network.depth, tuple(got), tuple(truth.grads), case.network.bias),
                     got, truth.grads,
                     case.dtype, functools.partial(_new_judge, judges, case, X, Y, params, truth, lr)))
    for result, comparisons, judges in zip(results, compare_many(jobs), made):
        result.comparisons = comparisons
        result.measured = judges[0].measured if judges else ()
    return results


@functools.lru_cache(maxsize=1024)
def _judged_names(depth: int, returned: tuple[str, ...], truths: tuple[str, ...], bias: bool = True) -> tuple[str, ...]:
    """The tensors judged, in backward order: every parameter gradient, and each intermediate the target
    returned (``dZ``/``dA``/``dX`` among ``returned``) that torch has a truth for (``truths``).
    A campaign meets a few dozen of these."""
    names = param_names(depth, bias)
    if any(k.startswith("d") for k in returned):
        names = names + [n for n in truths if n not in names and n in returned]
    return tuple(backward_order(names))


def _new_judge(judges: list, case, X, Y, params, truth, lr) -> "Judge":
    """The case's ``Judge``, made when the floor does not settle every tensor (kept in ``judges``)."""
    judges.append(Judge(case, X, Y, params, truth, update_lr=lr))
    return judges[-1]


def check_chunk(target: Target, cases: list[Case]) -> list[CaseResult]:
    """``[check_case(target, c) for c in cases]``, stage by stage: every case's arrays, then every run of
    the target, then every torch truth, then every comparison (the floor of the whole chunk at once,
    ``fastpath.compare_many``). The results are the same; the time is not: each stage's code stays warm
    in the processor's caches across the chunk, where case by case the reference, torch and NumPy evict
    each other. The campaign checks its cases this way.

    A case whose target raises (a crash, or a return value that cannot be read) is handed to
    ``check_case`` itself, which runs the target again and makes the record, traceback and all.
    """
    from crosscheck.judge.oracle import mirror

    arrays = [c.arrays() for c in cases]
    outputs = []
    for i, (case, (X, Y, params)) in enumerate(zip(cases, arrays)):
        try:
            got, params = target.call(case.network, X, Y, params)  # "step": the truth at the params it began from
            outputs.append(got)
            arrays[i] = (X, Y, params)
        except BaseException as e:  # the target's own failure: check_case records it below
            if isinstance(e, KeyboardInterrupt):
                raise
            outputs.append(None)
    truths = [mirror(c.network, X, Y, params, "float64") if got is not None else None
              for c, (X, Y, params), got in zip(cases, arrays, outputs)]
    judged = iter(judge_many([(target, case, X, Y, params, got, truth)
                              for case, (X, Y, params), got, truth in zip(cases, arrays, outputs, truths)
                              if got is not None]))
    return [check_case(target, case) if got is None else next(judged) for case, got in zip(cases, outputs)]
