"""What every command promises before, during and after a run: one-line usage errors before any work,
one run per report folder, -q / -v / --version, seeds that are printed and recorded, interrupts that say
what was kept and how to go on."""
import collections
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import crosscheck
from crosscheck.app import cli
from crosscheck.engine import profiles
from crosscheck.engine.lock import LOCK_FILE
from test_lock import hold, read_only_place

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "examples" / "tutorials" / "linear_regression_audit.py"
#: One argument list per command that writes a report folder; the folder goes last.
WRITERS = {"fuzz": ["fuzz", "--examples", "5"], "train": ["train", "--examples", "2", "--optimizer", "sgd"],
           "mutants": ["mutants", "--select", "p28", "--examples", "3"],
           "audit": ["audit", str(TUTORIAL), "--examples", "3"]}


def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_version_names_the_package_version(capsys):
    with pytest.raises(SystemExit) as e:
        cli.build_parser().parse_args(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"crosscheck {crosscheck.__version__}"


def test_every_command_takes_q_and_v_and_every_fuzzing_command_takes_profile():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        flags = {f for a in p._actions for f in a.option_strings}
        assert {"-q", "-v", "--quiet", "--verbose"} <= flags, name
        if "--seed" in flags:  # it draws cases
            assert "--profile" in flags, name


@pytest.mark.parametrize("command", WRITERS)
@pytest.mark.parametrize("where", ["file", "under a file", "read-only"])
def test_a_report_folder_that_cannot_be_written_is_refused_before_any_work(command, where, tmp_path, capsys):
    (tmp_path / "f").write_text("")
    folder = {"file": tmp_path / "f", "under a file": tmp_path / "f" / "r",
              "read-only": read_only_place(tmp_path)}[where]
    start = time.perf_counter()
    code, out, err = run([*WRITERS[command], "--report", folder], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"crosscheck: error: --report {folder}: ")
    assert time.perf_counter() - start < 5 and out == ""  # refused before the first case


@pytest.mark.parametrize("address, reason", [("notaurl", "not a scheduler address; give HOST:PORT"),
                                             ("http://10.0.0.5:8786", "unknown protocol 'http'"),
                                             ("tcp://10.0.0.5", "not a scheduler address")])
def test_a_scheduler_that_is_not_an_address_is_one_line_exit_2(address, reason, tmp_path, capsys):
    code, out, err = run(["fuzz", "--scheduler", address, "--report", tmp_path / "r"], capsys)
    assert code == 2 and reason in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_workers_are_capped_at_the_cores_and_the_work_with_a_one_line_note(tmp_path, capsys):
    code, out, err = run(["fuzz", "--examples", "3", "--workers", "10000", "--seed", "1", "--profile", "ci",
                          "--report", tmp_path], capsys)
    assert code == 0
    cap = cli.workers_cap()
    assert f"crosscheck: note: --workers 10000: using {cap} ({os.cpu_count()} cores take at most {cap})" in err
    assert f"--workers {min(cap, 10000)}: using 3 (there are only 3 cases)" in err


def test_a_second_run_on_a_held_folder_is_refused_at_once_naming_the_pid(tmp_path, capsys):
    folder = tmp_path / "r"
    holder = hold(folder)
    try:
        for command in ("fuzz", "train"):
            code, _, err = run([*WRITERS[command], "--report", folder], capsys)
            assert code == 2 and f"another crosscheck run (PID {holder.pid}) is writing there" in err
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_lock_is_taken_over_with_a_note(tmp_path, capsys):
    (tmp_path / LOCK_FILE).write_text("999999999\n")  # no such process
    code, _, err = run([*WRITERS["fuzz"], "--profile", "ci", "--report", tmp_path], capsys)
    assert code == 0
    assert f"crosscheck: note: {tmp_path} was locked by PID 999999999, which is no longer running" in err
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_folder_holding_another_runs_stream_is_refused_without_resume_or_overwrite(tmp_path, capsys):
    args = [*WRITERS["fuzz"], "--profile", "ci", "--report", tmp_path]
    assert run(args, capsys)[0] == 0
    before = (tmp_path / "results.jsonl").read_bytes()
    code, out, err = run(args, capsys)
    assert code == 2 and "add --resume to continue it, --overwrite to replace it" in err
    assert (tmp_path / "results.jsonl").read_bytes() == before
    assert run([*args, "--resume"], capsys)[0] == 0
    assert run([*args, "--overwrite"], capsys)[0] == 0


def test_quiet_prints_only_the_final_line_and_verbose_prints_the_settings(tmp_path, capsys):
    code, out, err = run(["fuzz", "--examples", "5", "-q", "--report", tmp_path / "q"], capsys)
    assert code == 0 and err == ""
    assert out.splitlines() == [out.strip()] and out.startswith("crosscheck fuzz: 5 cases")
    code, out, _ = run(["fuzz", "--examples", "5", "-v", "--seed", "3", "--report", tmp_path / "v"], capsys)
    assert code == 0
    assert f"crosscheck fuzz: profile {profiles.default_profile()}, seed 3, examples 5" in out


def test_dev_draws_a_fresh_seed_each_run_prints_it_and_records_it(tmp_path, capsys):
    seeds = []
    for name in ("a", "b"):
        code, out, _ = run(["fuzz", "--examples", "3", "--profile", "dev", "--database", "none",
                            "--report", tmp_path / name], capsys)
        seed = int(re.search(r"seed (\d+) \(profile dev: a fresh seed each run; --seed \1 draws", out).group(1))
        assert json.loads((tmp_path / name / "summary.json").read_text())["seed"] == seed
        assert f"(seed {seed})" in out.splitlines()[-1]
        seeds.append(seed)
    assert seeds[0] != seeds[1]
    # --seed S draws that run's cases again
    code, out, _ = run(["fuzz", "--examples", "3", "--seed", seeds[0], "--profile", "dev", "--database", "none",
                        "--report", tmp_path / "again"], capsys)
    assert "a fresh seed" not in out
    csv = lambda name: (tmp_path / name / "fuzz.csv").read_text()
    assert csv("again") == csv("a")


def test_ci_keeps_seed_0_and_resume_keeps_the_seed_of_the_run_it_continues(tmp_path, capsys):
    code, out, _ = run(["fuzz", "--examples", "3", "--profile", "ci", "--report", tmp_path / "ci"], capsys)
    assert "fresh seed" not in out and json.loads((tmp_path / "ci" / "summary.json").read_text())["seed"] == 0
    run(["fuzz", "--examples", "4", "--profile", "dev", "--database", "none", "--report", tmp_path / "d"], capsys)
    seed = json.loads((tmp_path / "d" / "summary.json").read_text())["seed"]
    code, out, err = run(["fuzz", "--examples", "4", "--profile", "dev", "--database", "none", "--resume",
                          "--report", tmp_path / "d"], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "d" / "summary.json").read_text())["seed"] == seed


