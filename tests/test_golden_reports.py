"""Golden-file tests: every report of every command, compared byte for byte with tests/golden/.

Each command runs once, in a subprocess, for a fixed seed and a small count,
with CI=true and the ``ci`` profile or no example database, so that nothing
but the code decides what is written:

- ``crosscheck fuzz --examples 60 --seed 3``: results.jsonl, fuzz.csv, fuzz.md, summary.json, fuzz.html
- ``crosscheck audit examples/tutorials --examples 20``: audit.json, audit.csv, audit.md
- ``crosscheck train`` (momentum and adam, 3 trajectories of 3 steps): train.csv, train.md, train.json
- ``crosscheck mutants --select stray-factor``: mutants.csv, mutants.md, mutants.json
- pytest with the ``crosscheck`` fixture on a correct and a buggy target, ``--crosscheck-report``:
  pytest.json, pytest.csv, pytest.md
- ``crosscheck replay``: the listing of the audit report's findings and the replay of finding 1

Before comparing, ``mask`` replaces what legitimately changes from run to run
and nothing else: timings (a JSON key, CSV or Markdown column or HTML table row
whose name says seconds, time, elapsed, duration or per second, and phrases
such as "in 1.2 s"), the temporary folder and the checkout's absolute paths
(``<TMP>``, ``<REPO>``), PIDs, dates and the versions of torch and NumPy. The
golden files are stored masked.

A mismatch fails with the file's name and the first 40 lines of a unified diff.
When a change of the reports is intended, regenerate the golden files and
review their diff before committing it::

    CROSSCHECK_UPDATE_GOLDEN=1 pytest tests/test_golden_reports.py
"""
from __future__ import annotations

import csv
import difflib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("CROSSCHECK_UPDATE_GOLDEN", "") not in ("", "0")

PLUGIN_TESTS = '''
from crosscheck import audit_target
from crosscheck.reference import MLP


def _grads(X, Y, params):
    sizes = [X.shape[1]] + [W.shape[0] for W, _ in params]
    _, g = MLP(sizes, ["relu", "identity"], params).gradients(X, Y, "mse", "mean")
    return [(g["W1"], g["b1"]), (g["W2"], g["b2"])]


@audit_target(activations=["relu", "identity"], loss="mse")
def good(X, Y, params):
    return _grads(X, Y, params)


@audit_target(activations=["relu", "identity"], loss="mse")
def half_w1(X, Y, params):
    (dW1, db1), second = _grads(X, Y, params)
    return [(0.5 * dW1, db1), second]


def test_good(crosscheck):
    crosscheck.assert_matches_torch(good)


def test_half_w1(crosscheck):
    crosscheck.assert_matches_torch(half_w1)
'''

# -- masking ---------------------------------------------------------------------------

#: A name that says time: a component seconds/time/elapsed/duration/timing, or a rate per second
#: ("timeout" is a setting, not a measurement, and "caught_rate" a ratio of counts: both compared).
_TIME_NAME = re.compile(r"(?:^|[_ ])(?:seconds?|time|elapsed|duration|timings?)(?:$|[_ ])|per[_ ]second|cases/s",
                        re.IGNORECASE)
_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_JSON_FIELD = re.compile(r'"([^"\n]*)"(\s*:\s*)(' + _NUMBER + r'|null|"[^"\n]*")')
_HTML_ROW = re.compile(r"(<td[^>]*>)([^<]*)(</td>\s*<td[^>]*>)([^<]*)(</td>)")
_MD_ITEM = re.compile(r"^(\s*- )([^:\n]+)(: )(.*)$", re.MULTILINE)
#: "in 1.2 s", "(0.3 s)", "12.4 s in all": a measured duration; a limit ("time limit 15 s", "of 60 s") is kept.
_DURATION = re.compile(r"(?<![\w.])(?<!limit )(?<!limit of )(?<!--timeout )" + _NUMBER + r"(?= ?s\b)")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b")
_PID = re.compile(r"\b(pid[\s=:\"]*)\d+", re.IGNORECASE)
_VERSION = re.compile(r"\b((?:torch|numpy)[\s=:\"']*(?:version[\s=:\"']*)?)\d+\.\d+(?:\.\d+)?[\w.+-]*",
                      re.IGNORECASE)


