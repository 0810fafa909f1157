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
