"""The texts a checked case is recorded with (its results.jsonl line, its fuzz.csv rows, its tallies),
written by hand for the usual values, are exactly what the json and csv modules write: checked on
awkward values (quotes, commas, line breaks, non-ASCII, NaN, inf, -0.0, NumPy scalars, bools, lists)."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crosscheck.engine import stream
from crosscheck.judge.check import CaseResult
from crosscheck.numerics.compare import STATUSES, TensorComparison
from crosscheck.judge.fastpath import check_chunk
from crosscheck.reports.tables import Tally, case_csv, case_rows, csv_cells
from crosscheck.drawing.sampler import seeded_case
from crosscheck.model.target import reference_target


def json_line(index: int, phase: str, result) -> str:
    """The stream line as the json module writes it."""
    body = json.dumps(stream.result_to_dict(result, rows=True), separators=(",", ":"), default=stream._default)
    return f'{{"type":"result","index":{index},"phase":{json.dumps(phase)},"result":{body}}}\n'


def csv_module(index: int, result) -> str:
    """The fuzz.csv rows as the csv module writes them."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(csv_cells(row) for row in case_rows(index, result))
    return buf.getvalue()


@pytest.fixture(scope="module")
def results():
    return check_chunk(reference_target(), [seeded_case(5, i) for i in range(30)])


def test_checked_cases_are_written_as_json_and_csv_write_them(results):
    for i, r in enumerate(results):
        assert stream.result_line(i, "generate", r) == json_line(i, "generate", r)
        assert case_csv(i, r) == csv_module(i, r)  # the texts the line kept
        assert case_csv(i, r) == csv_module(i, r)  # formatted again
    assert all(stream.comparison_texts(c) is not None for r in results for c in r.comparisons)


# -- awkward records -------------------------------------------------------------------------------

names = st.sampled_from(["W1", "b2", "dA1", "dX", "agree", "float64", ""]) | st.text(max_size=8)
ints = st.integers(0, 300)
weird_ints = ints | st.booleans() | ints.map(np.int64) | st.just(1.0)
floats = (st.sampled_from([0.0, -0.0, math.nan, math.inf, -math.inf, 5e-324, 1e16, 1e-5, 0.1])
          | st.floats(allow_nan=True, allow_infinity=True))
weird_floats = floats | floats.map(np.float64) | ints | st.none()
shapes = st.tuples(ints, ints) | st.tuples(ints) | st.tuples() | st.tuples(ints, ints, ints)
weird_shapes = shapes | st.tuples(weird_ints, weird_ints) | st.tuples(weird_ints)


@st.composite
def comparisons(draw, usual: bool):
    """A ``TensorComparison``: of the usual types when ``usual``, else of any type the records may hold."""
    value = (lambda s, w: draw(s)) if usual else (lambda s, w: draw(s | w))
    return TensorComparison(
        tensor=value(names, st.nothing()), shape=value(shapes, weird_shapes),
        expected_shape=value(shapes, weird_shapes), dtype=value(names, st.nothing()),
        size=value(ints, weird_ints), mismatches=value(ints, weird_ints),
        mismatch_fraction=value(floats, weird_floats), max_abs_err=value(floats, weird_floats),
        max_rel_err=value(floats, weird_floats), worst_index=value(shapes | st.none(), weird_shapes | st.lists(ints)),
        allowed_abs_err=value(floats, weird_floats), torch_err=value(floats, weird_floats),
        status=draw(st.sampled_from(STATUSES) | names), note=draw(names), arbiter=draw(names),
        arbiter_note=draw(names), conventions=value(ints, weird_ints))


@st.composite
def case_results(draw, usual: bool):
    crash = draw(st.none() | st.fixed_dictionaries({"type": names, "message": names, "traceback": names}))
    return CaseResult(case=seeded_case(draw(st.integers(0, 3)), draw(st.integers(0, 50))), target=draw(names),
                      comparisons=draw(st.lists(comparisons(usual), min_size=1, max_size=4)), crash=crash,
                      loss=draw(st.none() | floats), undefined=draw(st.booleans()),
                      measured=tuple(draw(st.lists(st.sampled_from(["noise", "arbiter"]), max_size=2))))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case_results(usual=False), st.integers(-3, 10_000), st.sampled_from(["generate", "shrink", "replay"]))
