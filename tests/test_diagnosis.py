"""Diagnosis on hand-written tutorial-style code (not the mutant library itself):
the flagged layer, the label, the named pattern and the sentence a person acts on."""
import numpy as np
import pytest

from crosscheck.model.cases import Case, Network
from crosscheck.diagnosis import diagnose, diagnose_finding
from crosscheck.diagnosis import factors
from crosscheck.engine.fuzz import Finding
from crosscheck.judge.check import check_case
from crosscheck.model.target import Family, Target, reference_target


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def two_layer(hidden="relu", output="identity", loss="mse", *, mask_from=None, half=False, out_deriv=True,
              stale_lr=0.0, bias=lambda dZ: dZ.sum(axis=0), sign=1.0):
    """A two-layer network written the way tutorials write it, with switches for their bugs."""

    def fn(X, Y, params):
        (W1, b1), (W2, b2) = params
        z1 = X @ W1.T + b1
        a1 = np.maximum(z1, 0) if hidden == "relu" else np.tanh(z1)
        z2 = a1 @ W2.T + b2
        a2 = sigmoid(z2) if output == "sigmoid" else z2
        n = Y.size
        if loss == "mse":
            dA2 = (a2 - Y) / n if half else 2 * (a2 - Y) / n
        else:
            dA2 = (a2 - Y) / (a2 * (1 - a2)) / n
        dZ2 = dA2 * (a2 * (1 - a2)) if (output == "sigmoid" and out_deriv) else dA2
        dZ2 = sign * dZ2
        dW2, db2 = dZ2.T @ a1, bias(dZ2)
        W2_used = W2 - stale_lr * dW2 if stale_lr else W2
        dA1 = dZ2 @ W2_used
        if hidden == "relu":
            mask = (X > 0) if mask_from == "input" else (z1 > 0)
            dZ1 = dA1 * mask
        else:
            dZ1 = dA1 * (1 - a1 ** 2)
        return [(dZ1.T @ X, bias(dZ1)), (dW2, db2)]

    acts = (hidden, output)
    return Target("tutorial", fn, Family(activations=acts, loss=loss))


def case(sizes, acts, loss="mse", batch=3, seed=1, regime="normal"):
    return Case(Network(sizes, acts, loss, "mean"), batch, "float64", regime, seed)


def test_factor_names_the_convention():
    half = factors.explain(0.5, 3, 1)
    assert half[0].expression == "0.5" and "half-MSE" in half[0].convention
    assert factors.explain(-1.0, 3, 2)[0].label == "sign"
    # at batch 2 0.5 is also 1/batch; a second example tells them apart
    both = factors.explain(0.5, 2, 1)
    assert {f.expression for f in both} >= {"0.5", "1/batch"}
    kept = [f.expression for f in factors.consistent(both, 1 / 3, 3, 1)]
    assert kept[0] == "1/batch" and "0.5" not in kept
    assert factors.explain(1.0, 3, 2) == []


def test_relu_mask_from_input_is_named_with_its_condition():
    target = two_layer(mask_from="input")
    d = diagnose(target, case((3, 3, 1), ("relu", "identity"), regime="relu-gap"))
    assert d.labels[0] == "activation-mask"
    assert d.localization["layer"] == 1 and set(d.localization["tensors"]) == {"W1", "b1"}
    assert d.matches and d.matches[0]["pattern"] == 1 and d.matches[0]["layer"] == 1
    assert "X > 0 and z1 <= 0" in d.message
    # a shape relation: with another hidden width the same code crashes
    assert any("in_features" in r and "raises" in r for r in d.relations)


def test_signature_analysis_alone_finds_the_relu_mask():
    d = diagnose(two_layer(mask_from="input"), case((3, 3, 1), ("relu", "identity"), regime="relu-gap"),
                 library=False)
    assert d.labels[0] == "activation-mask" and not d.matches
    assert "built from the layer's input X" in d.message


def test_half_mse_is_a_named_factor_and_batch_is_told_apart():
    d = diagnose(two_layer(half=True), case((2, 3, 1), ("relu", "identity"), batch=2), library=False)
    assert d.labels == ["scale"]
    assert "0.5" in d.message and "half-MSE" in d.message


