"""Explaining a failure with a set of bugs: the search, the tracer, the line of each bug, and
claims checked on cases of other shapes before they are printed."""
import sys
from pathlib import Path

import numpy as np
import pytest

from crosscheck.diagnosis import diagnose
from crosscheck.diagnosis.corpus import COMBINATIONS, _c
from crosscheck.diagnosis.evidence import gather
from crosscheck.diagnosis.explain import explain
from crosscheck.diagnosis.lines import locate, scale_of, trace
from crosscheck.diagnosis.probes import Probes
from crosscheck.diagnosis.verify import checked, factor_holds
from crosscheck.diagnosis.signature import Signature
from crosscheck.judge.tracing import trace_call
from crosscheck.model.cases import Case, Network
from crosscheck.model.target import Family, Target

TUTORIALS = Path(__file__).resolve().parents[1] / "examples" / "tutorials"


def case(sizes, acts, loss="mse", batch=3, seed=1, regime="normal", reduction="mean"):
    return Case(Network(sizes, acts, loss, reduction), batch, "float64", regime, seed)


def explained(target, c):
    ev, probes = gather(target, c), Probes(target, c)
    verification = probes.verification()
    return explain(ev, verification), verification


def keys(expl):
    return [(b.variant.key, b.layer) for b in expl.bugs]


# -- the search ----------------------------------------------------------------------------

def test_the_four_bugs_of_relu_rows_are_found_at_a_one_sample_example():
    m = COMBINATIONS[0]  # half-MSE, output derivative missing, dW2 from X, ReLU mask from X
    expl, verification = explained(m.target(), case((3, 3, 1), m.activations, batch=1))
    assert expl.explained and expl.confirmed == 3
    assert keys(expl) == [("half-mse", 0), ("output-derivative-missing", 2), ("weight-grad-wrong-input", 2),
                          ("relu-mask-from-input", 1)]
    # the verification cases keep the example's equal widths and have shapes of their own
    assert len({(v.network.sizes, v.batch) for v in verification}) == 3


def test_two_stray_factors_on_two_layers_are_two_bugs_with_their_values():
    m = _c([("stray-factor-W", 2, 2.0), ("stray-factor-b", 1, 4.0)], ("relu", "identity"))
    expl, _ = explained(m.target(), case((2, 3, 2), m.activations))
    assert expl.explained and keys(expl) == [("stray-factor-W", 2), ("stray-factor-b", 1)]
    assert [round(b.value, 6) for b in expl.bugs] == [2.0, 4.0]


def test_a_bug_outside_the_library_is_where_the_explanation_stops():
    """dW1 with a dropped column is no known bug: the output layer's bug is named, layer 1 is not explained."""
    m = _c([("output-derivative-missing", 2), ("half-mse", 0)], ("relu", "sigmoid"))
    inner = m.target()

    def fn(X, Y, params, *, network):
        grads = inner.fn(X, Y, params, network=network)
        grads["W1"] = grads["W1"].copy()
        grads["W1"][:, 0] = 0.0
        return grads

    target = Target("dropped-column", fn, inner.family, takes_network=True)
    expl, _ = explained(target, case((3, 4, 1), m.activations))
    assert not expl.explained and expl.unexplained_layer == 1 and expl.unexplained_tensors == ["W1"]
    assert keys(expl) == [("half-mse", 0), ("output-derivative-missing", 2)]
    d = diagnose(target, case((3, 4, 1), m.activations))
    assert not d.explained and "the unexplained difference begins at layer 1 (W1)" in d.message
    assert "beyond them, by signature: dW1 is wrong while db1 = Σ dZ1 is right" in d.message


def test_a_correct_layer_adds_no_bug():
    m = _c([("stray-factor-W", 1, 3.0), ("tanh-prime-of-z", 1)], ("tanh", "identity"))
    expl, _ = explained(m.target(), case((2, 3, 1), m.activations))
    assert expl.explained and all(b.layer == 1 for b in expl.bugs) and len(expl.bugs) == 2


# -- the tracer ----------------------------------------------------------------------------

