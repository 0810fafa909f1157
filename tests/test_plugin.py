"""The pytest plugin, used from a fresh project: one test file, a passing and a failing target."""
import json
import subprocess
import sys

import pytest

from crosscheck_test_targets import SOURCE

pytest_plugins = ["pytester", "crosscheck_test_fixtures"]

USER_TESTS = SOURCE + '''

def half_w1_undecorated(X, Y, params):
    return half_w1(X, Y, params)


def test_good_backprop(crosscheck):
    crosscheck.assert_matches_torch(good)


def test_half_w1_backprop(crosscheck):
    crosscheck.assert_matches_torch(half_w1_undecorated, activations=["relu", "identity"], loss="mse")


def test_not_a_check():
    assert True
'''


@pytest.fixture(scope="module", autouse=True)
def one_copy_of_every_module(failing_report):
    """pytester runs each user session in this process and then drops the modules it imported; a
    second session would import them again, and two copies of Hypothesis's classes or of torch's C
    modules do not work together. ``failing_report`` has made a full check, failure, shrinking and
    report included, in this process already: every module is imported once, before any session."""


@pytest.fixture
def project(pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    return pytester


def test_one_line_check_passes_and_fails_with_the_shrunk_example_and_a_report(project):
    result = project.runpytest("--crosscheck-examples", "8", "--crosscheck-report", "out",
                               "--crosscheck-database", "none")
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    # the failure: target, count, the one-template message, the minimal example and how to replay it
    result.stdout.re_match_lines([
        r".*test_user\.half_w1_undecorated: gradients disagree with torch: 1 distinct finding in \d+ cases",
        r".*1\. mismatch in W1",
        r".* W1: 1 / 1 elements mismatch \(100%\); worst absolute difference \S+ at \(0, 0\) \(allowed \S+, error/allowed \S+\), "
        r"relative 0\.5",
        r".*minimal example: 1-1-1 \[relu, identity\] mse/mean, batch 1, float64",
        r".*replay: crosscheck replay out.pytest\.json 1",
    ])
    assert "test_good_backprop" not in out.split("short test summary")[-1]
    # one line in the terminal summary
    summary = [l for l in out.splitlines() if l.startswith("crosscheck: ")]
    assert len(summary) == 1
    assert "2 target checks" in summary[0] and "1 disagrees (test_user.half_w1_undecorated)" in summary[0]
    assert "report in out" in summary[0]
    # the report folder: every comparison of the session
    folder = project.path / "out"
    assert {p.name for p in folder.iterdir()} == {"pytest.json", "pytest.csv", "pytest.md", "pytest.html"}
    data = json.loads((folder / "pytest.json").read_text())
    verdicts = {t["name"]: t["verdict"] for t in data["targets"]}
    assert verdicts == {"test_user.good": "agree", "test_user.half_w1_undecorated": "disagree"}
    bad = data["targets"][1]
    assert bad["test"].endswith("test_half_w1_backprop") and bad["declaration"]["activations"] == ["relu", "identity"]
    assert [f["tensors"] for f in bad["findings"]] == [["W1"]]
    assert {t["name"]: t["agree"] for t in bad["tensors"]} == {"W1": False, "b1": True, "W2": True, "b2": True}
    import pandas as pd
    frame = pd.read_csv(folder / "pytest.csv")
    assert len(frame) == data["session"]["tensors_compared"] == 4 * data["session"]["cases"]
    assert set(frame["target"]) == set(verdicts) and frame["test"].str.contains("test_user.py::").all()


def test_the_example_database_replays_a_failure_first_on_the_next_session(project):
    first = project.runpytest("--crosscheck-examples", "8", "--crosscheck-profile", "dev", "-k", "half_w1")
    first.assert_outcomes(failed=1)
    assert (project.path / ".crosscheck" / "examples").is_dir()
    second = project.runpytest("--crosscheck-examples", "8", "--crosscheck-profile", "dev", "-k", "half_w1")
    second.assert_outcomes(failed=1)
    second.stdout.fnmatch_lines(["*1 distinct finding in 2 cases*",
                                 "*1 failing example saved by an earlier run replayed first*"])
    ci = project.runpytest("--crosscheck-examples", "8", "--crosscheck-profile", "ci", "-k", "half_w1")
    ci.assert_outcomes(failed=1)
    assert "replayed first" not in ci.stdout.str()


def test_a_function_without_a_declaration_is_refused_with_how_to_fix_it(pytester):
    pytester.makepyfile(test_undeclared='''
def grads(X, Y, params):
    return []

def test_it(crosscheck):
    crosscheck.assert_matches_torch(grads)
''')
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    assert ("say which networks grads takes, either with @audit_target(activations=[...], loss=...) on it"
            in result.stdout.str())
    assert "crosscheck: " not in result.stdout.str()  # nothing was checked: no summary line


def test_cli_and_plugin_share_their_option_definitions(pytester):
    import argparse

    from crosscheck.app.options import add_profile_options, add_run_options

    cli = argparse.ArgumentParser()
    add_run_options(cli.add_argument)
    add_profile_options(cli.add_argument)
    plugin = pytester.runpytest("--help").stdout.str()
    for action in cli._actions[1:]:
        flag = action.option_strings[0].replace("--", "--crosscheck-")
        assert flag in plugin, flag
        # the same help text (pytest rewraps it): compare the words
        line = next(l for l in plugin.splitlines() if l.strip().startswith(flag + "="))
        words = " ".join(plugin[plugin.index(line):].split()[1:13])  # the words after the flag
        assert " ".join(action.help.split()[:4]) in words, (flag, words)


def test_the_plugin_loads_without_torch_pandas_or_matplotlib(tmp_path):
    probe = ("import sys, pytest\n"
             "code = pytest.main(['-q', '-p', 'no:cacheprovider', '--co', %r])\n"
             "import crosscheck.app.plugin\n"
             "heavy = sorted(m for m in ('torch', 'pandas', 'matplotlib') if m in sys.modules)\n"
             "print('HEAVY', heavy, 'PLUGIN', 'crosscheck.app.plugin' in sys.modules)\n" % str(tmp_path))
    (tmp_path / "test_nothing.py").write_text("def test_x():\n    pass\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert "HEAVY [] PLUGIN True" in proc.stdout, proc.stdout + proc.stderr
