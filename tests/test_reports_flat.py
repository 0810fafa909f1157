"""Reports written one case at a time say what the whole-frame (pandas) computation says."""
import io
import json
import math

import pandas as pd

from crosscheck.engine.campaign import fuzz_campaign
from crosscheck.reports import fuzz as fuzz_report
from crosscheck.reports.tables import Tally, comparison_rows, comparisons_frame, pivot
from crosscheck.drawing.sampler import Bounds
from crosscheck_test_targets import some_wrong_target

SMALL = Bounds(max_depth=2, max_width=5, max_batch=3)


TARGET = some_wrong_target()


def test_csv_summary_and_pivot_match_the_whole_frame(tmp_path):
    run = fuzz_campaign(TARGET, examples=30, seed=1, bounds=SMALL, report=tmp_path, diagnose=False)
    paths = fuzz_report.write(run, tmp_path)
    frame = comparisons_frame(list(run.results))
    assert (~frame["agree"].astype(bool)).any() and (frame["status"] == "crash").any()

    expected_csv = pd.read_csv(io.StringIO(frame.to_csv(index=False)))
    pd.testing.assert_frame_equal(pd.read_csv(paths["csv"]), expected_csv, check_dtype=False)

    summary = json.loads(paths["json"].read_text())
    rel = frame["max_rel_err"].replace([math.inf], math.nan).dropna()
    assert summary["cases"] == len(run.results) and summary["tensors_compared"] == len(frame)
    assert summary["disagreements"] == int((~frame["agree"].astype(bool)).sum())
    assert summary["max_rel_err"] == float(rel.max())
    assert summary["max_rel_err_by_dtype"] == {dt: float(g["max_rel_err"].max()) for dt, g in frame.groupby("dtype")}

    tally = Tally()
    for i, r in enumerate(run.results):
        tally.add(comparison_rows([r], start=i))
    pd.testing.assert_frame_equal(tally.pivot(), pivot(frame), check_dtype=False)
    pd.testing.assert_frame_equal(tally.frame(), frame, check_dtype=False)
    assert not tally.sampled and tally.sample_note() == ""


def test_a_long_run_keeps_a_bounded_sample_and_exact_totals(tmp_path):
    run = fuzz_campaign(TARGET, examples=40, seed=2, bounds=SMALL, report=tmp_path, diagnose=False)
    frame = comparisons_frame(list(run.results))
    tally = Tally(sample_cases=6)
    for i, r in enumerate(run.results):
        tally.add(comparison_rows([r], start=i))
    sample = tally.frame()
    assert tally.sampled and sample["case"].nunique() == 6 and "uniform sample of 6" in tally.sample_note()
    assert list(sample["case"]) == sorted(sample["case"])
    totals = tally.totals()
    assert totals["tensors compared"] == len(frame)
    assert totals["disagreeing tensors"] == int((~frame["agree"].astype(bool)).sum())
    pd.testing.assert_frame_equal(tally.pivot(), pivot(frame), check_dtype=False)
    again = Tally(sample_cases=6)
    for i, r in enumerate(run.results):
        again.add(comparison_rows([r], start=i))
    pd.testing.assert_frame_equal(again.frame(), sample)  # the same run, the same sample


def test_a_frame_of_some_columns_is_those_columns_of_the_whole_frame(tmp_path):
    """``Tally.frame(columns)`` reads the columns off the records; the rows of crashes and of cases
    added as rows give the same values as the full frame."""
    from crosscheck.reports.html import FRAME_COLUMNS

    run = fuzz_campaign(TARGET, examples=30, seed=1, bounds=SMALL, report=tmp_path, diagnose=False)
    results = list(run.results)
    assert any(r.crash for r in results) and any(not r.agree and not r.crash for r in results)
    tally = Tally()
    for i, r in enumerate(results):
        if i % 5 == 4:
            tally.add(comparison_rows([r], start=i))  # some cases as rows, the rest as records
        else:
            tally.add_result(i, r)
    whole = tally.frame()
    for columns in (FRAME_COLUMNS, ["case", "status", "agree"], ["loss", "tensor", "max_rel_err"]):
        pd.testing.assert_frame_equal(tally.frame(columns), whole[columns], check_dtype=False)