class _Net:
    def __init__(self, W):
        self.W = W

    def step(self, X, lr):
        grad = X.T @ X
        self.W -= lr * grad
        scaled = 2 * grad
        return scaled, grad.sum()


def _run(W, X):
    net = _Net(W)
    out = net.step(X, 0.5)
    return out


def test_the_tracer_records_assignments_in_place_updates_and_returns_line_by_line():
    X, W = np.arange(6.0).reshape(3, 2), np.ones((2, 2))
    before = sys.gettrace()
    records = trace_call(_run, (W.copy(), X), [__file__])
    assert sys.gettrace() is before
    by_name = {(r["name"], r["code"]): r for r in records}
    grad = by_name[("grad", "grad = X.T @ X")]["array"]
    assert np.array_equal(grad, X.T @ X)
    change = by_name[("self.W (change)", "self.W -= lr * grad")]["array"]
    assert np.allclose(change, -0.5 * X.T @ X)
    assert np.array_equal(by_name[("return[0]", "return scaled, grad.sum()")]["array"], 2 * X.T @ X)
    lines = [r["line"] for r in records if r["name"] in ("grad", "scaled")]
    assert lines == sorted(lines) and all(r["file"] == __file__ for r in records)


def test_the_tracer_keeps_the_lines_before_an_exception_and_ignores_other_files():
    def broken(X):
        first = X * 2
        raise ValueError("shapes")

    records = trace_call(broken, (np.ones(3),), [__file__])
    assert [r["name"] for r in records] == ["first"]
    assert trace_call(np.linalg.norm, (np.ones(3),), [__file__]) == []


def test_a_record_matches_a_quantity_in_any_layout_and_up_to_a_scale():
    q = np.arange(1.0, 7.0).reshape(2, 3)
    assert scale_of(q.T.copy(), q) == pytest.approx(1.0)
    assert scale_of(-0.5 * q.reshape(1, 6), q) == pytest.approx(-0.5)
    assert scale_of(q.ravel()[::-1].copy(), q) is None


# -- the line of each bug ------------------------------------------------------------------

def _tutorial_target(adapter: str):
    from crosscheck.engine.loader import discover_file, load_target

    sys.path.insert(0, str(TUTORIALS))
    try:
        return load_target(discover_file(TUTORIALS / adapter)["targets"][0])
    finally:
        sys.path.remove(str(TUTORIALS))


def test_relu_rows_gets_four_bugs_on_their_lines():
    target = _tutorial_target("relu_rows_audit.py")
    d = diagnose(target, case((1, 1, 1), ("relu", "sigmoid"), batch=1, seed=0))
    assert d.explained
    code = {b["variant"]: b["source"]["code"] for b in d.bugs}
    assert code == {"half-mse": "output_delta = (self.a2 - y) / y.size",
                    "output-derivative-missing": "output_delta = (self.a2 - y) / y.size",
                    "weight-grad-wrong-input": "self.W2 -= learning_rate * (X.T @ output_delta)",
                    "relu-mask-from-input": "hidden_delta = (output_delta @ self.W2.T) * relu_derivative(X)"}
    assert all(b["source"]["file"].endswith("relu_rows.py") and b["confirmed"] == 3 for b in d.bugs)
    source = (TUTORIALS / "relu_rows.py").read_text().splitlines()
    assert all(source[b["source"]["line"] - 1].strip() == b["source"]["code"] for b in d.bugs)
    assert [b["layer"] for b in d.bugs] == [3, 2, 2, 1]
    assert "1. the MSE gradient lacks its factor 2" in d.message and "4. the ReLU mask of layer 1" in d.message


def test_linear_regression_gets_the_half_mse_on_its_line():
    target = _tutorial_target("linear_regression_audit.py")
    d = diagnose(target, case((1, 1), ("identity",), batch=1, seed=0))
    assert d.explained and [b["variant"] for b in d.bugs] == ["half-mse"]
    assert d.bugs[0]["source"]["code"] == "dw = np.sum(error * x) / m"


def test_a_correct_target_is_not_traced_into_a_bug():
    m = COMBINATIONS[0]
    ev = gather(m.target(), case((3, 3, 1), m.activations, batch=4))
    assert locate([], ev, trace(m.target(), ev)) == {}


