"""The campaign runner: many checks spread over processes or machines, one report.

A campaign never lets the number of workers decide what is checked:

1. the case list is drawn in advance, case ``i`` a pure function of
   ``(seed, i)`` (``sampler.seeded_case``), so any process can draw it;
2. the checks run on any ``concurrent.futures``-style executor: inline in this
   process (``workers=1``), a process pool (``workers=N``) or a
   dask.distributed cluster (``scheduler=ADDRESS``), in chunks, with a bounded
   number in flight so memory stays flat; every result goes to the results
   stream (``stream``) as it arrives;
3. every distinct failure (kind and failing tensors, as in ``fuzz``) is shrunk
   here with Hypothesis, starting from the first case that showed it
   (``shrink``).

Results are reported in case order, then the shrinking attempts in the order
Hypothesis made them, so 1 worker and 8 workers give reports identical in
content. Torch runs on one thread in every process: tiny tensors gain nothing
from more, on a shared machine extra threads spin against each other, and the
same thread count everywhere keeps float32 sums bitwise the same.

``distribute(fn, items, ...)`` is the same machinery for any per-item work
(audit targets, training cases, mutants): results come back in input order.
"""
from __future__ import annotations

import concurrent.futures as cf
import functools
import itertools
import time
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any, Callable, Iterable, Iterator

from crosscheck.drawing.sampler import Bounds, seeded_case, seeded_choices, shrinking_cases
from crosscheck.judge.fragility import classify

#: Chunks in flight per worker: enough to keep workers busy, few enough for flat memory.
WINDOW_PER_WORKER = 4
MAX_CHUNK = 128


class CampaignError(ValueError):
    """Bad campaign settings (one line, said to the user as a usage error)."""


# -- executors ----------------------------------------------------------------------------

class InlineExecutor(cf.Executor):
    """Runs each task at once in this process: the one-worker executor."""

    def submit(self, fn, /, *args, **kwargs):
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - handed to the caller through the future
            if isinstance(e, KeyboardInterrupt):
                raise
            future.set_exception(e)
        return future


def single_thread_torch() -> None:
    """One torch thread in this process (see the module docstring); called in every worker."""
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


@contextmanager
def executor_for(workers: int = 1, scheduler: str | None = None, executor: cf.Executor | None = None):
    """The executor a campaign runs on, as a context manager that shuts down what it started.

    ``executor`` (any ``concurrent.futures.Executor``) wins; then ``scheduler``,
    the address of a dask.distributed scheduler (``tcp://host:8786``); then
    ``workers`` > 1, a process pool; else inline.
    """
    if executor is not None:
        yield executor
        return
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise CampaignError("--scheduler needs dask.distributed: pip install 'crosscheck[dask]'") from None
        try:
            client = Client(scheduler, timeout=10, set_as_default=False)
        except (OSError, TimeoutError) as e:
            raise CampaignError(f"--scheduler {scheduler}: cannot reach a dask scheduler there ({e}); "
                                f"start one with `dask scheduler` and `dask worker {scheduler}`") from None
        try:
            yield client.get_executor(pure=False)
        finally:
            client.close()
        return
    if workers is None or workers < 1:
        raise CampaignError(f"--workers must be at least 1, got {workers}")
    if workers == 1:
        yield InlineExecutor()
        return
    import multiprocessing

    # spawn, not fork: a forked child of a process whose torch thread pool is up can hang.
    pool = cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                  initializer=single_thread_torch)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _workers_of(executor) -> int:
    if isinstance(executor, InlineExecutor):
        return 1
    n = getattr(executor, "_max_workers", None)
    if n:
        return int(n)
    client = getattr(executor, "_client", None)
    if client is not None:
        try:
            return max(1, sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()))
        except Exception:  # noqa: BLE001 - only a sizing hint
            return 2
    return 2


