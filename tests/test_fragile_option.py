"""``--allow-fragile`` for ``crosscheck fuzz`` and the pytest plugin: a fragile target (the unfused BCE of
examples/declare, right wherever finite, inf or NaN where an output rounds to 1) is classified by the one
function the audit uses (``judge.fragility``), counted apart, and fails unless fragile findings are allowed."""
import importlib.util
import json
from pathlib import Path

import pytest

import crosscheck.model.target
from crosscheck.app import cli
from crosscheck.app.plugin import as_target, assert_matches_torch
from crosscheck.judge.fragility import allowed
from crosscheck.model.target import Family, Target

pytest_plugins = ["pytester"]

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "declare" / "unfused_bce.py"


def unfused_bce():
    spec = importlib.util.spec_from_file_location("unfused_bce", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.unfused_bce


def unfused_one_layer(X, Y, params):
    import numpy as np

    (W, b), = params
    with np.errstate(all="ignore"):
        a = 1 / (1 + np.exp(-(X @ W.T + b)))
        dz = -(Y / a - (1 - Y) / (1 - a)) / Y.size * a * (1 - a)
    return [(dz.T @ X, dz.sum(0))]


def test_a_plugin_check_of_a_fragile_target_fails_without_the_option_and_passes_with_it():
    fn = unfused_bce()
    with pytest.raises(AssertionError) as failed:
        assert_matches_torch(fn, examples=30, database="none", profile="ci")
    message = str(failed.value)
    assert "are fragile" in message and "1. fragile in" in message and "z > 36.7 in float64" in message
    run = assert_matches_torch(fn, examples=30, database="none", profile="ci", allow_fragile=True)
    assert run.findings and all(f.kind == "nonfinite" and f.fragile for f in run.findings)
    assert "(1 - y) / (1 - a) divides by zero" in run.findings[0].fragile
    assert run.findings[0].to_dict()["fragile"] == run.findings[0].fragile  # still reported as fragile


def test_fragile_findings_pass_only_when_allowed_and_only_when_all_are_fragile():
    class F:
        def __init__(self, fragile):
            self.fragile = fragile

    assert allowed([], False) and allowed([], True)
    assert not allowed([F("fragile: ...")], False) and allowed([F("fragile: ...")], True)
    assert not allowed([F("fragile: ..."), F(None)], True)


def test_the_pytest_option_and_the_session_report(pytester):
    pytester.makepyfile(test_user=f'''
import importlib.util

spec = importlib.util.spec_from_file_location("unfused_bce", {str(EXAMPLE)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)


def test_unfused(crosscheck):
    crosscheck.assert_matches_torch(module.unfused_bce)
''')
    common = ["--crosscheck-examples", "30", "--crosscheck-database", "none",
              "--crosscheck-profile", "ci"]
    failing = pytester.runpytest_subprocess(*common)
    failing.assert_outcomes(failed=1)
    failing.stdout.fnmatch_lines(["*1 fragile (unfused_bce.unfused_bce)*"])
    passing = pytester.runpytest_subprocess(*common, "--crosscheck-allow-fragile", "--crosscheck-report", "out")
    passing.assert_outcomes(passed=1)
    passing.stdout.fnmatch_lines(["*1 fragile (unfused_bce.unfused_bce; allowed)*"])
    report = json.loads((pytester.path / "out" / "pytest.json").read_text())
    assert report["session"]["fragile"] >= 1 and report["session"]["fragile_targets"] == 1
    assert report["targets"][0]["verdict"] == "fragile"
    assert all(f["fragile"] for f in report["targets"][0]["findings"])


def test_crosscheck_fuzz_exits_1_on_a_fragile_target_unless_allowed(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(crosscheck.model.target, "reference_target",
                        lambda: Target("unfused", unfused_one_layer, Family(("sigmoid",), "bce", "mean", dtype="float64")))
    argv = ["fuzz", "--examples", "60", "--seed", "0", "--database", "none"]
    assert cli.main(argv + ["--report", str(tmp_path / "a")]) == 1
    out = capsys.readouterr().out
    assert "fragile" in out and "z > 36.7 in float64" in out
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["findings"] >= 1 and summary["fragile"] == summary["findings"]
    assert cli.main(argv + ["--report", str(tmp_path / "b"), "--allow-fragile"]) == 0
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["fragile"] >= 1 and all(f["fragile"] for f in summary["finding_details"])


def test_pages_colour_the_fragile_verdict_apart_from_agree_and_disagree():
    import pandas as pd

    from crosscheck.reports import html

    assert [html.verdict_css(v) for v in ("agree", "fragile", "disagree", "crashed")] == ["ok", "warn", "bad", "bad"]
    t = html.table(pd.DataFrame([{"target": "a", "verdict": "fragile"}, {"target": "b", "verdict": "agree"}]),
                   "Targets", text_columns=("target",), verdict_column="verdict")
    assert [row[1].css for row in t.rows] == ["verdict warn", "verdict ok"]
    lead = html.targets_lead(["agree", "fragile"])
    assert [s.css for s in lead] == ["warn"] and "1 of 2 targets is fragile" in lead[0].text
    page = html.render(html.Page("p", lead, []))
    assert ".warn {" in page and 'class="warn"' in page
    view = html.finding_view(1, {"kind": "nonfinite", "fragile": "fragile: ...", "tensors": ["W1"]})
    assert view.css == "finding fragile"