# -- verified claims only ------------------------------------------------------------------

def _ignores_input(X, Y, params):
    """A sigmoid output backward that ignores its input: dZ2 = dA2 * 0.25 (the derivative at z = 0)."""
    (W1, b1), (W2, b2) = params
    z1 = X @ W1.T + b1
    a1 = np.tanh(z1)
    a2 = 1 / (1 + np.exp(-(a1 @ W2.T + b2)))
    dZ2 = 2 * (a2 - Y) / Y.size * 0.25
    dZ1 = (dZ2 @ W2) * (1 - a1 ** 2)
    return [(dZ1.T @ X, dZ1.sum(axis=0)), (dZ2.T @ a1, dZ2.sum(axis=0))]


def test_a_ratio_at_a_scalar_example_is_not_claimed():
    target = Target("ignores-input", _ignores_input, Family(activations=("tanh", "sigmoid"), loss="mse"))
    c = case((1, 1, 1), ("tanh", "sigmoid"), batch=1)
    ev, probes = gather(target, c), Probes(target, c)
    names = ["W1", "b1", "W2", "b2"]
    ratio = float(ev.candidate["W2"].ravel()[0] / ev.truth["W2"].ravel()[0])
    verification = probes.verification()
    assert not factor_holds(ratio, names, ev, verification)
    [taken_back] = checked([Signature("scale", names, "every gradient is c times torch's", factor=ratio)],
                           ev, verification)
    assert taken_back.label == "other" and taken_back.factor is None and "by no one factor" in taken_back.sentence
    d = diagnose(target, c)
    assert "times torch's" not in d.message and "scale" not in d.labels


def test_a_true_factor_is_confirmed_on_three_shapes():
    m = _c([("half-mse", 0), ("stray-factor-W", 2, 2.0)], ("relu", "identity"))
    c = case((2, 3, 2), m.activations)
    target = m.target()
    ev, probes = gather(target, c), Probes(target, c)
    verification = probes.verification()
    assert len(verification) == 3 and factor_holds(0.5, ["W1", "b1", "b2"], ev, verification)
    kept = checked([Signature("scale", ["W1", "b1", "b2"], "half", factor=0.5)], ev, verification)
    assert kept[0].sentence == "half" and kept[0].factor == 0.5
    assert not factor_holds(0.5, ["W2"], ev, verification)  # W2 is 1x torch's: 0.5 times 2


def test_a_stray_factor_outside_the_set_is_named_by_signature_beyond_the_known_bugs():
    """A known bug at the output, and dW1 and db1 both times 3 (dZ1 tripled by hand: no known bug)."""
    m = _c([("output-derivative-missing", 2)], ("relu", "sigmoid"))
    inner = m.target()

    def fn(X, Y, params, *, network):
        grads = inner.fn(X, Y, params, network=network)
        return {"W1": grads["W1"] * 3, "b1": grads["b1"] * 3, "W2": grads["W2"], "b2": grads["b2"]}

    target = Target("dz1-tripled", fn, inner.family, takes_network=True)
    d = diagnose(target, case((3, 4, 1), m.activations))
    assert [b["variant"] for b in d.bugs] == ["output-derivative-missing"] and not d.explained
    assert "beyond them, by signature" in d.message and "3 times" in d.message


def test_a_crash_matches_a_known_bug_only_when_it_is_the_same_kind_of_crash():
    """relu_rows at 3-1-1: the ReLU mask from X broadcasts silently there, and the crash is the
    in-place update of W2 with X.T @ delta: a ValueError like the mask's own, but not the mask's."""
    from crosscheck.diagnosis.evidence import crash_kind

    assert crash_kind("ValueError", "operands could not be broadcast together with shapes (1,3) (1,2)") == \
        crash_kind("ValueError", "operands could not be broadcast together with shapes (4,11) (4,2)")
    assert crash_kind("ValueError", "non-broadcastable output operand with shape (1,1) doesn't match the "
                      "broadcast shape (3,1)") != crash_kind("ValueError", "operands could not be broadcast "
                                                             "together with shapes (1,3) (1,2)")
    target = _tutorial_target("relu_rows_audit.py")
    update = diagnose(target, case((3, 1, 1), ("relu", "sigmoid"), batch=1, seed=0))
    assert "activation-mask" not in update.labels
    mask = diagnose(target, case((2, 3, 3), ("relu", "sigmoid"), batch=1, seed=0))
    assert mask.labels == ["activation-mask"]


