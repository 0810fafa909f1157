"""Durability: every result on disk as it completes; a killed run rebuilt and resumed."""
import json

import pytest

from crosscheck.app import cli
from crosscheck.engine.campaign import fuzz_campaign
from crosscheck.judge.check import check_case
from crosscheck.drawing.sampler import Bounds, seeded_case
from crosscheck.engine.stream import STREAM_FILE, StreamError, StreamWriter, read
from crosscheck.model.records import CaseResult
from crosscheck.model.target import reference_target

SMALL = Bounds(max_depth=2, max_width=6, max_batch=4)


def test_a_result_survives_the_round_trip_through_json():
    r = check_case(reference_target(), seeded_case(0, 3, None, SMALL))
    back = CaseResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back.case == r.case and back.agree == r.agree
    assert [c.message for c in back.comparisons] == [c.message for c in r.comparisons]


def test_every_result_is_a_line_and_results_read_back_in_case_order(tmp_path):
    run = fuzz_campaign(reference_target(), examples=8, seed=2, bounds=SMALL, report=tmp_path)
    lines = (tmp_path / STREAM_FILE).read_text().splitlines()
    kinds = [json.loads(l)["type"] for l in lines]
    assert kinds[0] == "run" and kinds.count("result") == len(run.results) and kinds[-1] == "end"
    assert [r.case for r in run.results][:8] == [seeded_case(2, i, reference_target().family, SMALL) for i in range(8)]


def _kill_halfway(folder, keep: int):
    """What a kill leaves: the header, ``keep`` results, and a last line cut short."""
    path = folder / STREAM_FILE
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:1 + keep]) + lines[1 + keep][:40])


def test_a_killed_run_is_rebuilt_and_resumed(tmp_path, capsys):
    args = ["fuzz", "--examples", "10", "--seed", "3", "--profile", "ci", "--report", str(tmp_path)]
    assert cli.main(args) == 0
    full = json.loads((tmp_path / "summary.json").read_text())
    _kill_halfway(tmp_path, 4)
    for name in ("fuzz.csv", "fuzz.md", "summary.json"):
        (tmp_path / name).unlink()
    assert cli.main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "4 results" in out and "rerun with --resume" in out
    assert json.loads((tmp_path / "summary.json").read_text())["cases"] == 4
    assert cli.main(args + ["--resume"]) == 0
    resumed = json.loads((tmp_path / "summary.json").read_text())
    for k in ("seconds", "cases_per_second"):
        resumed.pop(k), full.pop(k)
    assert resumed == full


def test_resume_refuses_a_stream_of_other_arguments(tmp_path):
    header = {"command": "fuzz", "target": "reference", "seed": 1, "examples": 5}
    StreamWriter(tmp_path, header).close()
    with pytest.raises(StreamError, match="seed 1 there, 2 now"):
        StreamWriter.resume(tmp_path, {**header, "seed": 2})


def test_report_on_a_folder_without_a_stream_says_so(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path)]) == 2
    assert "results.jsonl not found" in capsys.readouterr().err
    with pytest.raises(StreamError):
        read(tmp_path)


@pytest.mark.parametrize("damage", ["cut", "byte", "foreign"])
def test_a_damaged_or_foreign_line_is_skipped_counted_and_said(tmp_path, capsys, damage):
    args = ["fuzz", "--examples", "6", "--seed", "3", "--profile", "ci", "--report", str(tmp_path)]
    assert cli.main(args) == 0
    full = (tmp_path / "fuzz.csv").read_text()
    path = tmp_path / STREAM_FILE
    lines = path.read_text().splitlines(keepends=True)
    if damage == "cut":
        lines[3] = lines[3][:50] + "\n"
    elif damage == "byte":
        lines[3] = lines[3].replace('"comparisons":[[', '"comparisons":[{', 1)
    else:
        lines.insert(3, '{"type": "result", "from": "another program"}\n')
    path.write_text("".join(lines))
    assert read(tmp_path).skipped == 1
    capsys.readouterr()
    assert cli.main(["report", str(tmp_path)]) in (0, 1)
    out = capsys.readouterr().out
    assert "1 line of" in out and "skipped" in out and "Traceback" not in out
    assert cli.main(args + ["--resume"]) == 0
    assert "1 damaged or foreign line" in capsys.readouterr().out
    assert (tmp_path / "fuzz.csv").read_text() == full  # the damaged case was checked again
