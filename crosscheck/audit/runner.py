"""The audit: discover targets, run each in its own process, collect one record per target.

``audit_one(spec, options, emit)`` is the work for one target, a plain function
that returns a JSON-ready dict (the target's record) and streams one event per
case through ``emit``; ``audit_isolated`` runs it in a child process within the
limits and, when the child is killed or dies, builds the record from what was
streamed. ``audit_paths`` is the whole command: files, discovery, targets. With
``AuditOptions.workers`` N > 1 it keeps up to N of those children running at
once (files imported for discovery, then targets); records come out in file and
source order whatever order the children finish in, so the report is the one a
single worker writes (timings aside).

Inside ``audit_one`` the spine's ``fuzz`` draws and shrinks cases. After a first
failure Hypothesis stops drawing new cases early and moves on to shrinking, so
a failing target then gets a plain sweep of ``examples`` more cases (a second
seed, no shrinking): the per-tensor table and the conditions of each finding
rest on an unbiased sample, and a failure the first pass never drew still
becomes a finding (with the smallest case that showed it).

Budgets are counts, not seconds, so that a report depends on the seed and
the code alone and not on how busy the machine is: shrinking gets
``shrink_calls(examples)`` checks of the audited code (``_CallBudget``), the
sweep ``examples`` cases. Wall-clock time is only a safety net against a
target too slow for its limit: no new sweep case after ``SOFT_SHARE`` of the
limit, Hypothesis's own shrinking cap set to that share too, and the hard
limit kills the child.
"""
from __future__ import annotations

import functools
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from crosscheck.engine import loader
from crosscheck.audit import record
from crosscheck.audit.isolation import Limits, Outcome, run_job

#: Share of a target's time limit after which no new case is started, so that
#: shrinking and reporting end in time and only a real hang meets the hard limit.
SOFT_SHARE = 0.7
#: Share of the soft budget after which Hypothesis stops shrinking whatever the count (a safety net only:
#: ``shrink_calls`` ends shrinking first unless the target is far slower than its limit expects).
SHRINK_SHARE = 1.0


def shrink_calls(examples: int) -> int:
    """Checks of the audited code allowed for shrinking, beyond the ``examples`` drawn.

    A count, not seconds, so that the shrunk examples (and the whole report)
    do not depend on the machine's load. It replaces a wall-clock share of the
    time limit (0.35 x (10 s + 0.25 s per example)) and is about what that
    share allowed a typical failing tutorial (about 20 ms a check): 200 checks
    at 20 examples, 600 at the default 100.
    """
    return 100 + 5 * int(examples)


def default_timeout(examples: int) -> float:
    """Seconds allowed per target: a few for start-up, plus a fair share per example (shrinking included)."""
    return 10.0 + 0.25 * examples


@dataclass
class AuditOptions:
    examples: int = 100
    seed: int = 0
    timeout: float | None = None  # seconds per target; None: default_timeout(examples)
    memory_mb: int | None = 2048  # address space per target process beyond its start
    profile: str | None = None  # Hypothesis profile (``profiles``): None, no example database
    database: str | None = None  # example database folder, "none", or None for the profile's choice
    workers: int = 1  # targets audited at once, each in its own child process

    @property
    def seconds(self) -> float:
        return float(self.timeout) if self.timeout else default_timeout(self.examples)

    def to_dict(self) -> dict:
        """The settings that decide what is checked (``workers`` only decides how fast)."""
        d = {**asdict(self), "timeout": self.seconds}
        d.pop("workers")
        return d


@dataclass
class AuditRun:
    """Every target's record, in file and source order, plus what went wrong around them."""

    records: list[dict] = field(default_factory=list)
    options: AuditOptions = field(default_factory=AuditOptions)
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    internal_errors: list[str] = field(default_factory=list)

    @property
    def invalid(self) -> list[dict]:
        return [r for r in self.records if r["verdict"] == "invalid"]

    @property
    def agree(self) -> bool:
        return all(r["verdict"] == "agree" for r in self.records)


class NoTargets(ValueError):
    """The paths hold no decorated function: a one-line reason."""


# -- the whole command ---------------------------------------------------------------