def run_chunks(fn: Callable[[list], list], items: Iterable, executor: cf.Executor, *, chunksize: int | None = None,
               window: int | None = None, count: int | None = None) -> Iterator[tuple[int, Any, Any]]:
    """Yield ``(position, item, output)`` for each item as its chunk completes.

    ``fn(chunk) -> outputs`` takes a list of items and returns one output per
    item; it must be picklable (a module-level function) for process pools
    and dask. At most ``window`` chunks are in flight at once. ``items`` may be
    any iterable: chunks are cut from it as they are submitted (``count``, its
    length when it is not a sized collection, sizes the chunks).
    """
    n = len(items) if count is None else count
    workers = _workers_of(executor)
    if chunksize is None:
        chunksize = 1 if workers == 1 else max(1, min(MAX_CHUNK, n // (workers * 8) or 1))
    window = window or (1 if workers == 1 else WINDOW_PER_WORKER * workers)  # inline: each chunk out before the next
    source = iter(items)
    position = [0]
    running: dict[cf.Future, tuple[int, list]] = {}

    def submit_next() -> bool:
        chunk = list(itertools.islice(source, chunksize))
        if not chunk:
            return False
        running[executor.submit(fn, chunk)] = (position[0], chunk)
        position[0] += len(chunk)
        return True

    try:
        while len(running) < window and submit_next():
            pass
        while running:
            done, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: running[f][0]):
                start, chunk = running.pop(future)
                for offset, (item, out) in enumerate(zip(chunk, future.result())):
                    yield start + offset, item, out
                submit_next()
    finally:
        for future in running:
            future.cancel()


def _call_each(fn, chunk):
    return [fn(item) for item in chunk]


def _each(fn):
    return functools.partial(_call_each, fn)


def distribute(fn: Callable[[Any], Any], items: Iterable, *, workers: int = 1, scheduler: str | None = None,
               executor: cf.Executor | None = None, chunksize: int | None = None) -> Iterator[Any]:
    """``fn(item)`` for every item, spread over workers; outputs in input order.

    The entry point for other commands (audit targets, training cases,
    mutants): ``fn`` must be a module-level function and items picklable.
    Outputs are yielded as soon as every earlier one is in.
    """
    items = list(items)
    with executor_for(workers, scheduler, executor) as ex:
        buffered: dict[int, Any] = {}
        nxt = 0
        for i, _, out in run_chunks(_each(fn), items, ex, chunksize=chunksize):
            buffered[i] = out
            while nxt in buffered:
                yield buffered.pop(nxt)
                nxt += 1


# -- the fuzz campaign -------------------------------------------------------------------

def check_seeded(target, seed: int, family, bounds: Bounds, indices: list[int]) -> list:
    """Worker task: draw cases ``indices`` of the campaign and check them (``check.check_chunk``)."""
    from crosscheck.judge.check import check_chunk

    single_thread_torch()
    return check_chunk(target, [seeded_case(seed, i, family, bounds) for i in indices])


def not_done(examples: int, done) -> Iterator[int]:
    """The indices ``0..examples-1`` not in ``done`` (sorted), one at a time: no list of every index."""
    k, n = 0, len(done)
    for i in range(examples):
        while k < n and done[k] < i:
            k += 1
        if k < n and done[k] == i:
            continue
        yield i


def campaign_header(target, examples: int, seed: int, bounds: Bounds) -> dict:
    return {"command": "fuzz", "target": target.name, "seed": seed, "examples": examples,
            "family": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(target.family).items()},
            "bounds": asdict(bounds)}


#: Key of the campaign's minimal failing examples in the example database (``profiles.database_for``).
DATABASE_KEY = b"crosscheck-campaign"


