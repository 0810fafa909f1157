"""`crosscheck audit` streams each finished target to REPORT/audit.jsonl; SIGTERM (or Ctrl-C) writes the
reports of the targets finished and prints the command to continue; `--resume` audits only the rest."""
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import textwrap
from pathlib import Path

from crosscheck.app.cli import main

QUICK = """
    from crosscheck import audit_target

    @audit_target(activations=["identity"], loss="mse", reduction="sum")
    def linear(X, Y, params):
        [(W, b)] = params
        dZ = 2 * (X @ W.T + b - Y)
        return [(dZ.T @ X, dZ.sum(axis=0))]
"""
SLOW = """
    import time
    from crosscheck import audit_target

    @audit_target(activations=["identity"], loss="mse", reduction="sum")
    def slow(X, Y, params):
        time.sleep(3600)
"""


def _write(folder: Path, files: dict) -> None:
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))


def test_sigterm_keeps_the_finished_targets_and_resume_audits_the_rest(tmp_path):
    code, report = tmp_path / "my code", tmp_path / "my reports"  # spaces: the printed command is quoted
    _write(code, {"a_quick.py": QUICK, "b_slow.py": SLOW})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1])] + sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "crosscheck", "audit", str(code), "--examples", "5",
                             "--timeout", "600", "--database", "none", "--report", str(report)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    stream = report / "audit.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (stream.is_file() and len(stream.read_text().splitlines()) >= 2):
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    audit = json.loads((report / "audit.json").read_text())
    assert [t["function"] for t in audit["targets"]] == ["linear"]
    command = err.strip().splitlines()[-1].strip()
    assert command.endswith("--resume") and shlex.split(command)[2] == str(code)

    (code / "b_slow.py").write_text(textwrap.dedent(QUICK).replace("def linear", "def slow"))
    argv = shlex.split(command)[1:]
    assert main(argv) == 0
    audit = json.loads((report / "audit.json").read_text())
    assert [t["function"] for t in audit["targets"]] == ["linear", "slow"]
    lines = stream.read_text().splitlines()
    assert len(lines) == 3  # the run's first line, then one record per target, each once


def test_resume_of_another_audit_is_refused_in_one_line(tmp_path, capsys):
    code, report = tmp_path / "code", tmp_path / "report"
    _write(code, {"a_quick.py": QUICK})
    assert main(["audit", str(code), "--examples", "3", "--database", "none", "--report", str(report)]) == 0
    with open(report / "audit.jsonl", "a") as fh:
        fh.write('{"name": "cut in the mid')  # a damaged line is skipped and counted
    assert main(["audit", str(code), "--examples", "4", "--database", "none", "--report", str(report),
                 "--resume"]) == 2
    assert "belongs to a different audit" in capsys.readouterr().err
    assert main(["audit", str(code), "--examples", "3", "--database", "none", "--report", str(report),
                 "--resume"]) == 0
    assert "1 damaged line skipped" in capsys.readouterr().out