def audit_paths(paths, options: AuditOptions | None = None,
                on_record: Callable[[dict], None] | None = None, on_event=None) -> AuditRun:
    """Audit every ``@audit_target`` function in ``paths`` (files or folders).

    Raises ``loader.PathError`` for a missing path and ``NoTargets`` when no
    file declares a target. A file that cannot be imported becomes an
    ``invalid`` record; every other target is still audited.
    """
    options = options or AuditOptions()
    start = time.monotonic()
    files = loader.collect_files(paths)
    run = AuditRun(options=options, files=[str(f) for f in files])
    candidates = [f for f in files if loader.mentions_targets(f)]
    if not candidates:
        where = ", ".join(str(p) for p in paths)
        raise NoTargets(f"no targets found in {where}: no .py file there uses @audit_target; decorate a "
                        f"function (X, Y, params) -> grads with @crosscheck.audit_target(activations=[...], loss=...)")
    with _children(options.workers) as run_all:
        discovered = run_all(functools.partial(discover, options=options), candidates)
        pending = []  # per file in order: its invalid record, or a future record per target
        for f, found in zip(candidates, discovered):
            if found.get("internal"):
                run.internal_errors.append(found["internal"])
            if found["error"] is not None:
                pending.append(("invalid", record.invalid(found["error"], str(f)), None))
                continue
            events = on_event if on_event is None or options.workers == 1 else _serialized(on_event)
            for spec, rec in zip(found["targets"], run_all(functools.partial(
                    audit_isolated, options=options, on_event=events), found["targets"], lazy=True)):
                pending.append(("target", rec, spec))
        for kind, rec, spec in pending:
            rec = rec() if callable(rec) else rec  # a target's record, once its child is done
            if kind == "target" and rec.get("internal_error"):
                run.internal_errors.append(f"{spec['name']}: {rec['internal_error']}")
            run.records.append(rec)
            if on_record:
                on_record(rec)
    if not run.records:
        raise NoTargets(f"no targets found in {', '.join(str(f) for f in candidates)}: these files mention "
                        f"audit_target but define no function decorated with @audit_target(...)")
    run.seconds = time.monotonic() - start
    return run


@contextmanager
def _children(workers: int):
    """``run_all(fn, items, lazy=False)``: ``fn(item)`` for each item, up to ``workers`` at once.

    Each call only waits on its child process, so threads are enough to keep
    ``workers`` children running. Eager calls return the outputs in input
    order; ``lazy=True`` returns one callable per item that waits for its output.
    """
    if workers <= 1:
        def run_all(fn, items, lazy=False):
            return [functools.partial(fn, item) for item in items] if lazy else [fn(item) for item in items]
        yield run_all
        return
    from concurrent.futures import ThreadPoolExecutor

    from crosscheck.audit.isolation import context

    context()  # set up the fork server once, before threads start children from it
    with ThreadPoolExecutor(workers, thread_name_prefix="crosscheck-audit") as pool:
        def run_all(fn, items, lazy=False):
            futures = [pool.submit(fn, item) for item in items]
            return [f.result for f in futures] if lazy else [f.result() for f in futures]
        yield run_all


def _serialized(fn):
    """``fn`` called by one thread at a time (progress callbacks from several children)."""
    import threading

    lock = threading.Lock()

    def call(*args, **kwargs):
        with lock:
            return fn(*args, **kwargs)
    return call


def discover(path, options: AuditOptions) -> dict:
    """The targets of one file, found by importing it in a child process."""
    out = run_job({"kind": "discover", "file": str(path)}, Limits(options.seconds, options.memory_mb))
    if out.ended == "done":
        return out.value
    how = {"timeout": f"the import did not finish within the time limit of {out.timeout:g} s",
           "signal": f"the process importing it died of {out.signal_name}",
           "exit": f"the process importing it exited with status {out.exitcode} (os._exit or exit() in C code)",
           }.get(out.ended) or f"crosscheck failed: {out.error['type']}: {out.error['message']}"
    where = out.location()
    if where and out.ended != "error":
        how += f" at {where}"
    error = {"type": out.ended, "message": how, "line": None, "function": None, "declaration": False,
             "reason": f"{path}: cannot import it: {how}"}
    found = {"file": str(path), "targets": [], "error": error}
    if out.ended == "error":
        found["internal"] = f"{path}: {out.error['type']}: {out.error['message']}"
    return found