def fuzz_campaign(target, *, examples: int = 100, seed: int = 0, bounds: Bounds = Bounds(), workers: int = 1,
                  scheduler: str | None = None, executor: cf.Executor | None = None, report: str | None = None,
                  resume: bool = False, on_result: Callable | None = None, diagnose: bool = True,
                  profile: str | None = None, database=None, in_order: Callable | None = None,
                  all_rows: bool = True):
    """Check ``examples`` seeded cases of ``target`` and shrink every distinct failure.

    With ``report`` (a folder), results stream to ``report/results.jsonl`` as
    they complete and ``FuzzRun.results`` reads them back lazily in case order
    (memory stays flat however many cases); with ``resume``, cases already in
    that stream from an earlier run with the same arguments are not checked
    again. ``profile`` and ``database`` choose the example database as for
    ``fuzz.fuzz``: the minimal failures of earlier runs kept there are checked
    first (``FuzzRun.replayed`` counts them) and shrunk again if they still fail.
    ``on_result(result)`` sees each result as it completes; ``in_order(result)``
    sees them in ``FuzzRun.results`` order (a few chunks are held back when
    workers finish out of order), which is how ``crosscheck fuzz`` writes its
    reports while the campaign runs. With ``all_rows`` false the stream keeps an agreeing case
    folded into one row (``CaseResult.folded``). Returns a ``fuzz.FuzzRun`` like ``fuzz.fuzz``;
    its ``skipped_lines`` counts the damaged lines a resumed stream had.
    """
    from crosscheck.engine import profiles
    from crosscheck.judge.check import check_case
    from crosscheck.engine.fuzz import FuzzRun
    from crosscheck.engine.stream import StreamWriter, read

    examples = profiles.example_count(profile, examples)
    if examples < 1:
        raise CampaignError(f"--examples must be at least 1, got {examples}")
    single_thread_torch()
    db = profiles.database_for(target, database, profile)
    saved = saved_failures(db, target.family, bounds)
    header = campaign_header(target, examples, seed, bounds)
    writer, done, skipped, resumed = None, (), 0, ()
    if report is not None:
        if resume:
            writer, done, skipped = StreamWriter.resume(report, header, all_rows=all_rows)
            resumed = read(report).results()  # the kept lines, before any new one
        else:
            writer = StreamWriter(report, header, all_rows=all_rows)
    kept: dict[int, Any] | None = {} if writer is None else None
    failures: dict[tuple, tuple[int, Any]] = {}
    start = time.perf_counter()
    # indices run -len(saved)..-1 (replays), 0..examples-1 (cases), then examples.. (shrinking) without gaps
    held: dict[int, Any] = {}
    next_in_order = [-len(saved)]

    def record(i: int, result, phase: str) -> None:
        if writer is not None and phase != "resumed":
            writer.result(i, phase, result)
        if kept is not None:
            kept[i] = result
        if on_result is not None:
            on_result(result)
        if in_order is not None:
            held[i] = result
            while next_in_order[0] in held:
                in_order(held.pop(next_in_order[0]))
                next_in_order[0] += 1
        if phase != "shrink" and not result.agree:
            key = failure_key(target, result)
            if key not in failures or failures[key][0] > i:  # the first case, whatever order they finish in
                failures[key] = (i, result)

    try:
        for k, (_, case) in enumerate(saved):  # earlier failures first, indices before 0
            record(k - len(saved), check_case(target, case), "replay")
        for i, result in zip(done, resumed):
            record(int(i), result, "resumed")
        with executor_for(workers, scheduler, executor) as ex:
            # in this process too, cases go in chunks, checked stage by stage (``check.check_chunk``),
            # one at a time so each chunk's results are on disk before the next starts
            inline = _workers_of(ex) == 1
            task = functools.partial(check_seeded, target, seed, target.family, bounds)
            for _, i, result in run_chunks(task, not_done(examples, done), ex, count=examples - len(done),
                                           chunksize=MAX_CHUNK if inline else None, window=1 if inline else None):
                record(i, result, "generate")
        def picks_of(i: int) -> list[int]:
            return saved[i + len(saved)][0] if i < 0 else seeded_choices(seed, i, target.family, bounds)[1]

        findings, stopped = shrink(target, failures, picks_of, examples=examples, bounds=bounds, seed=seed,
                                   offset=len(saved), on_result=lambda i, r: record(i, r, "shrink"),
                                   diagnose=diagnose)
        keep_failures(db, saved, findings)
    except KeyboardInterrupt:
        if writer is not None:
            writer.record("end", seconds=round(time.perf_counter() - start, 3), complete=False,
                          stopped="interrupted; every completed result is in the results stream")
            writer.close()
        raise
    except BaseException:
        if writer is not None:
            writer.close()
        raise
    seconds = time.perf_counter() - start
    if writer is not None:
        for f in findings:
            writer.finding(f)
        writer.record("end", seconds=round(seconds, 3), stopped=stopped, complete=True)
        writer.close()
        results = read(report).results()
    else:  # case order, then the shrinking attempts, whatever order the workers finished in
        results = [kept[i] for i in sorted(kept)]
    return FuzzRun(target.name, results=results, findings=findings, seconds=seconds, stopped=stopped,
                   replayed=len(saved), skipped_lines=skipped, seed=seed)


