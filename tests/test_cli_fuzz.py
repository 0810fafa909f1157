"""`crosscheck fuzz`: exit codes and report files."""
import json
import subprocess
import sys

import pandas as pd
import pytest

import crosscheck.model.target
from crosscheck.app import cli
from crosscheck.model.target import Family, Target

CSV_COLUMNS = {"case", "depth", "sizes", "batch", "activations", "loss", "reduction", "dtype", "tensor", "shape",
               "max_abs_err", "max_rel_err", "mismatch_fraction", "agree"}


def test_fuzz_writes_reports_and_exits_0(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "crosscheck", "fuzz", "--examples", "40", "--seed", "1",
                           "--report", str(tmp_path), "--all-rows"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "40 cases" in proc.stdout
    frame = pd.read_csv(tmp_path / "fuzz.csv")
    assert CSV_COLUMNS <= set(frame.columns)
    assert frame["case"].nunique() == 40
    # one row per case and tensor: W, dZ of every layer and dX always; b without biases and dA of a softmax
    # output under cross-entropy (fused) are not there, so a depth-L case has 3L to 4L + 1 tensors
    for _, rows in frame.groupby("case"):
        depth, names = int(rows["depth"].iloc[0]), set(rows["tensor"])
        assert {f"{k}{l}" for k in ("W", "dZ") for l in range(1, depth + 1)} | {"dX"} <= names
        assert 3 * depth <= len(rows) <= 4 * depth + 1
    assert not frame.duplicated(["case", "tensor"]).any()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["cases"] == 40 and summary["tensors_compared"] == len(frame)
    assert summary["disagreements"] == 0 and summary["max_rel_err"] == pytest.approx(frame["max_rel_err"].max())
    md = (tmp_path / "fuzz.md").read_text()
    assert "| activation | loss" in md or "| activations | loss" in md
    assert "Every gradient agrees" in md
    assert (frame["ratio"] < 1).all() and "worst error / allowed" in md


def test_by_default_an_agreeing_case_is_one_row_its_worst_error_over_its_allowance(tmp_path, capsys):
    assert cli.main(["fuzz", "--examples", "30", "--seed", "1", "--report", str(tmp_path / "one")]) == 0
    assert "MB of reports in" in capsys.readouterr().out  # the disk estimate, said first
    assert cli.main(["fuzz", "--examples", "30", "--seed", "1", "--report", str(tmp_path / "all"),
                     "--all-rows"]) == 0
    one, every = (pd.read_csv(tmp_path / d / "fuzz.csv") for d in ("one", "all"))
    assert len(one) == 30 and (one["tensor"] == "all").all()
    worst = every.groupby("case")["ratio"].max()
    assert one.set_index("case")["ratio"].to_numpy() == pytest.approx(worst.to_numpy())
    summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("one", "all")]
    for key in ("cases", "tensors_compared", "max_ratio_by_dtype", "max_rel_err"):
        assert summaries[0][key] == summaries[1][key]
    assert sum((tmp_path / "one" / f).stat().st_size for f in ("fuzz.csv", "results.jsonl")) * 5 < \
        sum((tmp_path / "all" / f).stat().st_size for f in ("fuzz.csv", "results.jsonl"))


def _half_mse(X, Y, params, *, network):
    from crosscheck.reference import MLP
    grads = MLP(network.sizes, network.activations, params).gradients(X, Y, network.loss, network.reduction)[1]
    return {k: v * 0.5 for k, v in grads.items()}  # a wrong factor on every tensor


def test_fuzz_exits_1_and_reports_the_minimal_example_when_a_gradient_disagrees(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(crosscheck.model.target, "reference_target",
                        lambda: Target("half", _half_mse, Family(), takes_network=True))
    code = cli.main(["fuzz", "--examples", "20", "--report", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "finding" in out and "minimal example" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["disagreements"] > 0 and summary["findings"] >= 1
    example = summary["finding_details"][0]["example"]
    assert example["batch"] == 1 and len(example["sizes"]) == 2  # shrunk to one layer, one sample
    assert "minimal example" in (tmp_path / "fuzz.md").read_text()


@pytest.mark.parametrize("argv, reason", [
    (["fuzz", "--examples", "0"], "--examples must be at least 1"),
    (["fuzz", "--examples", "many"], "invalid int value"),
    (["fuzz", "--bogus"], "unrecognized arguments"),
    (["nonsense"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_one_line(argv, reason, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert reason in err and len(err.splitlines()) == 1


def test_python_dash_m_and_console_script_agree():
    proc = subprocess.run([sys.executable, "-m", "crosscheck", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "fuzz" in proc.stdout


def test_cli_import_does_not_load_torch_or_pandas():
    code = "import sys, crosscheck.app.cli; crosscheck.app.cli.build_parser(); print('torch' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
    assert out == ["False", "False"]