# -- a crash raised by a bug another finding names -------------------------------------------------

def _finding(target, c):
    from crosscheck.diagnosis import diagnose_finding
    from crosscheck.judge.check import check_case
    from crosscheck.model.records import Finding

    r = check_case(target, c)
    f = Finding(r.kind, r.finding_tensors(), r, 1)
    f.diagnosis, f.message = diagnose_finding(target, f)
    return f


def _relu_rows_findings():
    from crosscheck.judge.check import check_case

    target = _tutorial_target("relu_rows_audit.py")
    acts = ("relu", "sigmoid")
    wrong = _finding(target, case((1, 1, 1), acts, batch=1, seed=0))
    mask = _finding(target, case((2, 3, 1), acts, batch=1, seed=0))  # raises on line 52
    update = _finding(target, case((2, 1, 1), acts, batch=1, seed=0))  # raises on line 54
    more = [check_case(target, case(s, acts, batch=b, seed=k))
            for k, (s, b) in enumerate([((4, 6, 2), 3), ((3, 5, 1), 2), ((3, 1, 2), 2), ((5, 1, 1), 4)])]
    return target, wrong, mask, update, more


def test_a_crash_on_the_line_of_a_bug_another_finding_names_is_that_bug():
    """relu_rows raises on line 52 (the ReLU mask from X) when in != hidden, and on line 54 (dW2 from X)
    when hidden is 1: each crash is the bug of the mismatch finding on that line, checked by putting
    that finding's bugs into the reference at the crash's example and two more cases that raised it."""
    from crosscheck.diagnosis import explain_crashes

    _, wrong, mask, update, more = _relu_rows_findings()
    assert wrong.explained and not mask.bugs and not update.bugs
    explain_crashes([mask, update, wrong], more)
    source = (TUTORIALS / "relu_rows.py").read_text().splitlines()
    assert mask.explained and [b["variant"] for b in mask.bugs] == ["relu-mask-from-input"]
    assert update.explained and [b["variant"] for b in update.bugs] == ["weight-grad-wrong-input"]
    for f, line in ((mask, 52), (update, 54)):
        [bug] = f.bugs
        assert bug["source"]["line"] == line and bug["source"]["code"] == source[line - 1].strip()
        assert bug["confirmed"] == 3 and bug["label"] == f.diagnosis[0]
        assert "here, and on 2 more cases that raised it" in f.message
    assert "reference raises ValueError too" in mask.message
    assert "reference gives dW2 of shape (1, 2) where W2 is (1, 1)" in update.message
    # the statement is the crash's own: no condition counted at the mismatch's example
    assert "entries here" not in mask.message


def test_a_crash_is_not_given_a_bug_its_line_does_not_hold_or_the_bugs_do_not_reproduce():
    from crosscheck.diagnosis import explain_crashes

    _, wrong, mask, update, more = _relu_rows_findings()
    # no bug of the mismatch on line 52: the mask's crash keeps its own diagnosis
    keep = [i for i, b in enumerate(wrong.bugs) if b["source"]["line"] != 52]
    wrong.bugs, wrong.bug_set = [wrong.bugs[i] for i in keep], [wrong.bug_set[i] for i in keep]
    before = (list(mask.diagnosis), mask.message)
    explain_crashes([mask, wrong], more)
    assert not mask.bugs and not mask.explained and (list(mask.diagnosis), mask.message) == before

    # line 54's crash said to come from line 52: the bugs from layer 1 up give another error at 2-1-1
    # (the mask's product broadcasts there, and a matrix product below fails), so it is not that bug
    _, wrong, mask, update, more = _relu_rows_findings()
    update.result.crash["location"] = "relu_rows.py:52 in train_step"
    before = (list(update.diagnosis), update.message)
    explain_crashes([update, wrong], more)
    assert not update.bugs and not update.explained and (list(update.diagnosis), update.message) == before