def saved_failures(db, family, bounds: Bounds) -> list[tuple[list[int], Any]]:
    """The (picks, case) of the minimal failures an earlier campaign kept in ``db``."""
    if db is None:
        return []
    from hypothesis.database import choices_from_bytes

    from crosscheck.drawing.sampler import replayed_case

    out = []
    for blob in sorted(db.fetch(DATABASE_KEY)):
        picks = choices_from_bytes(blob)
        case = replayed_case(list(picks), family, bounds) if picks is not None else None
        if case is None:
            db.delete(DATABASE_KEY, blob)  # drawn for another family or an older format
        else:
            out.append((list(picks), case))
    return out


def keep_failures(db, saved, findings) -> None:
    """Keep each finding's minimal example in ``db``; forget saved ones that no longer fail."""
    if db is None:
        return
    from hypothesis.database import choices_to_bytes

    keep = {choices_to_bytes(f.case.extra["picks"]) for f in findings if f.case.extra.get("picks")}
    for picks, _ in saved:
        blob = choices_to_bytes(picks)
        if blob not in keep:
            db.delete(DATABASE_KEY, blob)
    for blob in keep:
        db.save(DATABASE_KEY, blob)


def failure_key(target, result) -> tuple:
    """What makes two failures distinct: ``fuzz.failure_key``, the one rule of every fuzz run."""
    from crosscheck.engine.fuzz import failure_key as rule

    return rule(target, result)


def shrink(target, failures: dict, picks_of: Callable[[int], list[int]], *, examples: int, bounds: Bounds,
           seed: int = 0, offset: int = 0, on_result: Callable[[int, Any], None] | None = None,
           diagnose: bool = True):
    """Shrink the first case of each distinct failure with Hypothesis; returns (findings, stopped).

    The picks that drew each failing case are handed to Hypothesis as saved
    examples, so it replays exactly those cases, then shrinks each distinct
    failure separately (``fuzz.fuzz`` with phases reuse and shrink). A failure
    Hypothesis cannot reproduce keeps its unshrunk case, with a note.
    """
    if not failures:
        return [], None
    from hypothesis import Phase

    from crosscheck.engine.fuzz import Finding, fuzz

    entries = [picks_of(i) for i, _ in sorted(failures.values(), key=lambda v: v[0])]
    seen_in_shrink: dict[tuple, int] = {}
    counter = [examples]

    def record(result):
        i = counter[0]
        counter[0] += 1
        if not result.agree:
            seen_in_shrink.setdefault(failure_key(target, result), i)
        if on_result is not None:
            on_result(i, result)

    settings = {"database": saved_examples(entries), "phases": (Phase.reuse, Phase.shrink),
                "max_examples": max(examples, len(entries))}
    run = fuzz(target, examples=max(examples, len(entries)), seed=seed, strategy=shrinking_cases(target.family, bounds),
               settings=settings, on_result=record, diagnose=diagnose)
    found = {failure_key(target, f.result): f for f in run.findings}
    for key, f in found.items():
        first = failures[key][0] if key in failures else seen_in_shrink.get(key, examples)
        f.first_seen = first + offset + 1
    notes = []
    for key, (i, result) in failures.items():
        if key in found:
            continue
        f = Finding(result.kind, result.finding_tensors(), result, i + offset + 1, shrunk=False)
        if diagnose:
            from crosscheck.diagnosis import diagnose_finding
            f.diagnosis, f.message = diagnose_finding(target, f)
            classify(target, [f])
        found[key] = f
        notes.append(f"case {i + offset + 1} did not fail again when Hypothesis replayed it, so it is reported unshrunk")
    findings = sorted(found.values(), key=Finding.order)
    stopped = "; ".join(filter(None, [run.stopped, *notes])) or None
    return findings, stopped


def saved_examples(choice_lists: list[list[int]]):
    """A Hypothesis example database holding these pick sequences as earlier failures.

    They are served under the secondary key, the corpus of failing examples
    that Hypothesis replays and then shrinks (entries under the primary key
    count as already shrunk and would be replayed without shrinking).
    """
    from hypothesis.database import ExampleDatabase, choices_to_bytes

    blobs = [choices_to_bytes(c) for c in choice_lists]

    class SavedExamples(ExampleDatabase):
        def fetch(self, key: bytes):
            return iter(blobs) if key.endswith(b".secondary") else iter(())

        def save(self, key: bytes, value: bytes) -> None:
            pass

        def delete(self, key: bytes, value: bytes) -> None:
            pass

    return SavedExamples()
