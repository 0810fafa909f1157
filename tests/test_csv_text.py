"""``tables.csv_text`` writes exactly what ``csv.writer`` writes for a case's rows."""
from __future__ import annotations

import csv
import dataclasses
import io
import math

import pytest

from crosscheck.judge.fastpath import check_chunk
from crosscheck.reports.tables import case_rows, csv_cells, csv_text
from crosscheck.drawing.sampler import seeded_case
from crosscheck.model.target import reference_target


def csv_module(rows) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(csv_cells(row) for row in rows)
    return buf.getvalue()


@pytest.fixture(scope="module")
def results():
    return check_chunk(reference_target(), [seeded_case(3, i) for i in range(40)])


def test_same_lines_as_the_csv_module(results):
    for i, r in enumerate(results):
        rows = case_rows(i, r)
        assert csv_text(rows) == csv_module(rows)


@pytest.mark.parametrize("note", ["", "a, b", 'says "x"', "two\nlines", "cr\r", "plain"])
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 5e-324, 0.1, 1e22, 3])
def test_unusual_cells(results, note, value):
    r = dataclasses.replace(results[0])
    r.comparisons = [dataclasses.replace(c, note=note, arbiter="fd, ok" if note == "plain" else "",
                                         max_abs_err=value, worst_index=None) for c in r.comparisons]
    rows = case_rows(7, r)
    assert csv_text(rows) == csv_module(rows)


def test_crash_row(results):
    r = dataclasses.replace(results[1], comparisons=[],
                            crash={"type": "ValueError", "message": "bad, shape", "traceback": ""})
    rows = case_rows(2, r)
    assert "crash" in csv_text(rows) and csv_text(rows) == csv_module(rows)