MASK_FROM_X = """
import numpy as np
from crosscheck import audit_target


@audit_target(activations=["relu", "sigmoid"], loss="mse")
def two_layer(X, Y, params):
    (W1, b1), (W2, b2) = params
    z1 = X @ W1.T + b1
    a1 = np.maximum(z1, 0)
    a2 = 1 / (1 + np.exp(-(a1 @ W2.T + b2)))
    dZ2 = 2 * (a2 - Y) / Y.size * a2 * (1 - a2)
    dZ1 = (dZ2 @ W2) * (X > 0)
    return [(dZ1.T @ X, dZ1.sum(0)), (dZ2.T @ a1, dZ2.sum(0))]
"""


def test_gradients_of_the_wrong_shape_are_the_bug_of_their_layer_that_another_finding_names(tmp_path):
    """The ReLU mask from X, where the hidden width is 1: (batch, 1) * (batch, in) broadcasts, and
    dW1, db1 come back (in, in) and (in,). The mismatch finding names the mask; the set from layer 1
    up in the reference returns those very shapes, at this example and at two more."""
    from crosscheck.diagnosis import explain_crashes
    from crosscheck.engine.loader import discover_file, load_target
    from crosscheck.judge.check import check_case

    (tmp_path / "mask_from_x.py").write_text(MASK_FROM_X)
    sys.path.insert(0, str(tmp_path))
    try:
        target = load_target(discover_file(tmp_path / "mask_from_x.py")["targets"][0])
        acts = ("relu", "sigmoid")
        wrong = _finding(target, case((1, 1, 1), acts, batch=1, seed=0))
        shape = _finding(target, case((2, 1, 1), acts, batch=1, seed=0))
        more = [check_case(target, case(s, acts, batch=2, seed=3)) for s in ((3, 1, 2), (4, 1, 1), (2, 5, 1))]
    finally:
        sys.path.remove(str(tmp_path))
    assert shape.kind == "shape" and not shape.bugs
    explain_crashes([shape, wrong], more)
    assert shape.explained and [b["variant"] for b in shape.bugs] == ["relu-mask-from-input"]
    assert shape.bugs[0]["source"]["code"] == "dZ1 = (dZ2 @ W2) * (X > 0)" and shape.bugs[0]["confirmed"] == 3
    assert shape.diagnosis[0] == "activation-mask"
    assert "reference returns dW1 of shape (2, 2) and db1 of shape (2,) too here, and on 2 more cases" in shape.message


def _file_target(tmp_path, name: str, text: str):
    from crosscheck.engine.loader import discover_file, load_target

    (tmp_path / f"{name}.py").write_text(text)
    sys.path.insert(0, str(tmp_path))
    try:
        return load_target(discover_file(tmp_path / f"{name}.py")["targets"][0])
    finally:
        sys.path.remove(str(tmp_path))


L2_EVERY_PARAMETER = """
import numpy as np
from crosscheck import audit_target

LAM = 0.05


@audit_target(activations=["sigmoid", "identity"], loss="mse", reduction="batch_mean", l2=2 * LAM)
def l2_everywhere(X, Y, params):
    (W1, b1), (W2, b2) = params
    p = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    a1 = 1 / (1 + np.exp(-(X @ W1.T + b1)))
    dZ2 = 2 * (a1 @ W2.T + b2 - Y) / len(X)
    dZ1 = (dZ2 @ W2) * a1 * (1 - a1)
    grads = {"W1": dZ1.T @ X, "b1": dZ1.sum(0), "W2": dZ2.T @ a1, "b2": dZ2.sum(0)}
    for name in grads:
        grads[name] += LAM * p[name]
    return [(grads["W1"], grads["b1"]), (grads["W2"], grads["b2"])]
"""