def test_any_result_line_is_what_json_writes(result, index, phase):
    line = stream.result_line(index, phase, result)
    assert line == json_line(index, phase, result)
    back = json.loads(line)["result"]
    assert stream.result_from_dict(back).case == result.case


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case_results(usual=False), st.integers(0, 10_000))
def test_any_case_csv_is_what_the_csv_module_writes(result, index):
    try:
        expected = csv_module(index, result)
    except TypeError:  # a cell the csv rows cannot hold (a NumPy float in a shape's join, say)
        return
    assert case_csv(index, result) == expected  # formatted here
    stream.result_line(index, "generate", result)
    assert case_csv(index, result) == expected  # the texts kept by the stream line


@settings(max_examples=200, deadline=None)
@given(st.lists(comparisons(usual=True), min_size=1, max_size=6))
def test_usual_records_take_the_fast_path_unless_their_text_needs_care(comps):
    result = CaseResult(case=seeded_case(0, 1), target="reference", comparisons=comps)
    assert stream.result_line(4, "generate", result) == json_line(4, "generate", result)
    assert case_csv(4, result) == csv_module(4, result)
    for c in comps:
        texts = stream.comparison_texts(c)
        plain = all(stream._PLAIN(s) for s in (c.tensor, c.dtype, c.status, c.note, c.arbiter, c.arbiter_note))
        finite = all(math.isfinite(x) for x in (c.mismatch_fraction, c.max_abs_err, c.max_rel_err,
                                                  c.allowed_abs_err))
        small = all(t is None or 1 <= len(t) <= 2 for t in (c.shape, c.expected_shape, c.worst_index))
        by_hand = plain and finite and small and not math.isinf(c.torch_err)
        assert (texts is not None) == by_hand


def test_signed_zeros_and_repeated_floats_keep_their_own_text(results):
    r = results[0]
    zeros = [dataclasses.replace(c, max_abs_err=z, allowed_abs_err=z, torch_err=0.5)
             for c, z in zip(r.comparisons, [0.0, -0.0, 0.0, -0.0, 0.5, 0.5])]
    result = dataclasses.replace(r, comparisons=zeros)
    line = stream.result_line(0, "generate", result)
    assert line == json_line(0, "generate", result) and ",-0.0," in line
    assert case_csv(0, result) == csv_module(0, result)


def test_a_result_changed_between_its_two_files_is_formatted_again(results):
    r = dataclasses.replace(results[1])
    stream.result_line(1, "generate", r)
    r.comparisons = [dataclasses.replace(c, note="changed, after") for c in r.comparisons]
    assert case_csv(1, r) == csv_module(1, r)


# -- tallies -----------------------------------------------------------------------------------------

def _same(a, b) -> bool:
    """Equal, NaN equal to NaN, and a float's sign and type kept."""
    if isinstance(a, float) and isinstance(b, float):
        return repr(a) == repr(b)
    return type(a) is type(b) and a == b


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(case_results(usual=False), min_size=1, max_size=6), st.integers(1, 4))
def test_add_result_tallies_what_the_rows_say(results, sample):
    by_rows, by_records = Tally(sample_cases=sample), Tally(sample_cases=sample)
    for i, r in enumerate(results):
        by_rows.add(case_rows(i, r))
        by_records.add_result(i, r)
    for name in ("cases", "tensors", "disagreements", "max_rel"):
        assert _same(getattr(by_rows, name), getattr(by_records, name)), name
    for name in ("max_rel_by_dtype", "_finite_by_dtype"):
        a, b = getattr(by_rows, name), getattr(by_records, name)
        assert a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a), name
    assert by_rows.totals().keys() == by_records.totals().keys()
    assert by_rows._groups.keys() == by_records._groups.keys()
    for k, (c, t, w, d) in by_rows._groups.items():
        c2, t2, w2, d2 = by_records._groups[k]
        assert (c, t, d) == (c2, t2, d2) and w.keys() == w2.keys() and all(_same(w[x], w2[x]) for x in w)
    import pandas as pd
    pd.testing.assert_frame_equal(by_rows.frame(), by_records.frame())


def test_a_stream_without_a_report_writes_the_same_lines(tmp_path, results):
    """Alone (no fuzz.csv taking the texts), the writer leaves its lines to json: the same bytes."""
    with stream.StreamWriter(tmp_path, {"command": "test"}) as writer:
        for i, r in enumerate(results[:6]):
            writer.result(i, "generate", r)
    lines = (tmp_path / stream.STREAM_FILE).read_text().splitlines(keepends=True)[1:]
    assert lines == [json_line(i, "generate", r) for i, r in enumerate(results[:6])]
