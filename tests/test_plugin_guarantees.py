"""What the pytest plugin promises: the report folder checked before any test runs (a usage error that
leaves pytest's own output alone), Hypothesis's seed and profile options honored, one seed, one report and
one summary line under pytest-xdist, and no .hypothesis/ folder of crosscheck's making."""
import json
import re

import pytest

from crosscheck.engine.lock import LOCK_FILE
from crosscheck_test_targets import SOURCE
from test_lock import read_only_place

pytest_plugins = ["pytester", "crosscheck_test_fixtures"]

USER_TESTS = SOURCE + '''

def test_good_backprop(crosscheck):
    crosscheck.assert_matches_torch(good)


def test_half_w1_backprop(crosscheck):
    crosscheck.assert_matches_torch(half_w1)
'''


@pytest.fixture(scope="module", autouse=True)
def one_copy_of_every_module(failing_report):
    """As in test_plugin.py: every module imported once, before any in-process session."""


@pytest.fixture(autouse=True)
def hypothesis_state_kept():
    """An in-process session's ``--hypothesis-seed`` and ``--hypothesis-profile`` set Hypothesis's globals
    (a forced seed turns the example database off): put them back for the tests that follow."""
    from hypothesis import core, settings

    seed, profile = core.global_force_seed, settings._current_profile
    yield
    core.global_force_seed = seed
    settings.load_profile(profile)


@pytest.fixture
def project(pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    return pytester


def summary_lines(result) -> list[str]:
    return [l for l in result.stdout.lines if l.startswith("crosscheck: ")]


@pytest.mark.parametrize("where", ["file", "under a file", "read-only"])
def test_a_report_folder_that_cannot_be_written_is_a_usage_error_before_any_test(project, where, tmp_path):
    (project.path / "f").write_text("")
    folder = {"file": "f", "under a file": "f/r", "read-only": str(read_only_place(tmp_path))}[where]
    result = project.runpytest("--crosscheck-report", folder, "--crosscheck-examples", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [l for l in result.stderr.lines if "--crosscheck-report" in l]
    assert len(errors) == 1 and errors[0].startswith(f"ERROR: --crosscheck-report {folder}: ")
    assert "passed" not in result.stdout.str() and "failed" not in result.stdout.str()  # no test ran


def test_a_report_folder_another_run_holds_is_refused_naming_its_pid(project):
    from test_lock import hold

    holder = hold(project.path / "out")
    try:
        result = project.runpytest("--crosscheck-report", "out", "--crosscheck-examples", "2")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert f"another crosscheck run (PID {holder.pid}) is writing there" in result.stderr.str()
    finally:
        holder.kill()
        holder.wait()


def test_hypothesis_seed_is_the_seed_unless_crosscheck_seed_is_given(project):
    result = project.runpytest("--hypothesis-seed", "77", "--crosscheck-examples", "3", "-k", "good", "-v")
    result.assert_outcomes(passed=1)
    assert "crosscheck profile" in result.stdout.str() and ", seed 77" in result.stdout.str()
    assert summary_lines(result)[0].endswith("all agree (seed 77)")
    ours = project.runpytest("--hypothesis-seed", "77", "--crosscheck-seed", "5", "--crosscheck-examples", "3",
                             "-k", "good")
    assert summary_lines(ours)[0].endswith("(seed 5)")


def test_hypothesis_profile_naming_a_crosscheck_profile_is_used(project):
    from hypothesis import settings

    for name in ("ci", "dev", "thorough"):  # Hypothesis refuses a profile it does not know ("ci" is its own)
        try:
            settings.get_profile(name)
        except Exception:
            settings.register_profile(name, settings.get_profile("default"))
    result = project.runpytest("--hypothesis-profile", "ci", "--crosscheck-examples", "3", "-k", "good")
    result.assert_outcomes(passed=1)
    assert "crosscheck profile ci, seed 0" in result.stdout.str()
    assert summary_lines(result)[0].endswith("(seed 0)")


def test_pytest_xdist_workers_make_one_report_and_one_summary_line_with_one_seed(project):
    pytest.importorskip("xdist")
    result = project.runpytest_subprocess("-n", "2", "-p", "xdist", "--crosscheck-report", "out",
                                          "--crosscheck-examples", "6", "--crosscheck-profile", "dev", timeout=600)
    result.assert_outcomes(passed=1, failed=1)
    lines = summary_lines(result)
    assert len(lines) == 1 and "2 target checks" in lines[0] and "report in out" in lines[0]
    seed = int(re.search(r"\(seed (\d+)\)", lines[0]).group(1))
    data = json.loads((project.path / "out" / "pytest.json").read_text())
    assert data["session"]["seed"] == seed and data["session"]["checks"] == 2
    assert {t["name"]: t["verdict"] for t in data["targets"]} == {"test_user.good": "agree",
                                                                 "test_user.half_w1": "disagree"}
    assert all(t["function"] in ("good", "half_w1") for t in data["targets"])
    # a worker cannot know the finding's number in the merged report: it names the finding by id
    assert "replay: crosscheck replay out/pytest.json test_user.half_w1:mismatch:W1" in result.stdout.str()
    assert not (project.path / "out" / LOCK_FILE).exists()
    assert not (project.path / ".hypothesis").exists()  # the workers' Hypothesis files went to .crosscheck/