def test_two_bugs_of_the_l2_term_combine_and_an_entry_updated_in_place_is_their_line(tmp_path):
    """A loss with lam ||W||² (declared l2 = 2 lam) whose code adds lam * p to every gradient: half the
    weights' term, and a term on the biases; both on the line that updates the dict's entries."""
    target = _file_target(tmp_path, "l2_everywhere", L2_EVERY_PARAMETER)
    c = Case(Network((2, 3, 2), ("sigmoid", "identity"), "mse", "batch_mean", l2=0.1), 2, "float64", "normal", 1)
    d = diagnose(target, c)
    assert d.explained and [b["variant"] for b in d.bugs] == ["l2-halved", "l2-on-bias"]
    assert all(b["source"]["code"] == "grads[name] += LAM * p[name]" for b in d.bugs)


PER_EXAMPLE = """
import numpy as np
from crosscheck import audit_target


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def backprop(x, y, W1, b1, W2, b2):
    a1 = sigmoid(W1 @ x + b1)
    a2 = sigmoid(W2 @ a1 + b2)
    delta = a2 - y
    gW2, gb2 = delta @ a1.T, delta
    delta = (W2.T @ delta) * a1 * (1 - a1)
    return delta @ x.T, delta, gW2, gb2


@audit_target(activations=["sigmoid", "sigmoid"], loss="mse", reduction="batch_mean", scale=0.5)
def one_example_at_a_time(X, Y, params):
    (W1, b1), (W2, b2) = params
    sums = [np.zeros_like(W1), np.zeros((len(b1), 1)), np.zeros_like(W2), np.zeros((len(b2), 1))]
    for x, y in zip(X, Y):
        parts = backprop(x[:, None], y[:, None], W1, b1[:, None], W2, b2[:, None])
        sums = [s + p for s, p in zip(sums, parts)]
    gW1, gb1, gW2, gb2 = (s / len(X) for s in sums)
    return [(gW1, gb1.ravel()), (gW2, gb2.ravel())]
"""


def test_code_that_runs_one_example_at_a_time_gets_the_line_of_its_bug(tmp_path):
    """Column vectors, a loop over the batch, the sums divided at the end: the output delta without
    the sigmoid's derivative is found on one example's row of dZ2, not on the line that sums."""
    target = _file_target(tmp_path, "per_example", PER_EXAMPLE)
    c = Case(Network((2, 3, 2), ("sigmoid", "sigmoid"), "mse", "batch_mean", scale=0.5), 3, "float64", "normal", 1)
    d = diagnose(target, c)
    [bug] = d.bugs
    assert bug["variant"] == "output-derivative-missing" and bug["source"]["code"] == "delta = a2 - y"


L2_PER_LAYER = """
import numpy as np
from crosscheck import audit_target

LAMBD = 0.3


@audit_target(activations=["relu", "identity"], loss="mse", reduction="batch_mean", l2=LAMBD, l2_by_batch=True)
def course_l2(X, Y, params):
    (W1, b1), (W2, b2) = params
    m = len(X)
    z1 = X @ W1.T + b1
    a1 = np.maximum(z1, 0)
    dZ2 = 2 * (a1 @ W2.T + b2 - Y) / m
    dW2 = dZ2.T @ a1 + (LAMBD / m) * W2
    db2 = dZ2.sum(0) + (LAMBD / m) * b2
    dZ1 = (dZ2 @ W2) * (z1 > 0)
    dW1 = dZ1.T @ X + (LAMBD / m) * W1
    db1 = dZ1.sum(0) + (LAMBD / m) * b1
    return [(dW1, db1), (dW2, db2)]
"""


def test_a_bug_of_every_layers_l2_term_gets_each_layers_line(tmp_path):
    target = _file_target(tmp_path, "course_l2", L2_PER_LAYER)
    c = Case(Network((2, 3, 2), ("relu", "identity"), "mse", "batch_mean", l2=0.3, l2_by_batch=True), 2,
             "float64", "normal", 1)
    d = diagnose(target, c)
    [bug] = d.bugs
    assert bug["variant"] == "l2-on-bias" and bug["source"]["code"] == "db2 = dZ2.sum(0) + (LAMBD / m) * b2"
    assert [a["code"] for a in bug["source"]["also"]] == ["db1 = dZ1.sum(0) + (LAMBD / m) * b1"]
    assert "; also " in d.message and "db1 = dZ1.sum(0)" in d.message


