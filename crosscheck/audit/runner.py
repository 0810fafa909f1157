"""The audit: discover targets, audit each with its function in its own process, one record per target.

``audit_one(target, spec, options)`` is the work for one target. It runs here, in the audit's
process: Hypothesis draws and shrinks cases, torch computes the truth, the judge compares,
diagnosis explains, records are built. Only the audited function runs elsewhere: ``target.fn``
is a proxy (``sandbox.proxy``) that sends each call to the target's child process, so nothing
the audited code does to its own process can change a verdict. ``audit_isolated`` opens that
child, and when the target's kill limit passes or its process ends too often
(``sandbox.TargetAbandoned``) the record is built from the cases checked so far.
``audit_paths`` is the whole command: files, discovery, targets. With ``AuditOptions.workers``
N > 1, up to N targets are audited at once, each in a process of crosscheck's own (the audited
code still runs only in its own child); records come out in file and source order whatever
order they finish in, so the report is the one a single worker writes (timings aside).

After a first failure Hypothesis stops drawing new cases early and moves on to shrinking, so
a failing target then gets a plain sweep of ``examples`` more cases (a second seed, no
shrinking): the per-tensor table and the conditions of each finding rest on an unbiased
sample, and a failure the first pass never drew still becomes a finding (with the smallest
case that showed it). Then the confirming case (the first finding's minimal example, or the
first case checked) is run twice more: different answers are a ``nondeterministic`` finding.
Every budget is a count of cases and calls: shrinking gets ``shrink_calls(examples)`` checks
per distinct failure found (``_CallBudget``), the sweep ``examples`` cases; so the same seed gives the same record under any
load, and wall-clock time is only the kill limit.
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
from crosscheck.audit.sandbox import LoadFailed, Limits, Sandbox, TargetAbandoned, TargetDied, proxy

def shrink_calls(examples: int) -> int:
    """Checks of the audited code allowed for shrinking each distinct failure, beyond the
    ``examples`` drawn (``_CallBudget``).

    A count, not seconds, so that the shrunk examples (and the whole report)
    do not depend on the machine's load: 200 checks at 20 examples, 600 at the default 100.
    """
    return 100 + 5 * int(examples)


def default_timeout(examples: int) -> float:
    """Seconds of its own process's time allowed per target (the kill limit): a few for start-up,
    plus a fair share per example (shrinking included)."""
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
    #: per target name: {finding index in its record: {tensor: replay.Elementwise}} for the heatmaps
    heatmaps: dict[str, dict[int, dict]] = field(default_factory=dict)

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
                on_record: Callable[[dict], None] | None = None, on_event=None,
                done: dict[str, dict] | None = None) -> AuditRun:
    """Audit every ``@audit_target`` function in ``paths`` (files or folders).

    Raises ``loader.PathError`` for a missing path and ``NoTargets`` when no
    file declares a target. A file that cannot be imported becomes an
    ``invalid`` record; every other target is still audited. ``done`` holds the
    records of targets a resumed audit finished before (``journal.read``): they
    are kept as they are, not audited again. ``on_record`` gets each record, in
    order, as soon as it is known (``app.audit_command`` streams them).
    """
    from crosscheck.audit.journal import key

    done = done or {}
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
            events = on_event if options.workers == 1 else None  # cases are counted in the worker's process
            todo = [spec for spec in found["targets"] if key(spec) not in done]
            futures = iter(run_all(functools.partial(audit_isolated, options=options, on_event=events), todo,
                                   lazy=True))
            for spec in found["targets"]:
                rec = (done[key(spec)], {}) if key(spec) in done else next(futures)
                pending.append(("target", rec, spec))
        for kind, rec, spec in pending:
            if kind == "target":
                rec, heatmaps = rec if isinstance(rec, tuple) else rec()
                if heatmaps:
                    run.heatmaps[rec["name"]] = heatmaps
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

    Each call runs in a process of crosscheck's own (started from a fork server that has
    imported torch and Hypothesis once): Hypothesis and torch are not shared between threads.
    Eager calls return the outputs in input order; ``lazy=True`` returns one callable per item
    that waits for its output.
    """
    if workers <= 1:
        def run_all(fn, items, lazy=False):
            return [functools.partial(fn, item) for item in items] if lazy else [fn(item) for item in items]
        yield run_all
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["crosscheck.audit.runner", "torch", "hypothesis", "crosscheck.judge.oracle"])
    pool = ProcessPoolExecutor(workers, mp_context=ctx)

    def run_all(fn, items, lazy=False):
        futures = [pool.submit(fn, item) for item in items]
        return [f.result for f in futures] if lazy else [f.result() for f in futures]
    try:
        yield run_all
    except BaseException:  # an interrupt: stop the audits running now rather than wait for them
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()  # each target's child hears of it (PR_SET_PDEATHSIG) and ends its own
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def discover(path, options: AuditOptions) -> dict:
    """The targets of one file, found by importing it in a child process."""
    box = Sandbox(str(path), None, Limits(options.seconds, options.memory_mb, restarts=0))
    try:
        found = box.discover()
        ok = isinstance(found.get("targets"), list) and (found.get("error") is None or isinstance(found["error"], dict))
        if ok:
            return {"file": str(path), "targets": [t for t in found["targets"] if isinstance(t, dict)],
                    "error": found.get("error")}
        how = "the process importing it sent back something that is not a list of targets"
    except TargetAbandoned as e:
        how = f"the import did not finish within the time limit of {options.seconds:g} s"
        where = e.location
        how += f" at {where}" if where else ""
    except TargetDied as e:
        how = str(e).replace("the process running the target", "the process importing it")
        where = _location(e)
        how += f" at {where}" if where else ""
    finally:
        box.close()
    error = {"type": "import", "message": how, "line": None, "function": None, "declaration": False,
             "reason": f"{path}: cannot import it: {how}"}
    return {"file": str(path), "targets": [], "error": error}


