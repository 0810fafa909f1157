"""``crosscheck audit``: exit codes, one-line reasons, and the report files."""
import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from crosscheck.app.cli import main

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "examples" / "tutorials"

AGREEING = """
    from crosscheck import audit_target

    @audit_target(activations=["identity"], loss="mse", reduction="sum")
    def linear(X, Y, params):
        [(W, b)] = params
        dZ = 2 * (X @ W.T + b - Y)
        return [(dZ.T @ X, dZ.sum(axis=0))]
"""


def write(folder, name, text):
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def run_cli(args, capsys):
    code = main(["audit", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_missing_path_is_a_usage_error(tmp_path, capsys):
    code, _, err = run_cli([tmp_path / "nowhere.py", "--report", tmp_path / "r"], capsys)
    assert code == 2
    assert err.strip().count("\n") == 0 and "nowhere.py: no such file or folder" in err


def test_no_targets_is_a_usage_error(tmp_path, capsys):
    write(tmp_path, "tutorial.py", "import numpy as np\n")
    code, _, err = run_cli([tmp_path, "--report", tmp_path / "r"], capsys)
    assert code == 2 and "no targets found" in err and err.strip().count("\n") == 0
    write(tmp_path, "mentions.py", "# audit_target is used elsewhere\nx = 1\n")
    code, _, err = run_cli([tmp_path, "--report", tmp_path / "r"], capsys)
    assert code == 2 and "no targets found" in err


@pytest.mark.parametrize("args, message", [(["--timeout", "0"], "--timeout"), (["--examples", "0"], "--examples"),
                                           (["--memory", "10"], "--memory")])
def test_bad_options_are_usage_errors(tmp_path, capsys, args, message):
    path = write(tmp_path, "ok.py", AGREEING)
    code, _, err = run_cli([path, *args], capsys)
    assert code == 2 and message in err


def test_a_misused_decorator_exits_2_but_the_rest_is_audited_and_reported(tmp_path, capsys):
    write(tmp_path, "a_good.py", AGREEING)
    write(tmp_path, "b_bad.py", """
        from crosscheck import audit_target

        @audit_target(activations=["relu"], loss="hinge")
        def f(X, Y, params):
            return []
    """)
    code, out, err = run_cli([tmp_path, "--examples", "5", "--database", "none", "--report", tmp_path / "r"], capsys)
    assert code == 2
    assert "b_bad.py:4: misused @audit_target" in err and "hinge" in err
    data = json.loads((tmp_path / "r" / "audit.json").read_text())
    verdicts = {t["name"]: t["verdict"] for t in data["targets"]}
    assert verdicts == {"a_good.linear": "agree", "b_bad.f": "invalid"}


def test_all_agree_exits_0_with_the_four_report_files(tmp_path, capsys):
    path = write(tmp_path, "good.py", AGREEING)
    code, out, _ = run_cli([path, "--examples", "6", "--database", "none", "--report", tmp_path / "r"], capsys)
    assert code == 0 and "agree     good.linear" in out
    for name in ("audit.json", "audit.csv", "audit.md", "audit.html"):
        assert (tmp_path / "r" / name).stat().st_size > 0


def test_the_tutorials_through_the_installed_command(tmp_path):
    """The README's main command, as the Makefile runs it: findings on purpose, so exit 1."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "crosscheck", "audit", str(TUTORIALS), "--examples", "10",
                           "--timeout", "20", "--database", "none", "--report", str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    data = json.loads((tmp_path / "audit.json").read_text())
    by_name = {t["name"]: t for t in data["targets"]}
    assert {n: t["verdict"] for n, t in by_name.items()} == {
        "layered_audit.layered_three_layers": "agree",
        "layered_audit.layered_float32_step": "agree",
        "linear_regression_audit.linear_regression": "disagree",
        "relu_rows_audit.relu_two_layer": "disagree",
        "xor_columns_audit.xor_two_layer": "agree",
    }

    # the documented shape of audit.json
    for t in data["targets"]:
        assert {"name", "file", "verdict", "examples", "tensors", "findings"} <= set(t)
        for x in t["tensors"]:
            assert {"name", "agree", "max_abs_err", "max_rel_err", "mismatch_fraction"} <= set(x)
        for f in t["findings"]:
            assert {"kind", "tensors", "diagnosis", "message", "example"} <= set(f)
            assert {"sizes", "batch", "dtype", "seed"} <= set(f["example"])
            assert f["kind"] in ("mismatch", "nonfinite", "shape", "crash", "timeout")

    relu = by_name["relu_rows_audit.relu_two_layer"]
    assert {x["name"] for x in relu["tensors"] if x["agree"] is False} == {"W1", "b1", "W2", "b2"}
    kinds = {f["kind"] for f in relu["findings"]}
    assert kinds == {"crash", "mismatch"}
    crashes = [f for f in relu["findings"] if f["kind"] == "crash"]
    assert crashes and all("relu_rows.py" in f["message"] for f in crashes)  # the tutorial's own lines
    assert len({f["crash"]["location"] for f in crashes}) == len(crashes)  # one finding per raising line

    linear = by_name["linear_regression_audit.linear_regression"]
    assert [x["max_rel_err"] for x in linear["tensors"]] == pytest.approx([0.5, 0.5])  # half the MSE gradient

    with open(tmp_path / "audit.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 + 4 + 2 + 4 + 4  # one row per target and tensor
    md = (tmp_path / "audit.md").read_text()
    html = (tmp_path / "audit.html").read_text()
    for name in by_name:
        assert f"## {name}: {by_name[name]['verdict']}" in md
        assert name in html
    assert "<table" in html and "relu_rows.py" in html
    # heatmap data computed by the audit while the target's process was up reached the page: drawn, or too
    # small to show a pattern (the tutorials' minimal examples are 1-wide), never missing
    assert "No heatmap: none was computed." not in html
    assert 'aria-label="heatmap of' in html or "smaller than 2 x 2" in html
    assert "relu_rows_audit.relu_two_layer" in proc.stdout and proc.stderr == ""


def test_each_crash_shrinks_to_the_smallest_network_raising_it_on_its_line(tmp_path):
    """relu_rows' ReLU mask from X (line 52) raises when in != hidden and in > 1: 2-3-1 at batch 1 is the
    smallest such network; its dW2 from X (line 54) raises when the hidden width is 1: 2-1-1."""
    proc = subprocess.run([sys.executable, "-m", "crosscheck", "audit", str(TUTORIALS / "relu_rows_audit.py"),
                           "--seed", "3", "--database", "none", "--report", str(tmp_path)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    [target] = json.loads((tmp_path / "audit.json").read_text())["targets"]
    crashes = [f for f in target["findings"] if f["kind"] == "crash"]
    assert all(f["shrunk"] for f in crashes)
    smallest = {f["crash"]["location"]: (f["example"]["sizes"], f["example"]["batch"]) for f in crashes}
    assert smallest == {"relu_rows.py:52 in train_step": ([2, 3, 1], 1),
                        "relu_rows.py:54 in train_step": ([2, 1, 1], 1)}


def test_failures_are_kept_in_the_example_database_and_replayed_first(tmp_path, capsys):
    path = write(tmp_path, "crashy.py", """
        from crosscheck import audit_target

        @audit_target(activations=["identity"], loss="mse")
        def crashes_on_wide_inputs(X, Y, params):
            if X.shape[1] > 3:
                raise IndexError("only three features supported")
            [(W, b)] = params
            dZ = 2 * (X @ W.T + b - Y) / Y.size
            return [(dZ.T @ X, dZ.sum(axis=0))]
    """)
    args = [path, "--examples", "8", "--database", tmp_path / "db", "--report", tmp_path / "r"]
    first, out1, _ = run_cli(args, capsys)
    second, out2, _ = run_cli(args, capsys)
    assert first == second == 1
    assert "replayed first" not in out1 and "1 failing example saved by an earlier run replayed first" in out2
    data = json.loads((tmp_path / "r" / "audit.json").read_text())
    [finding] = data["targets"][0]["findings"]
    assert finding["kind"] == "crash" and "IndexError: only three features supported" in finding["message"]
    assert finding["example"]["sizes"][0] == 4  # shrunk to the narrowest input that fails