def test_an_interrupted_fuzz_prints_what_was_kept_and_the_quoted_command_that_finishes_it(tmp_path):
    folder = tmp_path / "a report"  # a space: the printed commands must be quoted to paste
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "crosscheck", "fuzz", "--examples", "1000000", "--profile", "ci",
                             "--database", "none", "--report", str(folder)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stream = folder / "results.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not stream.exists() or stream.stat().st_size < 20000):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    kept = re.search(r"crosscheck fuzz: interrupted after (\d+) checked cases; every one of them is kept in (.+)\n",
                     err)
    assert kept and kept.group(2) == str(stream)
    resume = re.search(r"to finish the run: +(.+)\n", err).group(1)
    assert shlex.split(resume) == ["crosscheck", "fuzz", "--examples", "1000000", "--seed", "0", "--profile", "ci",
                                   "--database", "none", "--report", str(folder), "--resume"]
    report = re.search(r"to report what was kept now: +(.+)", err).group(1)
    assert shlex.split(report) == ["crosscheck", "report", str(folder)]
    assert not (folder / LOCK_FILE).exists()
    # the printed report command works as printed
    rebuilt = subprocess.run([sys.executable, "-m", "crosscheck", *shlex.split(report)[1:]], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"crosscheck report: {kept.group(1)} results" in rebuilt.stdout


def test_an_interrupted_train_keeps_the_finished_optimizers_and_prints_the_rerun_command(tmp_path, capsys,
                                                                                          monkeypatch):
    import crosscheck.engine.training as training

    real = training.fuzz_reference

    def until_adam(*, optimizers, **kw):
        if optimizers == ["adam"]:
            raise KeyboardInterrupt
        return real(optimizers=optimizers, **kw)

    monkeypatch.setattr(training, "fuzz_reference", until_adam)
    folder = tmp_path / "my runs"
    code, out, err = run(["train", "--optimizer", "sgd", "--optimizer", "adam", "--examples", "2", "--profile", "ci",
                          "--report", folder], capsys)
    assert code == 130
    assert f"kept the finished runs of sgd in {folder / 'train.md'} (not run or cut short: adam)" in err
    again = re.search(r"to run it all again, the same cases: +(.+)\n", err).group(1)
    assert shlex.split(again) == ["crosscheck", "train", "--optimizer", "sgd", "--optimizer", "adam", "--examples",
                                  "2", "--seed", "0", "--report", str(folder), "--profile", "ci"]
    assert (folder / "train.md").exists() and not (folder / LOCK_FILE).exists()
    assert json.loads((folder / "train.json").read_text())["seed"] == 0


def test_mutants_take_profile_thorough_and_the_old_thorough_flag_still_works(tmp_path, capsys, monkeypatch):
    import crosscheck.engine.mutants as mutants
    import crosscheck.reports.mutants as mutants_report

    used = []
    monkeypatch.setattr(mutants_report, "write", lambda rows, folder, settings: {"md": Path(folder) / "mutants.md"})
    monkeypatch.setattr(mutants, "run_corpus", lambda select, **kw: used.append(kw) or [])
    # an empty score: every count 0, every rate 1 (the command only prints them here)
    monkeypatch.setattr(mutants, "score", lambda rows: collections.defaultdict(int, right_label_rate=1.0,
                                                                               explained_rate=1.0))
    run(["mutants", "--select", "p28", "--profile", "thorough", "--report", tmp_path / "a"], capsys)
    code, out, err = run(["mutants", "--select", "p28", "--thorough", "--report", tmp_path / "b"], capsys)
    assert "--thorough is the same as --profile thorough" in err
    assert used[0]["examples"] == used[1]["examples"] == mutants.THOROUGH["examples"]


def test_no_hypothesis_folder_is_made_beside_crosscheck_examples(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    buggy = ROOT / "examples" / "tutorials" / "relu_rows_audit.py"  # its failures go to the example database
    proc = subprocess.run([sys.executable, "-m", "crosscheck", "audit", str(buggy), "--examples", "5",
                           "--profile", "dev", "--report", "r"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".crosscheck", "r"]
    assert (tmp_path / ".crosscheck" / "examples").is_dir()
    assert sorted(p.name for p in (tmp_path / ".crosscheck").iterdir()) in (["examples"], ["examples", "hypothesis"])


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    """``crosscheck ... | head``: the pipe's reader is gone before the output is written; no traceback,
    the status of a process stopped by SIGPIPE."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "crosscheck", "replay", str(ROOT / "tests/golden/audit/audit.json")],
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=120, cwd=ROOT)
    finally:
        os.close(write)
    assert proc.returncode == cli.EXIT_BROKEN_PIPE == 141
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr
