"""Adapters for correct and broken backprop in the layouts tutorials use.

Correct code must come out ``agree`` (a correct target flagged as wrong is as
bad as a broken one passed); broken code must be flagged in exactly the
tensors that are wrong.
"""
from pathlib import Path

import pytest

from crosscheck.audit import AuditOptions, audit_paths

TARGETS = Path(__file__).parent / "audit_targets"


@pytest.fixture(scope="module")
def records():
    run = audit_paths([TARGETS / "layouts_correct.py", TARGETS / "layouts_broken.py"],
                      AuditOptions(examples=12, seed=0, timeout=12))
    return {r["function"]: r for r in run.records}


def flagged(record):
    return {t["name"] for t in record["tensors"] if t["agree"] is False}


@pytest.mark.parametrize("name", ["column_layout_dict", "row_layout_update", "per_sample_loop", "deep_named_dict",
                                  "float32_rows"])
def test_correct_code_agrees_in_every_layout(records, name):
    r = records[name]
    assert r["verdict"] == "agree", [f["message"] for f in r["findings"]]
    assert r["findings"] == [] and r["examples"] >= 10
    assert all(t["agree"] is True for t in r["tensors"])


def test_the_float32_target_is_judged_at_float32():
    from crosscheck.engine.loader import discover_file

    [target] = [t for t in discover_file(TARGETS / "layouts_correct.py")["targets"] if t["function"] == "float32_rows"]
    assert target["declaration"]["dtype"] == "float32"


def test_a_missing_mean_flags_every_tensor(records):
    r = records["column_layout_no_mean"]
    assert r["verdict"] == "disagree"
    assert flagged(r) == {"W1", "b1", "W2", "b2"}
    assert {f["kind"] for f in r["findings"]} == {"mismatch"}
    assert all(f["example"]["batch"] > 1 for f in r["findings"])  # right at batch 1


def test_a_bias_not_summed_is_a_shape_finding_in_that_bias_only(records):
    r = records["row_layout_bias_not_summed"]
    assert flagged(r) == {"b2"}
    [f] = r["findings"]
    assert f["kind"] == "shape" and f["tensors"] == ["b2"] and f["example"]["batch"] > 1
    assert "b2 has the wrong shape" in f["message"]


def test_a_relu_mask_from_the_input_crashes_or_is_wrong_in_layer_one(records):
    r = records["relu_mask_from_input"]
    assert flagged(r) == {"W1", "b1"}
    kinds = {f["kind"]: f for f in r["findings"]}
    crash = kinds["crash"]
    assert "ValueError" in crash["message"] and crash["example"]["sizes"][0] != crash["example"]["sizes"][1]
    wrong = kinds["mismatch"]
    assert set(wrong["tensors"]) == {"W1", "b1"}
    assert wrong["example"]["sizes"][0] == wrong["example"]["sizes"][1]
    assert "W1 and b1 disagree with torch" in wrong["message"]


def test_a_derivative_on_the_wrong_quantity_through_an_update(records):
    r = records["tanh_derivative_on_z"]
    assert r["declaration"]["returns"] == "update"
    assert flagged(r) == {"W1", "b1"}
    assert {f["kind"] for f in r["findings"]} == {"mismatch"}