def _location(e: BaseException) -> str | None:
    from crosscheck.audit.sandbox import user_frame

    return user_frame("\n".join(getattr(e, "__notes__", []) or []))


def audit_isolated(spec: dict, options: AuditOptions, on_event=None) -> tuple[dict, dict]:
    """``(record, heatmaps)`` of one target: ``audit_one`` with the audited function in its own process."""
    start = time.monotonic()
    try:
        decl = loader.declared(spec.get("declaration"), what=f"{spec.get('file')}: the declaration of "
                                                             f"{spec.get('function')}")
    except (TypeError, ValueError) as e:
        error = {"type": type(e).__name__, "message": str(e), "line": spec.get("line"),
                 "function": spec.get("function"), "declaration": True, "reason": str(e)}
        return record.invalid(error, spec["file"], spec=spec), {}
    with Sandbox(spec["file"], spec["function"], Limits(options.seconds, options.memory_mb)) as box:
        try:
            fn = proxy(box)
        except LoadFailed as e:
            return record.invalid(e.error, spec["file"], spec=spec), {}
        except TargetAbandoned as e:
            fatal = record.unfinished("timeout" if e.kind == "timeout" else "crash",
                                      f"{e.message} (while importing its file)", None, e.kind, where=e.location)
            return record.assemble(spec, [], None, examples_requested=options.examples,
                                   seconds=time.monotonic() - start, fatal=fatal, timeout=options.seconds), {}
        except TargetDied as e:
            fatal = record.unfinished("crash", f"{e} while importing its file", None, type(e).__name__,
                                      where=_location(e))
            return record.assemble(spec, [], None, examples_requested=options.examples,
                                   seconds=time.monotonic() - start, fatal=fatal, timeout=options.seconds), {}
        target = loader.make_target(spec["name"], fn, decl, spec["file"])
        return audit_one(target, spec, options, on_event)


# -- one target ---------------------------------------------------------------------------

