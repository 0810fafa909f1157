"""The records of a run: one to_dict/from_dict each, one finding key, one verdict."""
import json
import math

import numpy as np

from crosscheck.drawing.sampler import Bounds, seeded_case
from crosscheck.engine.fuzz import fuzz
from crosscheck.judge.check import check_case
from crosscheck.model.records import (FOLDED, CaseResult, Finding, TensorComparison, finding_key, verdict)
from crosscheck.model.target import Family, Target, reference_target

SMALL = Bounds(max_depth=2, max_width=6, max_batch=4)


def _half_w1(X, Y, params, *, network):
    from crosscheck.reference import MLP
    grads = MLP(network.sizes, network.activations, params).gradients(X, Y, network.loss, network.reduction)[1]
    return {**grads, "W1": grads["W1"] * 0.5}


def _rows_times_columns(X, Y, params):
    (W1, b1), (W2, b2) = params
    hidden = X @ W1.T + b1
    return {"W1": hidden * X}  # (batch, hidden) * (batch, in): raises here unless they broadcast


def test_every_record_survives_its_round_trip_through_json():
    target = Target("half", _half_w1, Family(), takes_network=True)
    r = check_case(target, seeded_case(0, 3, None, SMALL))
    back = CaseResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back.case == r.case and back.agree == r.agree and back.kind == r.kind
    assert [c.message for c in back.comparisons] == [c.message for c in r.comparisons]
    c = r.comparisons[0]
    assert TensorComparison.from_dict(json.loads(json.dumps(c.to_dict()))).message == c.message
    f = Finding(r.kind, r.finding_tensors(), r, 4, ["scale"], "W1 is half")
    d = json.loads(json.dumps(f.to_dict()))
    assert d["id"] == "half:mismatch:W1" and [x["tensor"] for x in d["comparisons"]] == ["W1"]
    back = Finding.from_dict(d)
    assert (back.kind, back.tensors, back.first_seen, back.diagnosis, back.case) == \
        (f.kind, f.tensors, 4, ["scale"], f.case)


def test_each_error_sits_beside_its_allowance_and_under_one_passes():
    for i in range(30):
        r = check_case(reference_target(), seeded_case(2, i, None, SMALL))
        assert all(c.ratio <= 1 for c in r.comparisons if c.agree)
    bad = check_case(Target("half", _half_w1, Family(), takes_network=True), seeded_case(0, 3, None, SMALL))
    assert all(c.ratio > 1 for c in bad.failing) and "error/allowed" in bad.failing[0].message


def test_an_agreeing_case_folds_into_its_worst_tensor_and_keeps_the_count():
    r = check_case(reference_target(), seeded_case(1, 5, None, SMALL))
    one = r.folded()
    assert [c.tensor for c in one.comparisons] == [FOLDED] and one.tensor_count == len(r.comparisons)
    assert one.comparisons[0].ratio == max(c.ratio for c in r.comparisons)
    assert one.comparisons[0].max_rel_err == max(c.max_rel_err for c in r.comparisons)
    assert one.comparisons[0].size == sum(c.size for c in r.comparisons)
    assert CaseResult.from_dict(json.loads(json.dumps(one.to_dict()))).tensor_count == one.tensor_count
    bad = check_case(Target("half", _half_w1, Family(), takes_network=True), seeded_case(0, 3, None, SMALL))
    assert bad.folded() is bad  # a failure keeps every row


def test_a_crash_is_keyed_by_its_type_and_the_line_that_raised_it():
    target = Target("rows", _rows_times_columns, Family(activations=("relu", "identity"), loss="mse"))
    case = next(c for c in (seeded_case(0, i, target.family, SMALL) for i in range(50))
                if 1 < c.network.sizes[0] != c.network.sizes[1] > 1)
    key = finding_key(check_case(target, case))
    assert key[:2] == ("crash", "ValueError") and key[2].startswith("test_records.py:") and "_rows_times_columns" in key[2]


def test_a_crash_shrinks_to_the_smallest_network_raising_it_on_the_same_line():
    target = Target("rows", _rows_times_columns, Family(activations=("relu", "identity"), loss="mse"))
    run = fuzz(target, examples=60, seed=0, diagnose=False, database="none")
    crashes = [f for f in run.findings if f.kind == "crash"]
    assert len(crashes) == 1
    case = crashes[0].case
    assert case.batch == 1 and case.network.sizes[:2] in ((2, 3), (3, 2)), case.describe()


def test_one_verdict_for_every_report():
    assert verdict([]) == "agree"
    assert verdict(["crash", "mismatch"]) == "disagree"
    assert verdict(["crash", "timeout"]) == "timeout"
    assert verdict(["crash"]) == "crashed"
    assert verdict(["shape", "timeout"]) == "disagree"
    assert math.isinf(TensorComparison("W1", (1,), (2,), "float64", 2, 2, 1.0, math.inf, math.inf, None, 0.0,
                                       np.nan, "shape", ratio=math.inf).ratio)


def test_two_crashes_of_one_type_on_other_lines_have_their_own_ids():
    from crosscheck.model.records import finding_id

    at = lambda line: {"type": "ValueError", "location": f"t.py:{line} in f"}
    first, second = finding_id("t.f", "crash", [], at(52)), finding_id("t.f", "crash", [], at(54))
    assert first == "t.f:crash:ValueError@t.py:52" and first != second