def audit_isolated(spec: dict, options: AuditOptions, on_event=None) -> dict:
    """``audit_one`` in a child process: the record it returns, or one built from what it streamed."""
    limit = options.seconds
    job = {"kind": "audit", "spec": spec,
           "options": {"examples": int(options.examples), "seed": options.seed, "budget": SOFT_SHARE * limit,
                       "timeout": limit, "profile": options.profile, "database": options.database}}
    out = run_job(job, Limits(limit, options.memory_mb), on_event)
    if out.ended == "done":
        return out.value
    results = [e["result"] for e in out.events if e.get("event") == "result"]
    rec = record.assemble(spec, results, None, examples_requested=options.examples, seconds=out.seconds,
                          fatal=fatal_finding(out), timeout=limit)
    if out.ended == "error":
        rec["internal_error"] = f"{out.error['type']}: {out.error['message']}"
    return rec


def fatal_finding(out: Outcome) -> dict:
    """The finding for a child that did not finish: timeout, signal, early exit or our own error."""
    case = out.in_progress
    where = out.location()
    if out.ended == "error":
        return record.unfinished("crash", f"crosscheck itself failed while auditing this target (please report "
                                 f"it): {out.error['type']}: {out.error['message']}", case, out.error["type"])
    kind = "timeout" if out.ended == "timeout" else "crash"
    return record.unfinished(kind, _ending(out), case, out.signal_name or out.ended, where=where)


def _ending(out: Outcome) -> str:
    n = sum(1 for e in out.events if e.get("event") == "result")
    done = f"after {n} case{'s' if n != 1 else ''} checked"
    if out.ended == "timeout":
        return (f"the target did not finish within the time limit of {out.timeout:g} s ({done}; "
                f"raise --timeout if it is only slow)")
    if out.ended == "signal":
        name = out.signal_name
        why = {"SIGSEGV": "a segmentation fault", "SIGBUS": "a bus error", "SIGABRT": "an abort",
               "SIGKILL": "SIGKILL (out of memory?)", "SIGFPE": "a floating-point exception"}.get(name, name)
        return f"the process running the target died of {why} {done}"
    if out.ended == "exit":
        return (f"the process running the target exited with status {out.exitcode} without finishing "
                f"(os._exit or exit() in C code) {done}")
    return f"crosscheck failed in the child: {out.error['type']}: {out.error['message']}"


# -- one target, inside its process -------------------------------------------------

def audit_one(spec: dict, options: dict, emit: Callable[[dict], None] | None = None) -> dict:
    """Audit one target; returns its record (JSON-ready) and streams ``{"event": "case"|"result", ...}``.

    ``options``: ``examples``, ``seed``, ``budget`` (seconds after which the
    sweep starts no new case, and shrinking is cut to fit), ``timeout`` (the
    hard limit, for messages), and ``profile`` and ``database`` for the
    example database (failures found before are replayed first).
    """
    from crosscheck.drawing import strategies
    from crosscheck.engine.fuzz import fuzz
    from crosscheck.judge.trajectory import check_target_case  # training targets: step by step against torch.optim

    start = time.monotonic()
    emit = emit or (lambda event: None)
    examples, seed = int(options.get("examples", 100)), int(options.get("seed", 0))
    budget = options.get("budget")
    try:
        target = loader.load_target(spec)
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        return record.invalid(loader.import_error(Path(spec["file"]), e), spec["file"], spec=spec)

    def announce(case):  # the parent learns which case was running if the process dies
        emit({"event": "case", "case": case.to_dict()})
        return case

    results: list[dict] = []

    def on_result(result, phase="fuzz"):
        d = record.result_dict(result, phase)
        results.append(d)
        emit({"event": "result", "result": d})

    strategy = strategies.for_target(target).map(announce)
    calls = _CallBudget(check_target_case, examples + shrink_calls(examples))
    with _shrinking_limited(SHRINK_SHARE * budget if budget else None):
        run = fuzz(target, examples=examples, seed=seed, strategy=strategy, on_result=on_result,
                   check=calls, diagnose=False, profile=options.get("profile"),
                   database=options.get("database"))
    for f in run.findings:
        _diagnose(target, f)
    findings = [record.finding_dict(f, shrunk=True) for f in run.findings]
    stopped = run.stopped
    if run.findings:
        deadline = start + budget if budget else None
        extra, skipped = _sweep(target, strategy, examples, seed + 1, on_result, known=run.findings,
                                first_index=len(results), deadline=deadline)
        findings += extra
        if skipped:
            stopped = stopped or (f"time limit: the sweep after shrinking stopped at {budget:.3g} s with {skipped} "
                                  f"of {examples} cases left; raise --timeout to check them")
    rec = record.assemble(spec, results, findings, examples_requested=examples,
                          seconds=time.monotonic() - start, stopped=stopped, timeout=options.get("timeout"))
    rec["replayed"] = getattr(run, "replayed", 0)  # saved failures of earlier runs, checked first
    return rec


