"""The audit says what came back when it is not a gradient, and calls the target twice on the confirming
case: different answers are a "not deterministic" finding, and replay exits 1 for them."""
import json
import textwrap
from pathlib import Path

import pytest

from crosscheck.app.cli import main

TARGETS = Path(__file__).parent / "audit_targets"

RETURNS = """
    import numpy as np
    from crosscheck import audit_target

    def grads(X, Y, params):
        [(W, b)] = params
        dZ = 2 * (X @ W.T + b - Y)
        return dZ.T @ X, dZ.sum(axis=0)

    @audit_target(activations=["identity"], loss="mse", reduction="sum")
    def returns_none(X, Y, params):
        return None

    @audit_target(activations=["identity"], loss="mse", reduction="sum")
    def complex_dw(X, Y, params):
        dW, db = grads(X, Y, params)
        return [(dW + 1e6j, db)]

    @audit_target(activations=["identity"], loss="mse", reduction="sum")
    def float32_dw(X, Y, params):
        dW, db = grads(X, Y, params)
        return [(dW.astype(np.float32), db)]

    @audit_target(activations=["identity"], loss="mse", reduction="sum")
    def no_db(X, Y, params):
        dW, db = grads(X, Y, params)
        return {"dW1": dW, "dA1": np.ones((7, 9))}

    @audit_target(activations=["identity"], loss="mse", reduction="sum")
    def course_dict(X, Y, params):
        dW, db = grads(X, Y, params)
        return {"dW1": dW, "db1": db.reshape(-1, 1), "dZ1": np.ones((9, 7)), "dA1": np.ones((9, 7))}
"""


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    folder = tmp_path_factory.mktemp("returns")
    (folder / "returns.py").write_text(textwrap.dedent(RETURNS))
    report = folder / "report"
    main(["audit", str(folder / "returns.py"), "--examples", "4", "--database", "none", "--report", str(report)])
    return {t["function"]: t for t in json.loads((report / "audit.json").read_text())["targets"]}


def _finding(rec):
    assert len(rec["findings"]) == 1, rec["findings"]
    return rec["findings"][0]


def test_none_is_said_plainly(records):
    f = _finding(records["returns_none"])
    assert f["message"].startswith("The target returned None, expected a list of 1 (dW, db) pairs")
    assert f["diagnosis"] == ["shape"]


def test_an_imaginary_part_is_never_dropped(records):
    f = _finding(records["complex_dw"])
    assert records["complex_dw"]["verdict"] == "disagree" and f["tensors"] == ["W1"]
    assert "a complex128 array" in f["message"]


def test_float32_from_a_float64_target_is_its_own_plain_finding(records):
    f = _finding(records["float32_dw"])
    assert "a float32 array from a target declared dtype='float64'" in f["message"]
    assert "times torch" not in f["message"]


def test_a_dict_without_b1_names_it_without_a_made_up_diagnosis(records):
    f = _finding(records["no_db"])
    assert f["tensors"] == ["b1"] and "the returned dict has no b1" in f["message"] and f["diagnosis"] == ["shape"]


def test_course_style_intermediates_are_ignored_with_a_note(records):
    rec = records["course_dict"]
    assert rec["verdict"] == "agree", rec["findings"]
    assert rec["notes"] == ["returned dZ1, dA1 ignored: intermediates are compared only when the declaration "
                            "says intermediates=True"]


def test_a_target_right_only_on_its_first_call_is_not_deterministic_and_replay_exits_1(tmp_path, capsys):
    report = tmp_path / "report"
    main(["audit", str(TARGETS / "first_call_only.py"), "--examples", "4", "--database", "none",
          "--report", str(report)])
    targets = {t["function"]: t for t in json.loads((report / "audit.json").read_text())["targets"]}
    assert [f["kind"] for f in targets["noisy"]["findings"]] == ["nondeterministic"]
    assert "Not deterministic: two calls on the same case returned different values" in \
        targets["noisy"]["findings"][0]["message"]
    assert targets["right_once"]["verdict"] == "disagree"
    capsys.readouterr()
    assert main(["replay", str(report / "audit.json"), "1"]) == 1  # right_once's finding, replayed afresh
    assert "not deterministic" in capsys.readouterr().out
