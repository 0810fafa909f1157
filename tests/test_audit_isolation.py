"""Audited code that raises, exits, segfaults, allocates without bound, hangs or returns junk:
each becomes a finding in its own record, and the audit goes on."""
import shutil
from pathlib import Path

import pytest

from crosscheck.audit import AuditOptions, audit_paths

TARGETS = Path(__file__).parent / "audit_targets"


@pytest.fixture(scope="module")
def misbehaving():
    # 512 MB of address space: the 1 GiB allocation fails only because of the limit
    run = audit_paths([TARGETS / "misbehaving.py"], AuditOptions(examples=5, seed=0, timeout=30, memory_mb=512))
    return {r["function"]: r for r in run.records}


def only_finding(record):
    assert len(record["findings"]) == 1, record["findings"]
    return record["findings"][0]


def test_every_target_gets_a_record(misbehaving):
    assert list(misbehaving) == ["raises", "calls_sys_exit", "calls_os_exit", "segfaults", "allocates_too_much",
                                 "returns_nan", "returns_strings", "returns_wrong_shape", "returns_a_number"]


def test_an_exception_is_a_crash_with_type_message_and_place(misbehaving):
    r = misbehaving["raises"]
    f = only_finding(r)
    assert r["verdict"] == "crashed" and f["kind"] == "crash"
    assert "RuntimeError: the tutorial gave up at misbehaving.py:" in f["message"]
    assert f["example"]["sizes"] == [1, 1, 1] and f["example"]["batch"] == 1  # shrunk


def test_sys_exit_is_caught_in_process(misbehaving):
    r = misbehaving["calls_sys_exit"]
    assert r["verdict"] == "crashed"
    assert "called sys.exit(3)" in only_finding(r)["message"]


def test_os_exit_ends_the_process_for_that_case_and_the_next_case_gets_a_new_one(misbehaving):
    r = misbehaving["calls_os_exit"]
    f = only_finding(r)
    assert r["verdict"] == "crashed" and f["kind"] == "crash"
    assert "exited with status 7" in f["message"]
    assert f["example"]["sizes"] == [1, 1, 1]  # the smallest case seen
    assert r["examples"] > 1 and "ended 11 times" in r["stopped"]  # new processes, up to the limit


def test_a_segfault_is_a_crash_with_the_faulting_line(misbehaving):
    r = misbehaving["segfaults"]
    f = only_finding(r)
    assert r["verdict"] == "crashed"
    assert "segmentation fault" in f["message"]
    assert "misbehaving.py:" in f["message"] and "in segfaults" in f["message"]


def test_the_memory_limit_turns_a_large_allocation_into_a_memory_error(misbehaving):
    f = only_finding(misbehaving["allocates_too_much"])
    assert f["kind"] == "crash" and "MemoryError" in f["message"]


def test_nan_is_a_nonfinite_finding_in_that_tensor(misbehaving):
    r = misbehaving["returns_nan"]
    f = only_finding(r)
    assert r["verdict"] == "disagree" and f["kind"] == "nonfinite" and f["tensors"] == ["W1"]
    assert {t["name"] for t in r["tensors"] if t["agree"] is False} == {"W1"}


def test_non_arrays_are_shape_findings_that_say_what_came_back(misbehaving):
    f = only_finding(misbehaving["returns_strings"])
    assert f["kind"] == "shape" and "str" in f["message"]
    f = only_finding(misbehaving["returns_a_number"])
    assert f["kind"] == "shape" and "float" in f["message"]


def test_a_wrong_shape_names_the_tensor_and_both_shapes(misbehaving):
    r = misbehaving["returns_wrong_shape"]
    f = only_finding(r)
    assert f["kind"] == "shape" and f["tensors"] == ["W2"]
    out, inp = f["example"]["sizes"][2], f["example"]["sizes"][1]
    assert f"shape ({out}, {inp + 1}) returned, shape ({out}, {inp}) expected" in f["message"]


def test_a_hang_is_a_timeout_the_results_so_far_are_kept_and_the_audit_goes_on(tmp_path):
    shutil.copy(TARGETS / "hangs.py", tmp_path / "hangs.py")
    (tmp_path / "zz_after.py").write_text(
        "from crosscheck import audit_target\n\n"
        "@audit_target(activations=['identity'], loss='mse', reduction='sum')\n"
        "def linear(X, Y, params):\n"
        "    [(W, b)] = params\n"
        "    dZ = 2 * (X @ W.T + b - Y)\n"
        "    return [(dZ.T @ X, dZ.sum(axis=0))]\n")
    run = audit_paths([tmp_path], AuditOptions(examples=20, timeout=4))
    by_name = {r["function"]: r for r in run.records}
    stuck = by_name["spins_forever"]
    assert stuck["verdict"] == "timeout" and stuck["examples"] == 0
    assert "did not finish within the time limit of 4 s" in only_finding(stuck)["message"]
    late = by_name["spins_after_five_cases"]
    assert late["verdict"] == "timeout"
    assert late["examples"] == 5 and all(t["agree"] is True and t["cases"] == 5 for t in late["tensors"])
    assert only_finding(late)["example"] is not None  # the sixth case, the one that hung
    # audited in full after them: 20 cases drawn (two of them may be one case, as a width 1 drawn and a
    # width 1 repeated are), none cut short
    linear = by_name["linear"]
    assert linear["verdict"] == "agree" and linear["stopped"] is None and 18 <= linear["examples"] <= 20


def test_a_target_that_tampers_with_its_own_process_still_disagrees():
    # at import it patches crosscheck's judge and torch's autograd and writes forged answers to every
    # file descriptor it finds; its gradients are doubled
    run = audit_paths([TARGETS / "tampering.py"], AuditOptions(examples=5, seed=0, timeout=60))
    [r] = run.records
    assert r["verdict"] == "disagree", r["findings"]
    f = r["findings"][0]
    assert f["kind"] == "mismatch" and set(f["tensors"]) == {"W1", "b1", "W2", "b2"}


def test_processes_the_target_starts_end_with_it(tmp_path, monkeypatch):
    import os
    import time

    pids = tmp_path / "pids"
    monkeypatch.setenv("CROSSCHECK_TEST_PIDS", str(pids))
    run = audit_paths([TARGETS / "daemons.py"], AuditOptions(examples=3, seed=0, timeout=60))
    assert [r["verdict"] for r in run.records] == ["agree", "agree"]
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 2  # the double-forked daemon in its own session, and the plain fork
    time.sleep(0.5)
    for pid in started:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"process {pid} started by the audited function is still running")


def test_files_that_hang_or_segfault_while_imported_are_invalid(tmp_path):
    (tmp_path / "hangs_on_import.py").write_text("from crosscheck import audit_target\nwhile True:\n    pass\n")
    (tmp_path / "segfaults_on_import.py").write_text(
        "import ctypes\nfrom crosscheck import audit_target\nctypes.string_at(0)\n")
    run = audit_paths([tmp_path], AuditOptions(examples=5, timeout=2))
    reasons = {r["name"]: r["reason"] for r in run.records}
    assert [r["verdict"] for r in run.records] == ["invalid", "invalid"]
    assert "the import did not finish within the time limit of 2 s" in reasons["hangs_on_import"]
    assert "died of a segmentation fault (SIGSEGV) at segfaults_on_import.py:3" in reasons["segfaults_on_import"]
