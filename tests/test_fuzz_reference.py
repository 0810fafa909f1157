"""The CI regression suite's heart: the reference fuzzed against torch."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from crosscheck import reference_target
from crosscheck.judge.check import check_case
from crosscheck.engine.fuzz import fuzz
from crosscheck.drawing.strategies import cases, networks

REFERENCE = reference_target()


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(cases(networks=networks(family=REFERENCE.family)))  # every loss option drawn
def test_reference_agrees_with_torch_on_every_tensor(case):
    result = check_case(REFERENCE, case)
    assert result.crash is None
    names = {c.tensor for c in result.comparisons}
    net = case.network
    # every parameter, every intermediate and the input gradient are compared (no b without biases,
    # no dA of a softmax output under cross-entropy: the fused backward never forms it)
    inner = {f"{k}{l}" for l in range(1, net.depth + 1) for k in ("dZ", "dA")} - ({f"dA{net.depth}"} if net.fused else set())
    assert names == set(net.param_names()) | inner | {"dX"}
    assert result.agree, f"{case.describe()}\n{result.message()}"


def test_reference_float64_is_within_1e_10_of_torch_on_plain_data():
    run = fuzz(REFERENCE, examples=150, seed=3,
               strategy=cases(dtypes=("float64",), regimes=("normal",)), diagnose=False)
    assert run.agree
    worst = max(c.max_rel_err for r in run.results for c in r.comparisons)
    assert worst < 1e-10


# -- a deliberately broken implementation must be caught, and only where it is wrong --

def relu_mask_from_input(X, Y, params):
    """The classic tutorial bug: the hidden ReLU mask is built from X, not from z1."""
    (W1, b1), (W2, b2) = params
    z1 = X @ W1.T + b1
    a1 = np.maximum(z1, 0)
    z2 = a1 @ W2.T + b2
    n = Y.size
    dz2 = 2 * (z2 - Y) / n                      # mse, identity output
    dW2, db2 = dz2.T @ a1, dz2.sum(0)
    dz1 = (dz2 @ W2) * (X > 0)                  # BUG: should be (z1 > 0)
    return [(dz1.T @ X, dz1.sum(0)), (dW2, db2)]


def broken_target(sizes=(None, None, None)):
    from crosscheck.model.target import Family, Target
    return Target("relu_mask_from_input", relu_mask_from_input,
                  Family(("relu", "identity"), "mse", "mean", tuple(sizes), None, "float64"))


def test_relu_mask_from_input_is_caught_and_only_W1_b1_are_flagged():
    run = fuzz(broken_target(sizes=(3, 3, 2)), examples=60, seed=0)
    assert not run.agree
    (finding,) = run.findings
    assert finding.kind == "mismatch"
    assert finding.tensors == ["W1", "b1"]
    assert set(finding.result.failing_parameters()) == {"W1", "b1"}
    assert {c.tensor for c in finding.result.comparisons if c.agree} == {"W2", "b2"}
    # shrunk: the smallest batch that shows it
    assert finding.case.batch == 1


def test_broken_code_with_free_sizes_reports_the_crash_and_the_mismatch_separately():
    run = fuzz(broken_target(), examples=80, seed=0)
    kinds = {f.kind: f for f in run.findings}
    # in != hidden: numpy raises on the broadcast (a crash) or, when one of them is 1,
    # broadcasts silently to a wrong shape; in == hidden: wrong values of the right shape
    assert "mismatch" in kinds and len(run.findings) >= 2
    assert set(kinds) <= {"crash", "shape", "mismatch"}
    for f in run.findings:
        sizes = f.case.network.sizes
        assert (sizes[0] == sizes[1]) == (f.kind == "mismatch"), (f.kind, sizes)
    bad_sizes = kinds["mismatch"].case.network.sizes
    assert kinds["mismatch"].tensors == ["W1", "b1"]
    # minimal examples are small
    assert sum(bad_sizes) <= 4 and kinds["mismatch"].case.batch == 1