def audit_one(target, spec: dict, options: AuditOptions, on_event: Callable[[dict], None] | None = None
              ) -> tuple[dict, dict]:
    """Audit one target: ``(record, heatmaps)``; ``on_event({"event": "result", ...})`` per case checked.

    ``target.fn`` may be the audited function itself or the proxy of its process; the example
    database of ``options`` (profile, database) is keyed by the target's file and function, so
    failures saved by earlier runs are replayed first.
    """
    from crosscheck.drawing import strategies
    from crosscheck.engine.fuzz import fuzz
    from crosscheck.judge.trajectory import check_target_case  # training targets: step by step against torch.optim

    start = time.monotonic()
    emit = on_event or (lambda event: None)
    examples, seed = int(options.examples), int(options.seed)
    results: list[dict] = []
    crashed: list = []  # the CaseResults that raised, for linking a crash to a bug another finding names
    current: list[dict | None] = [None]

    def announce(case):  # the case running when the kill limit passes is the timeout's example
        current[0] = case.to_dict()
        return case

    def on_result(result, phase="fuzz"):
        d = record.result_dict(result, phase)
        results.append(d)
        if getattr(result, "crash", None) is not None:
            crashed.append(result)
        current[0] = None
        emit({"event": "result", "result": d})

    strategy = strategies.for_target(target).map(announce)
    findings: list[dict] | None = []
    stopped, fatal, replayed, notes = None, None, 0, []
    try:
        calls = _CallBudget(check_target_case, examples, shrink_calls(examples))
        run = fuzz(target, examples=examples, seed=seed, strategy=strategy, on_result=on_result,
                   check=calls, diagnose=False, profile=options.profile,
                   database=_database(spec, options))
        replayed, stopped = getattr(run, "replayed", 0), run.stopped
        diagnosed = list(run.findings)
        for f in diagnosed:
            _diagnose(target, f)
        if run.findings:
            diagnosed += _sweep(target, strategy, examples, seed + 1, on_result, known=run.findings,
                                first_index=len(results))
        from crosscheck.diagnosis import explain_crashes
        explain_crashes(diagnosed, crashed)  # a crash raised by a bug another finding names
        findings += [_as_record(f) for f in diagnosed]
        confirming = findings[0]["example"] if findings else (results[0]["case"] if results else None)
        if confirming is not None:
            twice, notes = _confirm(target, confirming)
            findings += twice
    except TargetAbandoned as e:
        if e.kind == "crash" and any(r.get("crash") for r in results):
            stopped = _ending(e, len(results))  # the endings are findings already, read off the cases
        else:
            fatal = record.unfinished(e.kind, _ending(e, len(results)), current[0], e.kind, where=e.location)
        if not findings:
            findings = None  # read them off the cases checked so far
    rec = record.assemble(spec, results, findings, examples_requested=examples,
                          seconds=time.monotonic() - start, stopped=stopped, fatal=fatal, timeout=options.seconds)
    rec["replayed"] = replayed  # saved failures of earlier runs, checked first
    if notes:
        rec["notes"] = notes
    heatmaps = {} if fatal is not None else _heatmaps(target, rec)
    return rec, heatmaps


class _CallBudget:
    """``check`` for at most ``examples`` new cases plus ``per_failure`` for each distinct failure
    found (``fuzz.failure_key``); past that, new cases are rejected without a check.

    Hypothesis shrinks one distinct failure after another, so a budget shared by all of them
    let the first ones use it up and left the last unshrunk; each failure found adds its own
    share. Hypothesis treats a rejected case as neither passing nor failing, so shrinking,
    which keeps only smaller failures, stalls and ends after a few hundred cheap rejections,
    keeping the smallest failure found within the count. Cases checked before are still
    checked, so Hypothesis's final replay of each minimal example is the real check. Every
    count depends only on the cases, so the same seed gives the same audit under any load.
    """

    def __init__(self, check, examples: int, per_failure: int):
        self.check, self.examples, self.per_failure = check, int(examples), int(per_failure)
        self.calls, self.seen, self.failures = 0, set(), set()

    @property
    def limit(self) -> int:
        return self.examples + self.per_failure * max(1, len(self.failures))

    def __call__(self, target, case):
        import json

        from crosscheck.engine.fuzz import failure_key

        key = json.dumps(case.to_dict(), sort_keys=True, default=repr)
        if key not in self.seen:
            if self.calls >= self.limit:
                from hypothesis import reject
                reject()
            self.calls += 1
            self.seen.add(key)
        result = self.check(target, case)
        if not result.agree:
            self.failures.add(failure_key(target, result))  # the key fuzz tells failures apart by
        return result