def test_sign_convention():
    d = diagnose(two_layer(sign=-1.0), case((2, 3, 2), ("relu", "identity")))
    assert d.labels[0] == "sign" and "-1" in d.message


def test_stale_weights_recover_the_learning_rate_without_the_library():
    d = diagnose(two_layer(stale_lr=0.05), case((2, 3, 1), ("relu", "identity"), batch=2), library=False)
    assert d.labels[0] == "stale-weights"
    assert "0.05" in d.message and "W2" in d.message


def test_bias_mean_instead_of_sum():
    d = diagnose(two_layer("tanh", bias=lambda dZ: dZ.mean(axis=0)), case((2, 3, 2), ("tanh", "identity"), batch=4),
                 library=False)
    assert d.labels[0] == "bias-reduction" and "mean" in d.message


def test_bias_not_summed_is_a_shape_finding_with_its_reason():
    d = diagnose(two_layer("tanh", bias=lambda dZ: dZ), case((2, 3, 2), ("tanh", "identity"), batch=4))
    assert d.labels[0] == "bias-reduction" and "not summed over the batch" in d.message


def test_combined_conventions_are_two_bugs():
    # MSE + sigmoid output with dZ2 = (a - y)/n: the output derivative is missing (pattern 10)
    # *and* the factor 2 of MSE (pattern 13): no one variant reproduces it, the two together do
    target = two_layer(output="sigmoid", out_deriv=False, half=True)
    d = diagnose(target, case((2, 3, 1), ("relu", "sigmoid")))
    assert d.explained and [b["label"] for b in d.bugs] == ["scale", "activation-derivative"]
    assert [b["layer"] for b in d.bugs] == [3, 2]  # the loss counts as the layer after the last
    assert "derivative of layer 2 is missing" in d.message and "factor 2" in d.message


def test_localization_uses_intermediates_when_returned():
    from crosscheck.diagnosis.corpus import Mutant

    m = Mutant("typo", "upstream-typo", 2, ("tanh", "identity"), intermediates=True)
    d = diagnose(m.target(), case((2, 2, 1), ("tanh", "identity")))
    assert d.localization["begins_at"] == "dA1"
    assert "passed down to layer 1 from layer 2" in d.message


def test_a_correct_target_gets_no_label():
    d = diagnose(reference_target(), case((2, 3, 1), ("relu", "identity")))
    assert d.labels == [] and "agrees" in d.message


def test_crash_is_matched_to_the_bug_that_causes_it():
    target = two_layer(mask_from="input")
    c = case((2, 3, 1), ("relu", "identity"))
    result = check_case(target, c)
    assert result.kind == "crash"
    finding = Finding("crash", [], result, 1)
    labels, message = diagnose_finding(target, finding)
    assert labels == ["activation-mask"] and "ValueError" in message
    assert finding.matches[0]["pattern"] == 1


@pytest.mark.parametrize("hidden", ["relu", "tanh"])
def test_diagnose_finding_attaches_report_data(hidden):
    target = two_layer(hidden=hidden, stale_lr=0.1)
    c = case((2, 3, 1), (hidden, "identity"))
    finding = Finding("mismatch", ["W1", "b1"], check_case(target, c), 1)
    labels, message = diagnose_finding(target, finding)
    assert labels[0] == "stale-weights"
    assert finding.localization["layer"] == 1 and finding.matches[0]["pattern"] == 26
    assert abs(finding.matches[0]["value"] - 0.1) < 1e-9