class _CallBudget:
    """``check`` for at most ``limit`` new cases; past that, new cases are rejected without a check.

    Hypothesis treats a rejected case as neither passing nor failing, so
    shrinking, which keeps only smaller failures, stalls and ends after a few
    hundred cheap rejections, keeping the smallest failure found within the
    count. Cases checked before are still checked, so Hypothesis's final
    replay of each minimal example is the real check. Counting calls instead
    of seconds makes the result independent of the machine's speed and load.
    """

    def __init__(self, check, limit: int):
        self.check, self.limit, self.calls, self.seen = check, int(limit), 0, set()

    def __call__(self, target, case):
        import json

        key = json.dumps(case.to_dict(), sort_keys=True, default=repr)
        if key not in self.seen:
            if self.calls >= self.limit:
                from hypothesis import reject
                reject()
            self.calls += 1
            self.seen.add(key)
        return self.check(target, case)


@contextmanager
def _shrinking_limited(seconds: float | None):
    """Cap the time Hypothesis spends shrinking (its own cap is five minutes).

    # NOTE: this sets a module constant of Hypothesis's engine, read when
    # shrinking starts; it is done only in the child process that runs one
    # target, and undone after. Without it a slow target's shrinking meets the
    # hard time limit and its shrunk examples are lost.
    """
    try:
        from hypothesis.internal.conjecture import engine
    except ImportError:  # pragma: no cover - a Hypothesis without it: keep its own cap
        engine = None
    if seconds is None or engine is None or not hasattr(engine, "MAX_SHRINKING_SECONDS"):
        yield
        return
    before = engine.MAX_SHRINKING_SECONDS
    engine.MAX_SHRINKING_SECONDS = max(1.0, seconds)
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = before


def _diagnose(target, finding) -> None:
    """Fill ``finding.diagnosis`` and ``.message``; the diagnosis runs the audited code again, which may
    fail in any way (even ``sys.exit``): then the finding keeps the labels of its kind and says why."""
    from crosscheck.diagnosis import diagnose_finding

    try:
        finding.diagnosis, finding.message = diagnose_finding(target, finding)
        if finding.kind == "nonfinite":
            from crosscheck.judge.fragility import fragility
            finding.fragile = fragility(target, finding.result.case)
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        finding.diagnosis = list(record.KIND_LABELS.get(finding.kind, []))
        finding.message = f"(no diagnosis: it failed with {type(e).__name__}: {str(e)[:200]})"


def _sweep(target, strategy, examples: int, seed: int, on_result, *, known, first_index: int,
           deadline: float | None) -> tuple[list[dict], int]:
    """Check ``examples`` more cases without shrinking; failures of a new kind become findings.

    Returns the new findings and how many cases were skipped because ``deadline`` passed.
    """
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import seed as hseed
    from hypothesis import settings as hsettings

    from crosscheck.engine.fuzz import Finding, failure_key
    from crosscheck.judge.trajectory import check_target_case

    seen: list = []
    skipped = [0]

    def test(case):
        if deadline is not None and time.monotonic() > deadline:
            skipped[0] += 1  # out of time: pass quickly so Hypothesis ends the sweep
            return
        result = check_target_case(target, case)
        on_result(result, "sweep")
        seen.append(result)

    opts = hsettings(max_examples=examples, phases=[Phase.generate], database=None, deadline=None,
                     suppress_health_check=list(HealthCheck), print_blob=False)
    hseed(seed)(opts(given(strategy)(test)))()
    keys = [failure_key(target, f.result) for f in known]
    new: dict[tuple, list[tuple[int, object]]] = {}
    for i, r in enumerate(seen):
        if not r.agree:
            new.setdefault(failure_key(target, r), []).append((first_index + i + 1, r))
    out = []
    for key, group in new.items():
        if any(key[0] == k[0] and set(key[1:]) <= set(k[1:]) for k in keys):
            continue  # a known failure (fuzz's key), or the same one showing in fewer tensors
        _, smallest = min(group, key=lambda t: record.case_size(t[1].case.to_dict()))
        finding = Finding(smallest.kind, smallest.finding_tensors(), smallest, min(i for i, _ in group))
        _diagnose(target, finding)
        out.append(record.finding_dict(finding, shrunk=False))
    return out, skipped[0]