BIAS_NOT_SUMMED = """
import numpy as np
from crosscheck import audit_target


@audit_target(activations=["tanh", "sigmoid"], loss="bce", reduction="batch_mean")
def bias_not_summed(X, Y, params):
    (W1, b1), (W2, b2) = params
    a1 = np.tanh(X @ W1.T + b1)
    p = 1 / (1 + np.exp(-(a1 @ W2.T + b2)))
    dz2 = (p - Y) / len(X)
    dW2 = dz2.T @ a1
    db2 = dz2
    dz1 = (dz2 @ W2) * (1 - a1 * a1)
    dW1 = dz1.T @ X
    db1 = dz1
    return [(dW1, db1), (dW2, db2)]
"""


def test_a_right_array_bound_where_another_was_due_is_that_line_not_the_return(tmp_path):
    """db = dz (not summed over the batch): the array is dZ's, right for dZ; the bug's line is where it is
    bound as db, not the lines that hand it on (the return)."""
    target = _file_target(tmp_path, "bias_not_summed", BIAS_NOT_SUMMED)
    d = diagnose(target, case((2, 3, 2), ("tanh", "sigmoid"), loss="bce", batch=3, reduction="batch_mean"))
    codes = sorted(b["source"]["code"] for b in d.bugs if b["source"])
    assert codes == ["db1 = dz1", "db2 = dz2"], d.message


MASK_FROM_A1 = """
import numpy as np
from crosscheck import audit_target


@audit_target(activations=["tanh", "relu", "sigmoid"], loss="bce", reduction="batch_mean")
def three_layers(X, Y, params):
    (W1, b1), (W2, b2), (W3, b3) = params
    a1 = np.tanh(X @ W1.T + b1)
    a2 = np.maximum(a1 @ W2.T + b2, 0)
    p = 1 / (1 + np.exp(-(a2 @ W3.T + b3)))
    d3 = (p - Y) / len(X)
    d2 = (d3 @ W3) * (a1 > 0)
    d1 = (d2 @ W2) * (1 - a1 ** 2)
    return [(d1.T @ X, d1.sum(0)), (d2.T @ a1, d2.sum(0)), (d3.T @ a2, d3.sum(0))]
"""


def test_a_crash_on_a_later_line_is_the_bug_that_broadcast_silently_into_its_shapes(tmp_path):
    """The ReLU mask of layer 2 built from a1: where hidden 2 is 1, (batch, 1) * (batch, h1) broadcasts and
    the next line's matrix product fails. The crash's line holds no bug; the mask is the one bug of the
    set without which the reference does not raise."""
    from crosscheck.diagnosis import explain_crashes
    from crosscheck.judge.check import check_case

    target = _file_target(tmp_path, "mask_from_a1", MASK_FROM_A1)
    acts = ("tanh", "relu", "sigmoid")
    wrong = _finding(target, case((1, 1, 1, 1), acts, loss="bce", batch=1, seed=1, reduction="batch_mean"))
    crash = _finding(target, case((2, 2, 1, 1), acts, loss="bce", batch=1, seed=0, reduction="batch_mean"))
    more = [check_case(target, case(s, acts, loss="bce", batch=2, seed=5, reduction="batch_mean"))
            for s in ((3, 4, 1, 2), (2, 3, 1, 1))]
    assert wrong.explained and crash.kind == "crash" and "d1 = (d2 @ W2)" in crash.result.crash["traceback"]
    explain_crashes([crash, wrong], more)
    assert crash.explained and [b["variant"] for b in crash.bugs] == ["relu-mask-from-input"]
    assert crash.bugs[0]["source"]["code"] == "d2 = (d3 @ W3) * (a1 > 0)" and crash.bugs[0]["confirmed"] == 3
    assert "without it it does not" in crash.message


TWO_BUGS_PER_LAYER = """
import numpy as np
from crosscheck import audit_target


@audit_target(activations=["tanh", "sigmoid"], loss="bce", reduction="batch_mean")
def two_per_layer(X, Y, params):
    (W1, b1), (W2, b2) = params
    m = len(X)
    a1 = np.tanh(X @ W1.T + b1)
    p = 1 / (1 + np.exp(-(a1 @ W2.T + b2)))
    dZ2 = p - Y
    dW2 = dZ2.T @ a1
    db2 = np.sum(dZ2) / m
    dZ1 = (dZ2 @ W2) * (1 - a1 ** 2)
    dW1 = dZ1.T @ X
    db1 = np.sum(dZ1) / m
    return [(dW1, db1 * np.ones_like(b1)), (dW2, db2 * np.ones_like(b2))]
"""