def _time_name(name: str) -> bool:
    return bool(_TIME_NAME.search(name.strip()))


def _mask_csv(text: str) -> str:
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    header = next(csv.reader([lines[0]]))
    cols = {i for i, name in enumerate(header) if _time_name(name)}
    if not cols:
        return text
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n" if lines[0].endswith("\r\n") else "\n")
    for j, row in enumerate(csv.reader(io.StringIO(text, newline=""))):
        writer.writerow(row if j == 0 else ["<T>" if i in cols else v for i, v in enumerate(row)])
    return out.getvalue()


def _mask_md_tables(text: str) -> str:
    out, cols = [], []
    for line in text.split("\n"):
        if line.startswith("|"):
            cells = line.split("|")
            if not cols and not set(line) <= set("|-: "):
                header = [c.strip() for c in cells]
                cols = [i for i, name in enumerate(header) if name and _time_name(name)]
                out.append(line)
                continue
            if cols and not set(line) <= set("|-: "):
                cells = [" <T> " if i in cols else c for i, c in enumerate(cells)]
            out.append("|".join(cells))
        else:
            cols = []
            out.append(line)
    return "\n".join(out)


def mask(text: str, name: str, paths: dict[str, str]) -> str:
    """``text`` of the report file ``name`` with what changes from run to run replaced, nothing else.

    ``paths`` maps absolute paths (temporary folders, the checkout) to placeholders.
    """
    for path, placeholder in sorted(paths.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(path, placeholder)
    suffix = Path(name).suffix
    if suffix in (".json", ".jsonl"):
        text = _JSON_FIELD.sub(lambda m: f'"{m[1]}"{m[2]}"<T>"' if _time_name(m[1]) else m[0], text)
    elif suffix == ".csv":
        text = _mask_csv(text)
    else:
        if suffix == ".md":
            text = _mask_md_tables(text)
        text = _HTML_ROW.sub(lambda m: m[1] + m[2] + m[3] + ("<T>" if _time_name(m[2]) else m[4]) + m[5], text)
        text = _MD_ITEM.sub(lambda m: m[1] + m[2] + m[3] + ("<T>" if _time_name(m[2]) else m[4]), text)
        text = _DURATION.sub("<T>", text)
    text = _DATE.sub("<DATE>", text)
    text = _PID.sub(lambda m: m[1] + "<PID>", text)
    return _VERSION.sub(lambda m: m[1] + "<VERSION>", text)


def check_golden(produced: Path, golden: Path, paths: dict[str, str]) -> None:
    """Compare one produced file, masked, with its golden copy (or rewrite the copy under UPDATE)."""
    assert produced.exists(), f"{produced.name} was not written"
    actual = mask(produced.read_text(), produced.name, paths)
    rel = golden.relative_to(REPO)
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual)
        return
    assert golden.exists(), f"{rel} is missing; run CROSSCHECK_UPDATE_GOLDEN=1 pytest {Path(__file__).name}"
    expected = golden.read_text()
    if actual != expected:
        diff = list(difflib.unified_diff(expected.splitlines(), actual.splitlines(), f"{rel} (golden)",
                                         f"{produced.name} (this run)", lineterm=""))
        pytest.fail(f"{rel} differs from this run's {produced.name} (masked); first 40 lines of the diff:\n"
                    + "\n".join(diff[:40]) + "\n(if intended: CROSSCHECK_UPDATE_GOLDEN=1 pytest "
                    f"tests/{Path(__file__).name})", pytrace=False)


# -- the runs ---------------------------------------------------------------------------

def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS", "CROSSCHECK_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                                          if p])
    env.update(CI="true", PYTHONHASHSEED="0", COLUMNS="100")
    return env


def _run(args: list[str], cwd: Path, expect: set[int]) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode in expect, (f"{' '.join(args)} exited {proc.returncode}\n"
                                       f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}")
    return proc


