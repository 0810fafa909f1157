"""``crosscheck train``: exit codes, the three report files, the HTML's loss curves."""
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from crosscheck.app.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_train_writes_csv_markdown_and_html(tmp_path, capsys):
    code = main(["train", "--optimizer", "adam", "--optimizer", "momentum", "--steps", "3", "--examples", "3",
                 "--report", str(tmp_path), "--database", "none"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "adam: 3 trajectories, 9 steps compared, 0 diverging" in out
    frame = pd.read_csv(tmp_path / "train.csv")
    assert set(frame["optimizer"]) == {"adam", "momentum"} and set(frame["step"]) == {1, 2, 3}
    assert {"W1", "b1", "loss"} <= set(frame["tensor"]) and frame["agree"].all()
    per_case = frame.groupby(["optimizer", "case", "step"])["tensor"].count()
    assert (per_case >= 3).all()  # every parameter of every layer plus the loss, at every step
    md = (tmp_path / "train.md").read_text()
    assert "All 6 trajectories agree with torch.optim at every step." in md
    html = (tmp_path / "train.html").read_text()
    assert html.count("<svg") == 2  # per optimizer: losses and errors by step, one inline figure
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", html) and "<script" not in html


@pytest.mark.parametrize("args, message", [
    (["--steps", "0"], "--steps must be at least 1"),
    (["--steps", "5000"], "--steps must be from 1 to 1000"),
    (["--optimizer", "rmsprop"], "invalid choice: 'rmsprop'"),
    (["--examples", "0"], "--examples must be at least 1"),
    (["--profile", "fast"], "invalid choice: 'fast'"),
])
def test_bad_arguments_exit_2_with_one_line(args, message, capsys, tmp_path):
    assert main(["train", *args, "--report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_xor_example_solves_xor():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "xor.py")], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "step  2700  loss" in out.stdout and "solved: every prediction is within" in out.stdout
