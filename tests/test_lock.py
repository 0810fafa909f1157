"""One run per report folder (``engine.lock``): checked before any work, one holder at a time."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crosscheck.engine.lock import LOCK_FILE, FolderError, check_folder, claim, holder

HOLD = """
import sys, time
from crosscheck.engine.lock import claim
held = claim(sys.argv[1])
print("held", flush=True)
time.sleep(60)
"""


def hold(folder) -> subprocess.Popen:
    """Another process that claims ``folder`` and keeps it; returns once it holds it."""
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "held"
    return proc


def read_only_place(tmp_path) -> Path:
    """A folder no report can be written under: a chmod 555 folder, or for root (who writes anywhere) /sys."""
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        return ro / "report"
    if not Path("/sys").is_dir():
        pytest.skip("no read-only place to try as root")
    return Path("/sys/crosscheck-report")


@pytest.fixture
def holding(tmp_path):
    """Another process holding ``tmp_path / 'r'``; yields (folder, its PID)."""
    folder = tmp_path / "r"
    proc = hold(folder)
    yield folder, proc.pid
    proc.kill()
    proc.wait()


def test_a_report_path_that_is_a_file_or_under_a_file_is_refused_before_anything_is_made(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(FolderError, match=r"f: is a file, not a folder"):
        check_folder(tmp_path / "f")
    with pytest.raises(FolderError, match=r"is a file, so no folder can be made under it"):
        claim(tmp_path / "f" / "a" / "b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_a_read_only_place_is_refused_in_one_line(tmp_path):
    with pytest.raises(FolderError, match=r"cannot (create the folder|write there)") as e:
        claim(read_only_place(tmp_path))
    assert "\n" not in str(e.value)


def test_a_second_run_is_refused_at_once_naming_the_holders_pid(holding):
    folder, pid = holding
    start = time.perf_counter()
    with pytest.raises(FolderError, match=rf"another crosscheck run \(PID {pid}\) is writing there"):
        claim(folder)
    assert time.perf_counter() - start < 1
    assert holder(folder) == pid  # the holder keeps its lock


def test_a_stale_lock_of_a_dead_run_is_taken_over_with_a_note(tmp_path):
    folder = tmp_path / "r"
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(proc.stdout)
    folder.mkdir()
    (folder / LOCK_FILE).write_text(f"{dead}\n")  # what a run killed with -9 leaves
    with claim(folder) as held:
        assert held.note == f"{folder} was locked by PID {dead}, which is no longer running; lock taken over"
        assert holder(folder) == os.getpid()
    assert not (folder / LOCK_FILE).exists()


def test_the_lock_goes_with_the_run_and_a_folder_it_made_goes_if_left_empty(tmp_path):
    with claim(tmp_path / "a" / "b") as held:
        assert (tmp_path / "a" / "b" / LOCK_FILE).exists() and held.note is None
    assert not (tmp_path / "a").exists()
    with claim(tmp_path / "c") as held:
        (held.path / "report.md").write_text("kept")
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["report.md"]


def test_one_process_cannot_claim_one_folder_twice(tmp_path):
    with claim(tmp_path):
        with pytest.raises(FolderError, match=rf"PID {os.getpid()}"):
            claim(tmp_path)


def test_another_runs_results_stream_is_refused_without_resume_or_overwrite(tmp_path):
    (tmp_path / "results.jsonl").write_text('{"type":"run"}\n')
    with claim(tmp_path, stream=True):  # a header alone: the run stopped before its first result
        pass
    (tmp_path / "results.jsonl").write_text('{"type":"run"}\n{"type":"result","index":0}\n')
    with pytest.raises(FolderError, match="holds the results stream of an earlier run.*add --resume to continue it, "
                                          "--overwrite to replace it"):
        claim(tmp_path, stream=True)
    assert not (tmp_path / LOCK_FILE).exists()  # refused: nothing held
    for kw in ({"resume": True}, {"overwrite": True}):
        with claim(tmp_path, stream=True, **kw):
            pass
    with claim(tmp_path):  # a command that writes no stream (train) shares the folder
        pass