def _database(spec: dict, options: AuditOptions):
    """The example database for this target, keyed by its file's path and its function."""
    from crosscheck.engine import profiles

    key = f"{Path(spec['file']).resolve()}::{spec['function']}"
    db = profiles.database_for(key, options.database, options.profile)
    return "none" if db is None else db


def _ending(e: TargetAbandoned, checked: int) -> str:
    done = f"after {checked} case{'s' if checked != 1 else ''} checked"
    if e.kind == "timeout":
        return f"{e.message} ({done}; raise --timeout if it is only slow)"
    return f"{e.message} ({done})"


def _confirm(target, example: dict) -> tuple[list[dict], list[str]]:
    """The target called twice more on ``example``: a ``nondeterministic`` finding if the answers
    differ, and the reader's note on what it ignored (``model.returns``)."""
    from crosscheck.engine.replay import case_from_example, twice
    from crosscheck.model.returns import ReturnError, unpack

    case = case_from_example(example, target)
    first, second, same = twice(target, case)
    notes = []
    if isinstance(first, (dict, list, tuple)):
        try:
            got = unpack(first, case.network.depth, dtype=case.dtype, bias=case.network.bias,
                         intermediates=bool(target.options.get("intermediates")))
            if got.note():
                notes.append(got.note())
        except ReturnError:
            pass
    if same:
        return [], notes
    return [record.nondeterministic(example, first, second)], notes


def _heatmaps(target, rec: dict) -> dict[int, dict]:
    """Element by element data of each finding's minimal example, while the target's process is up:
    ``{finding index: {tensor: Elementwise}}`` (``reports.html`` draws them)."""
    import numpy as np

    from crosscheck.engine.replay import case_from_example, elementwise

    options = (rec.get("declaration") or {}).get("options") or {}
    if options.get("optimizer") or options.get("steps"):
        return {}  # training code: parameters after k steps, not gradients
    out = {}
    for i, f in enumerate(rec["findings"]):
        drawable = [c["tensor"] for c in f.get("comparisons") or [] if c.get("status") in ("mismatch", "nonfinite")]
        if not drawable or not isinstance(f.get("example"), dict):
            continue
        try:
            with np.errstate(all="ignore"):
                out[i] = elementwise(target, case_from_example(f["example"], target), drawable)
        except (Exception, TargetAbandoned):  # failed differently this time, or out of time: no heatmap
            continue
    return out


def _diagnose(target, finding) -> None:
    """Fill ``finding.diagnosis`` and ``.message``; the diagnosis runs the audited code again, which may
    fail in any way (even ``sys.exit``): then the finding keeps the labels of its kind and says why."""
    from crosscheck.diagnosis import diagnose_finding

    if finding.kind == "shape" and all(c.note or c.status == "missing" for c in finding.result.failing):
        # what came back is not a gradient (None, a str, a complex array, a dict without b2):
        # the comparison says what it was; there is nothing to diagnose
        finding.diagnosis, finding.message = list(record.KIND_LABELS["shape"]), ""
        return
    try:
        finding.diagnosis, finding.message = diagnose_finding(target, finding)
        from crosscheck.judge.fragility import classify
        classify(target, [finding])
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        finding.diagnosis = list(record.KIND_LABELS.get(finding.kind, []))
        finding.message = f"(no diagnosis: it failed with {type(e).__name__}: {str(e)[:200]})"


def _as_record(finding) -> dict:
    """A finding as an entry of audit.json's ``findings``: the one finding serializer (``Finding.to_dict``),
    without the example's whole result (the record keeps every checked case apart); the diagnosis' sentence
    is ``diagnosis_message``, since ``record.assemble`` writes the finding's own sentence as ``message``."""
    d = finding.to_dict(result=False)
    d["diagnosis_message"] = d.pop("message")
    return d


def _sweep(target, strategy, examples: int, seed: int, on_result, *, known, first_index: int) -> list:
    """Check ``examples`` more cases without shrinking; failures of a new kind become findings
    (diagnosed ``Finding``s)."""
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import seed as hseed
    from hypothesis import settings as hsettings

    from crosscheck.engine.fuzz import Finding, failure_key
    from crosscheck.judge.trajectory import check_target_case

    seen: list = []

    def test(case):
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
        finding.shrunk = False
        out.append(finding)
    return out
