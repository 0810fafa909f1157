"""The budget rule: a floor, a per-element rounding bound, measured noise, each only when needed."""
import numpy as np
import pytest

from crosscheck.judge import check as check_module
from crosscheck.numerics import rounding, tolerance
from crosscheck.model.cases import Case, Network
from crosscheck.judge.check import Judge, check_case, layer_scales
from crosscheck.judge.oracle import mirror
from crosscheck.model.target import Family, Target, reference_target

REFERENCE = reference_target()


def test_budget_is_floor_plus_bound_plus_noise():
    truth = np.array([1.0, -2.0, 0.0])
    bound = np.array([1e-9, 0.0, 2e-9])
    noise = np.array([0.0, 3e-9, 0.0])
    got = tolerance.budget(truth, noise, "float32", scale=4.0, bound=bound)
    floor = tolerance.FLOOR_ULPS * np.finfo(np.float32).eps * 4.0
    rms = np.sqrt(np.mean(noise ** 2))
    want = floor + tolerance.BOUND_MULTIPLE * bound + tolerance.NOISE_MULTIPLE * np.maximum(noise, rms)
    np.testing.assert_allclose(got, want)
    # every term only widens
    assert (got >= tolerance.budget(truth, None, "float32", scale=4.0)).all()


def test_floor_scales_with_the_layer_and_the_precision():
    t = np.array([1e-3])
    assert tolerance.floor(t, "float64", 10.0) == tolerance.FLOOR_ULPS * np.finfo(np.float64).eps * 10.0
    assert tolerance.floor(t, "float32", 0.0) == tolerance.FLOOR_ULPS * np.finfo(np.float32).eps * 1e-3


def errors(case):
    """(reference's and torch float32's absolute errors, the rounding bounds) of a float32 case."""
    X, Y, params = case.arrays()
    truth = mirror(case.network, X, Y, params, "float64").grads
    own = mirror(case.network, X, Y, params, "float32").grads
    ref = REFERENCE.run(case.network, X, Y, params)
    b = rounding.bounds(case.network, X, Y, params, truth, "float32").bounds
    return ({n: np.abs(ref[n] - truth[n]) for n in truth}, {n: np.abs(own[n] - truth[n]) for n in truth},
            b, truth)


# a deep saturated tanh net: the old rule's false alarm (1 - a² of an a rounded next to 1)
DEEP_TANH = Case(Network((5, 12, 26, 9), ("tanh", "tanh", "tanh")), 3, "float32", "saturated", 27)


@pytest.mark.parametrize("case", [DEEP_TANH,
                                  Case(Network((6, 8, 8, 3), ("sigmoid", "leaky_relu", "sigmoid"), "bce"), 7,
                                       "float32", "large", 4),
                                  Case(Network((4, 16, 1), ("relu", "identity"), "mse", "sum"), 32,
                                       "float32", "normal", 9)])
def test_bound_covers_the_float32_errors_of_numpy_and_torch(case):
    ref_err, torch_err, bound, _ = errors(case)
    for n in bound:
        assert (ref_err[n] <= bound[n]).all(), n
        assert (torch_err[n] <= bound[n]).all(), n


def test_bound_is_tight_where_the_case_is_well_conditioned():
    case = Case(Network((3, 4, 2), ("tanh", "identity")), 5, "float64", "normal", 0)
    X, Y, params = case.arrays()
    truth = mirror(case.network, X, Y, params, "float64").grads
    b = rounding.bounds(case.network, X, Y, params, truth, "float64").bounds
    scales = layer_scales(truth)
    for n, v in b.items():
        assert v.max() < 1e-13 * max(scales[int(n[-1]) if n != "dX" else 1], 1e-300), n


def test_bound_gives_room_where_rounding_really_is_large():
    _, _, bound, truth = errors(DEEP_TANH)
    # dZ of saturated units: 1 - a² is mostly rounding in float32; the bound is of the size of the value
    rel = bound["dZ1"] / np.maximum(np.abs(truth["dZ1"]), 1e-30)
    assert rel.max() > 1e-2


def counting(monkeypatch):
    calls = {"noise": 0}
    real = check_module.measure_noise

    def measure(*a, **k):
        calls["noise"] += 1
        return real(*a, **k)
    monkeypatch.setattr(check_module, "measure_noise", measure)
    return calls


def test_a_correct_case_costs_no_noise_pass(monkeypatch):
    calls = counting(monkeypatch)
    for s in range(5):
        for dtype in ("float32", "float64"):
            r = check_case(REFERENCE, Case(Network((4, 6, 2), ("tanh", "sigmoid"), "bce"), 8, dtype, "normal", s))
            assert r.agree and "noise" not in r.measured
    assert calls["noise"] == 0


def test_a_finding_measures_torchs_own_error_and_shows_the_figures(monkeypatch):
    calls = counting(monkeypatch)

    def off(X, Y, params, *, network):
        g = REFERENCE.fn(X, Y, params, network=network)
        return {**g, "W1": g["W1"] * 1.01}
    r = check_case(Target("off", off, Family(), takes_network=True),
                   Case(Network((3, 3, 1), ("tanh", "identity")), 4, "float32", "normal", 0))
    (c,) = r.failing
    assert calls["noise"] == 1 and {"rounding", "noise", "arbiter"} <= set(r.measured)
    assert np.isfinite(c.torch_err) and c.allowed_abs_err > 0 and c.max_abs_err > c.allowed_abs_err
    assert "(allowed" in c.message


def test_gradients_recovered_from_a_float32_sgd_step_are_judged_with_that_rounding():
    lr = 0.01

    def step(X, Y, params, *, network):
        g = REFERENCE.fn(X, Y, params, network=network)
        return {f"{k}{l}": p - np.float32(lr) * g[f"{k}{l}"]
                for l, (W, b) in enumerate(params, start=1) for k, p in (("W", W), ("b", b))}
    target = Target("sgd_step", step, Family(), returns="update", lr=lr, takes_network=True)
    for s in range(6):
        r = check_case(target, Case(Network((4, 5, 2), ("relu", "identity")), 6, "float32", "normal", s))
        assert r.agree, r.message()


def test_judge_allowed_is_the_whole_budget():
    case = DEEP_TANH
    X, Y, params = case.arrays()
    truth = mirror(case.network, X, Y, params, "float64")
    j = Judge(case, X, Y, params, truth)
    a = j.allowed("dX")
    assert a.shape == truth.grads["dX"].shape
    assert (a >= tolerance.BOUND_MULTIPLE * j.rounding.bounds["dX"]).all()


def test_bound_without_the_intermediates_in_the_truth_is_the_same():
    case = DEEP_TANH
    X, Y, params = case.arrays()
    full = mirror(case.network, X, Y, params, "float64").grads
    params_only = {k: v for k, v in full.items() if k[0] in "Wb"}
    a = rounding.bounds(case.network, X, Y, params, full, "float32").bounds
    b = rounding.bounds(case.network, X, Y, params, params_only, "float32").bounds
    for n in params_only:
        np.testing.assert_allclose(a[n], b[n], rtol=1e-6)
