"""Numerics without false alarms: conventions accepted with a note, non-finite values, the arbiter,
and real bugs still caught under the rule."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from crosscheck.numerics import forward64
from crosscheck.numerics.arbiter import arbitrate
from crosscheck.model.cases import Case, Network
from crosscheck.judge.check import Judge, check_case
from crosscheck.judge.oracle import mirror
from crosscheck.drawing.strategies import cases, networks
from crosscheck.model.target import Family, Target, reference_target

REFERENCE = reference_target()
_spec = importlib.util.spec_from_file_location(
    "column_layout", Path(__file__).resolve().parents[1] / "benchmarks" / "column_layout.py")
column_layout = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(column_layout)


def generic(name, fn, dtype=None):
    """A target taking any network (``fn(X, Y, params, network=...)``)."""
    return Target(name, fn, Family(dtype=dtype), takes_network=True)


def reference_with(**changes):
    """The reference with its activation derivatives replaced: ``changes[name](z, a) -> f'``."""
    from crosscheck.reference import MLP

    def fn(X, Y, params, *, network):
        net = MLP(network.sizes, network.activations, params)
        for act, name in zip(net.activations, network.activations):
            if name in changes:
                def backward(dA, act=act, f=changes[name]):
                    return dA * f(act.z, act.a)

                def forward(z, act=act, base=act.forward):
                    act.z = z
                    act.a = base(z)
                    return act.a
                act.forward, act.backward = forward, backward
        return net.gradients(X, Y, network.loss, network.reduction)[1]
    return generic("reference_with_" + "_".join(changes), fn)


RELU_AT_0 = {v: reference_with(relu=lambda z, a, v=v: np.where(z > 0, 1.0, np.where(z == 0, v, 0.0)))
             for v in (0.0, 0.5, 1.0, 2.0)}
KINK_NET = Network((4, 4, 2), ("relu", "identity"))


def kink_case(dtype="float64"):
    """A zeros-regime case with several pre-activations exactly 0 at the ReLU layer."""
    for seed in range(50):
        case = Case(KINK_NET, 6, dtype, "zeros", seed)
        X, _, params = case.arrays()
        if (forward64.forward(KINK_NET, X, params)[0][1] == 0).sum() >= 3:
            return case
    raise AssertionError("no zeros-regime case with kinks")


# -- the ReLU subgradient convention ---------------------------------------------------------