class Run:
    def __init__(self, folder: Path, paths: dict[str, str]):
        self.folder, self.paths = folder, paths


def _paths(tmp: Path) -> dict[str, str]:
    paths = {str(REPO): "<REPO>", str(tmp): "<TMP>"}
    for p, ph in list(paths.items()):
        paths[os.path.realpath(p)] = ph
    return paths


def _cli(tmp_path_factory, name: str, args: list[str], expect: set[int]) -> Run:
    tmp = tmp_path_factory.mktemp(name)
    out = tmp / "report"
    proc = _run(["-m", "crosscheck", *args, "--report", str(out)], REPO, expect)
    (out / "stdout.txt").write_text(proc.stdout)
    return Run(out, _paths(tmp))


@pytest.fixture(scope="module")
def fuzz_run(tmp_path_factory):
    return _cli(tmp_path_factory, "fuzz", ["fuzz", "--examples", "60", "--seed", "3", "--profile", "ci"], {0})


@pytest.fixture(scope="module")
def audit_run(tmp_path_factory):
    # --timeout far above the few seconds needed even on a loaded machine: shrinking and the sweep are
    # budgeted in cases; the wall-clock limit (and its 70% safety share) must never be what ends them
    return _cli(tmp_path_factory, "audit", ["audit", "examples/tutorials", "--examples", "20", "--seed", "0",
                                             "--profile", "ci", "--timeout", "300"], {1})


@pytest.fixture(scope="module")
def train_run(tmp_path_factory):
    return _cli(tmp_path_factory, "train", ["train", "--optimizer", "momentum", "--optimizer", "adam",
                                             "--examples", "3", "--steps", "3", "--seed", "0",
                                             "--profile", "ci"], {0})


@pytest.fixture(scope="module")
def mutants_run(tmp_path_factory):
    return _cli(tmp_path_factory, "mutants", ["mutants", "--select", "stray-factor", "--examples", "10",
                                               "--seed", "0"], {0})


@pytest.fixture(scope="module")
def pytest_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plugin")
    (tmp / "test_user.py").write_text(PLUGIN_TESTS)
    _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py", "--crosscheck-examples", "8",
          "--crosscheck-seed", "0", "--crosscheck-profile", "ci", "--crosscheck-database", "none",
          "--crosscheck-report", "out"], tmp, {1})
    return Run(tmp / "out", _paths(tmp))


REPORTS = {"fuzz": ["results.jsonl", "fuzz.csv", "fuzz.md", "summary.json", "fuzz.html"],
           "audit": ["audit.json", "audit.csv", "audit.md"],
           "train": ["train.csv", "train.md", "train.json"],
           "mutants": ["mutants.csv", "mutants.md", "mutants.json"],
           "pytest": ["pytest.json", "pytest.csv", "pytest.md"]}


@pytest.mark.parametrize("command, name", [(c, n) for c, names in REPORTS.items() for n in names])
def test_report(request, command, name):
    """Each report file of each command, byte for byte (masked) against its golden copy."""
    run = request.getfixturevalue(f"{command}_run")
    check_golden(run.folder / name, GOLDEN / command / name, run.paths)


def test_replay_of_an_audit_finding(audit_run, tmp_path):
    """The listing of the audit's findings and the replay of the first: still showing (exit 1), bit for bit."""
    listing = _run(["-m", "crosscheck", "replay", str(audit_run.folder / "audit.json")], REPO, {0, 1})
    replay = _run(["-m", "crosscheck", "replay", str(audit_run.folder / "audit.json"), "1"], REPO, {1})
    (tmp_path / "replay_list.txt").write_text(listing.stdout)
    (tmp_path / "replay_1.txt").write_text(replay.stdout)
    paths = {**audit_run.paths, **_paths(tmp_path)}
    check_golden(tmp_path / "replay_list.txt", GOLDEN / "replay" / "replay_list.txt", paths)
    check_golden(tmp_path / "replay_1.txt", GOLDEN / "replay" / "replay_1.txt", paths)
