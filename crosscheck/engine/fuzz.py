"""The fuzz runner: Hypothesis draws cases, every case is checked and recorded,
and every distinct failure is shrunk to its minimal example.

Distinct failures (a crash when in != hidden, wrong gradients when in ==
hidden) are kept apart: each finding kind and set of failing tensors raises its
own exception class, so Hypothesis shrinks and reports each separately.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from crosscheck.model.cases import Case
from crosscheck.judge.check import check_case
from crosscheck.judge.fragility import classify
from crosscheck.model.records import CaseResult, Finding, finding_key
from crosscheck.model.target import Target


class FindingError(AssertionError):
    """Raised inside the Hypothesis test for a disagreeing case; carries the result."""

    def __init__(self, result: CaseResult):
        super().__init__(result.message())
        self.result = result


_FINDING_CLASSES: dict[tuple, type] = {}


def _finding_class(key: tuple) -> type:
    """One exception class per (kind, tensors): Hypothesis tells failures apart by type."""
    if key not in _FINDING_CLASSES:
        name = "Finding_" + "_".join(str(k) for k in key)
        _FINDING_CLASSES[key] = type(name, (FindingError,), {})
    return _FINDING_CLASSES[key]


def failure_key(target: Target, result: CaseResult) -> tuple:
    """The distinct-failure rule of every fuzz run (``fuzz`` and the campaign's): ``finding_key``,
    by tensor when the target's depth is fixed (its family fixes activations or sizes)."""
    return finding_key(result, target.family.activations is not None or target.family.sizes is not None)


@dataclass
class FuzzRun:
    target: str
    results: list[CaseResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    stopped: str | None = None  # why the run ended early, if it did
    replayed: int = 0  # saved failing examples replayed first from the example database
    seed: int | None = None  # the run's seed (``profiles.run_seed``): the same seed draws the same cases
    skipped_lines: int = 0  # damaged or foreign lines of the results stream, skipped on reading

    @property
    def agree(self) -> bool:
        return not self.findings


def fuzz(target: Target, *, examples: int = 100, seed: int = 0, strategy=None, settings: dict | None = None,
         on_result: Callable[[CaseResult], None] | None = None, diagnose: bool = True,
         check: Callable[[Target, object], CaseResult] | None = None, profile: str | None = None,
         database=None) -> FuzzRun:
    """Check ``examples`` Hypothesis-drawn cases of ``target`` against torch.

    Every checked case (including those tried while shrinking) is kept in
    ``FuzzRun.results`` and passed to ``on_result``; each distinct failure ends
    up in ``FuzzRun.findings`` with its minimal example. ``check(target, drawn)``
    replaces ``check_case`` for strategies that draw something other than a
    ``Case`` (``trajectory`` draws training cases).

    ``profile`` (``ci``, ``dev``, ``thorough``; see ``profiles``) scales a
    default example count and picks the example database; ``database`` (a
    folder, ``"none"`` or an ``ExampleDatabase``) overrides the latter. Saved
    failures of this target are replayed before new cases are drawn.
    """
    from hypothesis import given
    from hypothesis import seed as hseed
    from hypothesis import settings as hsettings

    from crosscheck.engine import profiles
    from crosscheck.drawing import strategies

    strategy = strategy if strategy is not None else strategies.for_target(target)
    run = FuzzRun(target.name, seed=seed)
    first_seen: dict[tuple, int] = {}

    def test(case: Case) -> None:
        result = (check or check_case)(target, case)
        run.results.append(result)
        if on_result is not None:
            on_result(result)
        if not result.agree:
            key = failure_key(target, result)
            first_seen.setdefault(key, len(run.results))
            raise _finding_class(key)(result)

    db = profiles.database_for(target, database, profile)
    opts = dict(max_examples=profiles.example_count(profile, examples), database=db,
                **profiles.hypothesis_settings(profile))
    opts.update(settings or {})
    # @settings goes on after @seed: @seed alone would switch the example database off.
    wrapped = hsettings(**opts)(hseed(seed)(given(strategy)(test)))
    start = time.perf_counter()
    errors: list[BaseException] = []
    try:
        wrapped()
    except FindingError as e:
        errors = [e]
    except BaseExceptionGroup as group:
        errors = list(_leaves(group))
    except Exception as e:  # Flaky and the like: keep every result, say why we stopped
        run.stopped = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        errors = [x for x in _leaves(e) if isinstance(x, FindingError)]
    run.seconds = time.perf_counter() - start
    run.replayed = getattr(db, "replayed", 0)
    for e in errors:
        if not isinstance(e, FindingError):
            run.stopped = run.stopped or f"{type(e).__name__}: {e}"
            continue
        key = failure_key(target, e.result)
        tensors = e.result.finding_tensors()
        run.findings.append(Finding(e.result.kind, tensors, e.result, first_seen.get(key, len(run.results))))
    if diagnose:
        from crosscheck.diagnosis import diagnose_finding, explain_crashes
        for f in run.findings:
            f.diagnosis, f.message = diagnose_finding(target, f)
        explain_crashes(run.findings, run.results)  # a crash raised by a bug another finding names
        classify(target, run.findings)
    run.findings.sort(key=Finding.order)
    return run


def _leaves(exc: BaseException):
    if isinstance(exc, BaseExceptionGroup):
        for sub in exc.exceptions:
            yield from _leaves(sub)
    else:
        yield exc
    cause = getattr(exc, "__cause__", None)
    if isinstance(cause, FindingError):
        yield cause