@pytest.mark.parametrize("value", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_any_subgradient_at_zero_is_accepted_and_noted(value, dtype):
    r = check_case(RELU_AT_0[value], kink_case(dtype))
    assert r.agree, r.message()
    if value:  # torch takes 0: any other choice is noted on the tensors it changed
        noted = [c for c in r.comparisons if c.conventions]
        assert noted and all("valid subgradient" in c.note and "layer 1" in c.note for c in noted)


def test_a_derivative_outside_the_one_sided_ones_is_caught():
    r = check_case(RELU_AT_0[2.0], kink_case())
    assert not r.agree and set(r.failing_parameters()) <= {"W1", "b1"} and r.failing_parameters()


def test_leaky_relu_convention_at_zero():
    net = Network((3, 3, 1), ("leaky_relu", "identity"))
    target = reference_with(leaky_relu=lambda z, a: np.where(z >= 0, 1.0, 0.01))
    cases_ = [Case(net, 5, "float64", "zeros", s) for s in range(30)]
    results = [check_case(target, c) for c in cases_]
    assert all(r.agree for r in results)
    assert any(c.conventions for r in results for c in r.comparisons)


# -- torch's BCE clamp, saturated outputs, non-finite values ---------------------------------

BCE_NET = Network((3, 4, 2), ("tanh", "sigmoid"), "bce")


def clamp_cases(dtype="float64", n=8):
    return [Case(BCE_NET, 6, dtype, "clamp", s) for s in range(n)]


def test_fused_sigmoid_bce_without_the_clamp_is_right_and_noted():
    target = column_layout.column_target("float64")
    results = [check_case(target, c) for c in clamp_cases()]
    assert all(r.agree for r in results), [r.message() for r in results if not r.agree]
    assert any("clamp" in c.note for r in results for c in r.comparisons)


def literal_bce(X, Y, params, *, network):
    """BCE's derivative by its formula, (a - y) / (a (1 - a)): blows up at saturated outputs."""
    from crosscheck.reference import MLP
    net = MLP(network.sizes, network.activations, params)
    with np.errstate(all="ignore"):
        a = net.forward(X)
        return net.backward((a - Y) / (a * (1 - a)) / Y.size)


def test_blow_up_at_saturated_outputs_is_a_nonfinite_finding_with_the_first_element():
    target = generic("literal_bce", literal_bce)
    results = [check_case(target, c) for c in clamp_cases(n=12)]
    blown = [r for r in results if r.kind == "nonfinite"]
    assert blown, "an output at exactly 0 or 1 makes the literal formula NaN"
    c = next(c for c in blown[0].failing if c.status == "nonfinite")
    assert c.worst_index is not None and "NaN or inf where torch is finite; first at" in c.message


def test_nan_where_torch_at_the_candidates_precision_is_nonfinite_too_is_undefined():
    net = Network((2, 1), ("identity",))
    case = Case(net, 2, "float32", "large", 0)
    # z = 3e38 * 1e-38 ± 1 is small, but dW1[0] = Σ dZ X[:, 0] overflows float32 (not float64)
    X = np.array([[3e38, 1.0], [3e38, -1.0]], np.float32)
    Y = np.zeros((2, 1), np.float32)
    params = [(np.array([[1e-38, 1.0]], np.float32), np.zeros(1, np.float32))]
    truth = mirror(net, X, Y, params, "float64")
    judge = Judge(case, X, Y, params, truth)
    own = mirror(net, X, Y, params, "float32").grads
    assert np.isfinite(truth.grads["W1"]).all() and not np.isfinite(own["W1"]).all()
    r = judge.compare("W1", own["W1"])
    assert r.status != "nonfinite" and r.agree
    bad = own["b1"].copy()
    bad[0] = np.nan  # torch float32 is finite here: a finding
    assert judge.compare("b1", bad).status == "nonfinite"


# -- the arbiter ---------------------------------------------------------------------------------

def test_arbiter_sides_with_torch_on_a_scaled_gradient_and_with_the_candidate_when_torch_is_off():
    net = Network((3, 4, 2), ("tanh", "identity"))
    case = Case(net, 5, "float64", "normal", 0)
    X, Y, params = case.arrays()
    W1 = mirror(net, X, Y, params).grads["W1"]
    assert arbitrate(net, X, Y, params, "W1", 2 * W1, W1).label == "torch"
    v = arbitrate(net, X, Y, params, "W1", W1, 0.5 * W1)
    assert v.label == "candidate" and "side with the candidate" in v.sentence()
    dZ1 = mirror(net, X, Y, params).grads["dZ1"]
    assert arbitrate(net, X, Y, params, "dZ1", -dZ1, dZ1).label == "torch"


def test_arbiter_sees_a_kink_within_its_step():
    # one ReLU unit with z exactly 0: the loss has a kink along W1's difference
    net = Network((1, 1, 1), ("relu", "identity"))
    X, Y = np.array([[1.0]]), np.array([[-2.0]])
    params = [(np.array([[1.0]]), np.array([-1.0])), (np.array([[1.0]]), np.array([0.0]))]
    truth = mirror(net, X, Y, params).grads["W1"]  # torch: relu'(0) = 0
    v = arbitrate(net, X, Y, params, "W1", truth + 4.0, truth)  # relu'(0) = 1 gives 4
    assert v.label == "kink" and "kink" in v.sentence()


def test_findings_carry_the_arbiters_verdict_in_the_record_and_the_message():
    def doubled(X, Y, params, *, network):
        return {k: 2 * v for k, v in REFERENCE.fn(X, Y, params, network=network).items()}
    r = check_case(generic("doubled", doubled), Case(Network((2, 3, 1), ("tanh", "identity")), 4))
    assert not r.agree
    assert all(c.arbiter == "torch" for c in r.failing)
    assert "finite differences side with torch" in r.failing[0].message
    assert r.failing[0].to_dict()["arbiter"] == "torch"


# -- real bugs are still caught ------------------------------------------------------------------

def _bug(fn):
    def target(X, Y, params, *, network):
        g = REFERENCE.fn(X, Y, params, network=network)
        return fn(g, X, Y, params, network)
    return generic(fn.__name__, target)


BUGS = [
    _bug(lambda g, *_: {**g, "W1": 0.5 * g["W1"]}),                               # half-MSE style factor
    _bug(lambda g, *_: {k: -v for k, v in g.items()}),                            # sign convention
    _bug(lambda g, X, *_: {**g, "W2": g["W2"] * X.shape[0]}),                     # batch factor
    _bug(lambda g, *_: {**g, "W1": g["W1"].T if g["W1"].shape[0] == g["W1"].shape[1] else g["W1"] * 1.5}),
    _bug(lambda g, *_: {**g, "b1": g["b1"] / 3}),                                 # bias mean over a batch of 3
    _bug(lambda g, *_: {**g, "b2": g["b2"] + 1e-3 * np.abs(g["b2"]).max()}),       # a small bias offset
]
BUG_NET = Network((3, 3, 2), ("tanh", "identity"))


@pytest.mark.parametrize("bug", range(len(BUGS)))
@pytest.mark.parametrize("dtype, regime", [("float64", "normal"), ("float32", "normal"), ("float32", "saturated"),
                                           ("float64", "zeros"), ("float32", "tiny"), ("float64", "kinks")])
def test_bugs_are_caught_in_every_regime_and_dtype(bug, dtype, regime):
    found = [not check_case(BUGS[bug], Case(BUG_NET, 3, dtype, regime, s)).agree for s in range(3)]
    assert any(found)


@pytest.mark.parametrize("name", ["tanh_prime_of_z", "mask_from_input", "output_derivative_missing"])
def test_derivative_bugs_are_caught_in_float32(name):
    net = {"tanh_prime_of_z": Network((3, 3, 1), ("tanh", "identity")),
           "mask_from_input": Network((3, 3, 1), ("relu", "identity")),
           "output_derivative_missing": Network((3, 3, 1), ("relu", "sigmoid"))}[name]
    change = {"tanh_prime_of_z": dict(tanh=lambda z, a: 1 - z * z),
              "mask_from_input": None,
              "output_derivative_missing": dict(sigmoid=lambda z, a: np.ones_like(z))}[name]
    if change is None:
        def fn(X, Y, params, *, network):
            g = REFERENCE.fn(X, Y, params, network=network)
            z1 = X @ params[0][0].T + params[0][1]
            dZ1 = g["dA1"] * (X > 0)
            return {**g, "W1": dZ1.T @ X, "b1": dZ1.sum(0)}
        target = generic(name, fn)
    else:
        target = reference_with(**change)
    found = [not check_case(target, Case(net, 4, "float32", regime, s)).agree
             for regime in ("normal", "relu-gap") for s in range(3)]
    assert any(found)


# -- no false alarms on a sample of random correct cases (the benchmark runs 100,000s) ------------

@settings(max_examples=120, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(cases(networks=networks(losses=("mse", "bce", "bce_with_logits"), reductions=("mean", "sum"))))  # column_layout's
def test_correct_code_in_another_layout_and_convention_agrees(case):
    target = column_layout.column_target(case.dtype)
    r = check_case(target, case)
    assert r.agree, f"{case.describe()}\n{r.message()}"


def test_arbiter_does_not_judge_a_loss_that_rounding_made_flat():
    # a sigmoid output of exactly 1.0: the float64 loss is constant near the point
    net = Network((1, 1), ("sigmoid",), "bce")
    X, Y = np.array([[1.0]]), np.array([[0.0]])
    params = [(np.array([[800.0]]), np.array([0.0]))]
    v = arbitrate(net, X, Y, params, "W1", np.array([[0.0]]), np.array([[2.0]]))
    assert v.label == "inconclusive" and v.flat and "does not change" in v.sentence()


def test_float64_code_that_computes_in_float32_is_a_finding_that_says_so():
    def in_float32(X, Y, params, *, network):
        g = REFERENCE.fn(X.astype(np.float32), Y.astype(np.float32),
                         [(W.astype(np.float32), b.astype(np.float32)) for W, b in params], network=network)
        return {k: v.astype(np.float64) for k, v in g.items() if k[0] in "Wb"}
    r = check_case(generic("in_float32", in_float32), Case(Network((4, 5, 2), ("tanh", "identity")), 6))
    assert not r.agree
    assert all("within float32 rounding" in c.message for c in r.failing)
