"""Reports written while a campaign runs are the reports rebuilt from its results stream."""
import concurrent.futures as cf

from crosscheck.app import report_command
from crosscheck.engine import stream
from crosscheck.engine.campaign import fuzz_campaign
from crosscheck.reports import fuzz as fuzz_report
from crosscheck.drawing.sampler import Bounds
from crosscheck_test_targets import some_wrong_target

SMALL = Bounds(max_depth=2, max_width=5, max_batch=3)


TARGET = some_wrong_target()


class Reversed(cf.Executor):
    """Hands back each window of chunks last first: results arrive out of case order."""

    def __init__(self):
        self._max_workers = 2  # run_chunks then keeps several small chunks in flight
        self.pending = []

    def submit(self, fn, /, *args):
        future = cf.Future()
        self.pending.append((future, fn, args))
        if len(self.pending) == 3:
            self.flush()
        return future

    def flush(self):
        for future, fn, args in reversed(self.pending):
            future.set_result(fn(*args))
        self.pending = []


def _files(folder):
    """fuzz.csv and fuzz.md, the folder's own name (in replay commands) left out."""
    return {name: (folder / name).read_text().replace(str(folder), "DIR") for name in ("fuzz.csv", "fuzz.md")}


def test_reports_written_during_the_run_equal_the_rebuilt_ones(tmp_path, monkeypatch):
    live, rebuilt = tmp_path / "live", tmp_path / "rebuilt"
    seen = []
    report = fuzz_report.FuzzReport(live)

    def in_order(result):
        seen.append(result.case)
        report.add(result)

    executor = Reversed()
    waited = cf.wait

    def wait(futures, **kw):  # resolve a partial window before waiting on it
        if any(not f.done() for f in futures):
            executor.flush()
        return waited(futures, **kw)

    monkeypatch.setattr(cf, "wait", wait)
    run = fuzz_campaign(TARGET, examples=40, seed=3, bounds=SMALL, report=live, diagnose=False,
                        executor=executor, in_order=in_order)
    monkeypatch.undo()
    paths = report.finish(run)
    assert not (live / "fuzz.csv.part").exists()
    assert seen == [r.case for r in run.results]  # in_order saw FuzzRun.results order, not completion order
    assert run.findings and any(r.crash for r in run.results)

    (rebuilt / "results.jsonl").parent.mkdir()
    (rebuilt / "results.jsonl").write_bytes((live / "results.jsonl").read_bytes())
    report_command.rebuild_fuzz(stream.read(rebuilt), rebuilt)
    assert _files(live) == _files(rebuilt)
    assert paths["csv"].read_text().count("\n") == 1 + sum(max(len(r.comparisons), 1) for r in run.results)


def test_an_interrupted_report_leaves_the_previous_fuzz_csv(tmp_path):
    (tmp_path / "fuzz.csv").write_text("the previous run\n")
    report = fuzz_report.FuzzReport(tmp_path)
    run = fuzz_campaign(TARGET, examples=3, seed=0, bounds=SMALL, diagnose=False)
    report.add(run.results[0])
    report.close()
    assert (tmp_path / "fuzz.csv").read_text() == "the previous run\n"
    assert not (tmp_path / "fuzz.csv.part").exists()