def _folded_bias(*, dropped: int, stale_lr: float = 0.0, out_deriv: bool = True, dW_scale=None):
    """tanh hidden layer, sigmoid output, MSE; each bias kept as the last column of its weights [W b],
    the gradient passed down cut to the hidden width by deleting column ``dropped`` (right: the last)."""

    def fn(X, Y, params):
        (W1, b1), (W2, b2) = params
        A0 = np.hstack([X, np.ones((len(X), 1))])
        a1 = np.tanh(A0 @ np.hstack([W1, b1[:, None]]).T)
        A1 = np.hstack([a1, np.ones((len(X), 1))])
        M2 = np.hstack([W2, b2[:, None]])
        a2 = sigmoid(A1 @ M2.T)
        dZ2 = 2 * (a2 - Y) / Y.size * (a2 * (1 - a2) if out_deriv else 1)
        G2 = dZ2.T @ A1
        if dW_scale is not None:  # on the weights' columns only
            G2 = np.hstack([G2[:, :-1] * dW_scale(len(X)), G2[:, -1:]])
        M2 = M2 - stale_lr * G2  # updated before it passes the gradient down (with stale_lr > 0)
        dZ1 = np.delete(dZ2 @ M2, dropped, axis=1) * (1 - a1 ** 2)
        G1 = dZ1.T @ A0
        return [(G1[:, :-1], G1[:, -1]), (G2[:, :-1], G2[:, -1])]

    return Target("folded", fn, Family(activations=("tanh", "sigmoid"), loss="mse"))


def test_a_wrong_column_deleted_from_the_folded_weights_is_named_and_checked_on_other_shapes():
    """Pattern 35: at a 1-1-1 example any such error is "a factor"; the hypothesis has no free parameter
    and holds on three cases of other shapes, where no fitted factor does."""
    d = diagnose(_folded_bias(dropped=0), case((1, 1, 1), ("tanh", "sigmoid"), batch=1))
    assert "with column 0 deleted instead of the bias's, the last column" in d.message
    assert "carries a factor" not in d.message and "W1" in d.message


def test_stale_weights_and_a_deleted_column_are_both_named_beyond_the_known_bugs():
    """Output derivative missing (a known bug) and, below it, the weights updated before use and a wrong
    column deleted (no known bug): the set explains layer 2, the signature the rest, checked on the
    residuals of the three verification cases."""
    d = diagnose(_folded_bias(dropped=0, stale_lr=0.1, out_deriv=False), case((2, 3, 1), ("tanh", "sigmoid")))
    assert "the output sigmoid derivative of layer 2 is missing" in d.message
    assert "column 0 deleted" in d.message and "updated with learning rate 0.1 before" in d.message
    assert "stale-weights" in d.labels and not d.explained


def test_a_factor_that_follows_the_batch_is_named_as_the_batch_not_as_its_value():
    """dW2 not divided by the batch: 2 times torch's at batch 2, 3 at batch 3. The claim names "batch"."""
    d = diagnose(_folded_bias(dropped=-1, dW_scale=lambda m: m), case((1, 1, 1), ("tanh", "sigmoid"), batch=2),
                 library=False)
    assert "W2 is batch times torch's (here 2)" in d.message
    assert "2 times torch's" not in d.message


def test_an_error_in_the_l2_term_is_not_said_to_enter_at_dZ():
    """Declared L2 of 0.2; the code adds 0.1 W to dW (half its term) and 0.2 b to db (biases are not
    penalized): dW2, db2 are not dZ2ᵀ [a1 1] for any dZ2, so nothing may say the error enters at dZ2."""

    def fn(X, Y, params):
        (W1, b1), (W2, b2) = params
        a1 = sigmoid(X @ W1.T + b1)
        dZ2 = 2 * (a1 @ W2.T + b2 - Y) / len(Y)
        dZ1 = (dZ2 @ W2) * a1 * (1 - a1)
        return [(dZ1.T @ X + 0.1 * W1, dZ1.sum(0) + 0.2 * b1), (dZ2.T @ a1 + 0.1 * W2, dZ2.sum(0) + 0.2 * b2)]

    target = Target("l2", fn, Family(activations=("sigmoid", "identity"), loss="mse", reduction="batch_mean",
                                     l2=0.2))
    c = Case(Network((2, 3, 2), ("sigmoid", "identity"), "mse", "batch_mean", l2=0.2), 2, "float64", "normal", 1)
    d = diagnose(target, c, library=False)
    assert "enters at dZ2" not in d.message
    assert "no dZ2 gives them" in d.message and "L2 penalty's gradient of layer 2" in d.message
