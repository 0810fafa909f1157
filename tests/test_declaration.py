"""Argument validation of @audit_target: every option is checked where it is declared, and a
mistake is refused with one line that names the argument and what it accepts."""
import pytest

from crosscheck import audit_target
from crosscheck.model.target import TargetError
from crosscheck.model.vocabulary import MAX_BATCH, MAX_WIDTH

CE = dict(activations=["relu", "softmax"], loss="cross_entropy")


def declared(**kw):
    return audit_target(**kw)(lambda X, Y, params: None).__crosscheck_target__


@pytest.mark.parametrize("kw, reason", [
    (dict(activations=["softmax", "sigmoid"], loss="bce"), "softmax may only be the last activation"),
    (dict(activations=["relu", "softmax"], loss="mse"), "softmax output needs loss='cross_entropy'"),
    (dict(activations=["relu", "identity"], loss="cross_entropy"), "needs 'softmax' as the last activation"),
    (dict(CE, scale=-1.0), "scale must be a positive number"),
    (dict(CE, scale=0), "scale must be a positive number"),
    (dict(CE, scale=float("nan")), "scale must be a positive number"),
    (dict(CE, l2=-0.1), "l2 must be a number >= 0"),
    (dict(CE, l2_bias=-1), "l2_bias must be a number >= 0"),
    (dict(CE, l2=[0.1]), "l2 as a list needs one number per layer: 2"),
    (dict(CE, l2=[0.1, 0.2, 0.3]), "l2 as a list needs one number per layer: 2"),
    (dict(CE, l2=[0.1, -0.2]), "l2 must hold numbers >= 0"),
    (dict(CE, l2_bias=[0.1, "x"]), "l2_bias must hold numbers >= 0"),
    (dict(CE, l2_by_batch=True), "l2_by_batch=True divides the L2 terms by the batch, but l2 and l2_bias are 0"),
    (dict(CE, l2_by_batch="yes", l2=0.1), "l2_by_batch must be True or False"),
    (dict(CE, bias=0), "bias must be True or False"),
    (dict(CE, bias=False, l2_bias=0.1), "l2_bias regularizes the biases, but bias=False"),
    (dict(activations=["leaky_relu", "identity"], loss="mse", leaky_slope=0.0), r"leaky_slope must be in \(0, 1\)"),
    (dict(activations=["leaky_relu", "identity"], loss="mse", leaky_slope=1.0), r"leaky_slope must be in \(0, 1\)"),
    (dict(activations=["relu", "identity"], loss="mse", leaky_slope=0.2), "no layer is leaky_relu"),
    (dict(CE, returns="step"), "returns='step' needs lr"),
    (dict(CE, returns="update", lr=-1), "returns='update' needs lr"),
    (dict(CE, returns="gradients"), "returns must be one of 'grads', 'update', 'step'"),
    (dict(CE, reduction="avg"), "reduction must be one of 'mean', 'sum', 'batch_mean'"),
    (dict(CE, sizes=[3, 4, 1]), "cross_entropy takes 2 to 10 classes"),
    (dict(CE, sizes=[3, 4, 11]), "cross_entropy takes 2 to 10 classes"),
    (dict(CE, batch=10**9), f"batch=1000000000 is more than the {MAX_BATCH} a check accepts"),
    (dict(CE, sizes=[10**6, 4, 3]), f"a width of at most {MAX_WIDTH} is accepted"),
    (dict(CE, weight_decy=0.1), "unknown argument"),
])
def test_a_wrong_option_is_refused_at_declaration_with_one_line(kw, reason):
    with pytest.raises(TargetError, match=reason) as e:
        declared(**kw)
    assert "\n" not in str(e.value) and str(e.value).startswith("@audit_target: ")


def test_the_declaration_of_the_issue_is_accepted_and_kept_in_the_family():
    d = declared(activations=["tanh", "leaky_relu", "softmax"], loss="cross_entropy", reduction="batch_mean",
                 scale=0.5, l2=[0.1, 0.0, 0.0], l2_bias=0.01, l2_by_batch=True, leaky_slope=0.2,
                 returns="step", lr=0.1, sizes=[4, 8, 8, 3], batch=16, dtype="float32")
    fam = d["family"]
    assert d["returns"] == "step" and d["lr"] == 0.1
    assert fam.network_options() == dict(scale=0.5, l2=(0.1, 0.0, 0.0), l2_bias=0.01, l2_by_batch=True,
                                         bias=True, leaky_slope=0.2)


def test_defaults_declare_the_plain_loss():
    fam = declared(activations=["relu", "identity"], loss="mse")["family"]
    assert fam.network_options() == dict(scale=1.0, l2=0.0, l2_bias=0.0, l2_by_batch=False, bias=True,
                                         leaky_slope=0.01)


def test_the_family_draws_only_networks_with_the_declared_options():
    from crosscheck.drawing.sampler import seeded_case
    fam = declared(activations=["relu", "softmax"], loss="cross_entropy", l2=[0.5, 0.0], bias=False)["family"]
    for i in range(20):
        net = seeded_case(0, i, fam).network
        assert net.l2 == (0.5, 0.0) and not net.bias and net.scale == 1.0 and 2 <= net.sizes[-1] <= 10
        assert fam.covers(net)
    assert not fam.covers(net.with_options(bias=True))


def test_replayed_declarations_round_trip_through_the_json_of_a_report():
    """The loader writes the family as JSON values; replay passes them back to audit_target."""
    import json
    from dataclasses import asdict
    d = declared(activations=["relu", "softmax"], loss="cross_entropy", l2=[0.5, 0.0], bias=False, scale=2.0)
    args = json.loads(json.dumps(asdict(d["family"])))
    again = audit_target(**args)(lambda *a: None).__crosscheck_target__
    assert again["family"].network_options() == d["family"].network_options()