def test_a_bug_of_dw_and_one_of_db_in_the_same_layer_are_two_bugs_each_on_its_line(tmp_path):
    """dW not divided by the batch and db summed over every axis (a scalar, broadcast by the adapter), in
    both layers: four bugs, each found on its own line, the scalar's included."""
    target = _file_target(tmp_path, "two_per_layer", TWO_BUGS_PER_LAYER)
    d = diagnose(target, case((2, 3, 2), ("tanh", "sigmoid"), loss="bce", batch=3, reduction="batch_mean"))
    assert d.explained
    found = {(b["variant"], b["layer"]): b["source"]["code"] for b in d.bugs}
    assert found == {("weight-grad-not-averaged", 2): "dW2 = dZ2.T @ a1",
                     ("bias-summed-all-axes", 2): "db2 = np.sum(dZ2) / m",
                     ("weight-grad-not-averaged", 1): "dW1 = dZ1.T @ X",
                     ("bias-summed-all-axes", 1): "db1 = np.sum(dZ1) / m"}


COLUMN_BIAS_NOT_SUMMED = """
import numpy as np
from crosscheck import audit_target


@audit_target(activations=["relu", "sigmoid"], loss="bce", reduction="batch_mean")
def columns(X, Y, params):
    (W1, b1), (W2, b2) = params
    A0, T = X.T, Y.T                      # column layout: (features, m)
    Z1 = W1 @ A0 + b1[:, None]
    A1 = np.maximum(Z1, 0)
    P = 1 / (1 + np.exp(-(W2 @ A1 + b2[:, None])))
    dZ2 = (P - T) / A0.shape[1]
    db2 = dZ2                             # not summed: (out, m)
    dZ1 = (W2.T @ dZ2) * (Z1 > 0)
    d_hidden = dZ1.copy()
    d_hidden *= (A1 >= 0)                 # always true: changes nothing, right here
    return [(d_hidden @ A0.T, d_hidden.sum(axis=1)), (dZ2 @ A1.T, db2)]
"""


def test_a_column_layout_db_not_summed_is_the_known_bug_in_its_own_orientation(tmp_path):
    """db2 = dZ2 in column layout comes back (out, batch); the reference with the bug gives (batch, out).
    A tensor of a shape of its own is compared in either orientation, so the bug is named, on its line."""
    target = _file_target(tmp_path, "columns", COLUMN_BIAS_NOT_SUMMED)
    d = diagnose(target, case((2, 3, 2), ("relu", "sigmoid"), loss="bce", batch=3, reduction="batch_mean"))
    assert d.explained and [(b["variant"], b["source"]["code"]) for b in d.bugs] == [
        ("bias-not-summed", "db2 = dZ2                             # not summed: (out, m)")]


def test_an_in_place_update_that_changes_nothing_is_still_the_line_that_computed_it():
    from crosscheck.judge.tracing import trace_call

    def fn(a):
        d = a * 2.0
        d *= (a >= -10)  # always true
        return d

    records = trace_call(fn, (np.array([1.0, -2.0]),), [__file__])
    lines = [r["code"] for r in records if r["name"] == "d"]
    assert lines == ["d = a * 2.0", "d *= (a >= -10)  # always true"]


def test_linking_a_crash_that_fails_costs_the_link_never_the_run():
    """explain_crashes runs in fuzz (the pytest plugin) and in the audit alike: an error of its own
    leaves the findings as they were."""
    from crosscheck.diagnosis import explain_crashes

    _, wrong, mask, update, more = _relu_rows_findings()
    wrong.bug_set = [object() for _ in wrong.bug_set]  # nothing the reference can put in place
    before = (list(mask.diagnosis), mask.message)
    explain_crashes([mask, wrong], more)
    assert not mask.bugs and (list(mask.diagnosis), mask.message) == before
