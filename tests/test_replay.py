"""`crosscheck replay REPORT FINDING`: a finding rebuilt from a report gives the same numbers, bit for bit."""
import json
import subprocess
import sys

import pytest

from crosscheck.app import cli
from crosscheck import reference_target
from crosscheck.model.cases import Case, Network
from crosscheck.judge.check import check_case
from crosscheck.engine.replay import elementwise, entries, replay, target_from_file
from crosscheck.model.records import Finding
from crosscheck.reports.tables import write_json


pytest_plugins = ["crosscheck_test_fixtures"]


@pytest.fixture
def report_and_run(failing_report):
    folder, session = failing_report
    return folder, session.checks[1].run


def test_replay_rebuilds_the_finding_and_every_number_is_bit_identical(report_and_run):
    report, run = report_and_run
    finding = run.findings[0]
    r = replay(report, 1)
    assert r.entry.id == "my_targets.half_w1:mismatch:W1"
    assert r.case == finding.case and r.case.to_dict() == finding.case.to_dict()
    assert r.identical, r.differences
    # every field of every comparison, floats to the last bit (repr round-trips; NaN equals NaN here),
    # against the run that found it
    def exact(comparisons):
        return json.dumps([c.to_dict() for c in comparisons], sort_keys=True)

    assert exact(r.result.comparisons) == exact(finding.result.comparisons)
    assert r.result.loss == finding.result.loss
    # and the arrays themselves: the same bits on every replay
    a = elementwise(r.target, r.case, ["W1"])["W1"]
    b = elementwise(target_from_file(r.target.file, "half_w1"), Case.from_dict(r.case.to_dict()), ["W1"])["W1"]
    for x, y in ((a.candidate, b.candidate), (a.truth, b.truth), (a.allowed, b.allowed)):
        assert x.tobytes() == y.tobytes()
    assert a.candidate.shape == a.truth.shape == (1, 1) and a.over.all()
    # the element view judges by the very budget the comparison used
    [w1] = [c for c in finding.result.comparisons if c.tensor == "W1"]
    assert a.allowed[tuple(w1.worst_index)] == w1.allowed_abs_err


def test_the_replay_command_prints_the_comparison_in_a_fresh_process(report_and_run):
    report, _ = report_and_run
    proc = subprocess.run([sys.executable, "-m", "crosscheck", "replay", str(report), "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr  # the finding is still there
    out = proc.stdout
    assert "finding 1 of" in out and "(my_targets.half_w1:mismatch:W1)" in out
    assert "case: 1-1-1 [relu, identity] mse/mean, batch 1, float64" in out
    assert "BAD W1: 1 / 1 elements mismatch (100%)" in out and "ok  b1: agrees" in out
    assert "<- over budget" in out
    assert "same figures as the report, bit for bit" in out


def test_findings_are_listed_and_picked_by_number_or_id(report_and_run, capsys):
    report, _ = report_and_run
    assert cli.main(["replay", str(report)]) == 0
    listing = capsys.readouterr().out
    assert "1 finding" in listing and "1. my_targets.half_w1:mismatch:W1" in listing
    assert cli.main(["replay", str(report / "pytest.json"), "my_targets.half_w1:mismatch:W1"]) == 1
    assert "bit for bit" in capsys.readouterr().out


def test_a_fuzz_summary_of_the_reference_replays_exactly(tmp_path):
    case = Case(Network((3, 4, 2), ("tanh", "sigmoid"), "bce", "sum"), batch=5, dtype="float32", regime="clamp",
                seed=7)
    result = check_case(reference_target(), case)

    record = Finding("mismatch", ["W1"], result, 1).to_dict()  # as the fuzz report writes it, of a case that agrees
    record["comparisons"] = [c.to_dict() for c in result.comparisons]
    write_json(tmp_path / "summary.json", {"target": "reference", "finding_details": [record]})
    r = replay(tmp_path, "1")
    assert r.target.name == "reference" and r.identical, r.differences


def test_a_changed_target_is_reported_as_differing_from_the_report(report_and_run, tmp_path):
    report, _ = report_and_run
    data = json.loads((report / "pytest.json").read_text())
    fixed = tmp_path / "my_targets.py"
    fixed.write_text(open(data["targets"][1]["file"]).read().replace("0.5 * dW1", "dW1"))
    data["targets"][1]["file"] = str(fixed)
    write_json(tmp_path / "pytest.json", data)
    r = replay(tmp_path, 1)
    assert r.result.agree and not r.identical
    assert any(d.startswith("W1.status: recorded 'mismatch', replayed 'agree'") for d in r.differences)


@pytest.mark.parametrize("args, message", [
    (["nowhere"], "nowhere: no such report file or folder"),
    (["{report}", "7"], "has 1 finding; FINDING must be 1..1 or an id, got 7"),
    (["{report}", "x:y:z"], "no finding 'x:y:z'; its findings are 1 (my_targets.half_w1:mismatch:W1)"),
    (["{report}/pytest.md", "1"], "replay reads the JSON report"),
    (["{empty}", "1"], "no report here; expected one of summary.json, audit.json, pytest.json"),
])
def test_bad_arguments_give_one_line_and_exit_2(report_and_run, tmp_path, capsys, args, message):
    report, _ = report_and_run
    argv = ["replay"] + [a.format(report=report, empty=tmp_path) for a in args]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_moved_target_file_says_so(report_and_run, tmp_path, capsys):
    report, _ = report_and_run
    data = json.loads((report / "pytest.json").read_text())
    data["targets"][1]["file"] = str(tmp_path / "gone.py")
    write_json(tmp_path / "pytest.json", data)
    assert cli.main(["replay", str(tmp_path), "1"]) == 2
    assert "gone.py: the target file recorded in the report does not exist" in capsys.readouterr().err


def test_entries_number_findings_across_targets(report_and_run):
    report, _ = report_and_run
    path, found = entries(report)
    assert path.name == "pytest.json"
    assert [(e.number, e.target) for e in found] == [(1, "my_targets.half_w1")]
