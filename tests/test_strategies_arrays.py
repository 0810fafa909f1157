"""``parameters()`` and ``datasets()``: arrays drawn element by element, shapes from the network."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from crosscheck.model.cases import Network
from crosscheck.judge.check import CaseResult
from crosscheck.numerics.compare import compare
from crosscheck.drawing.strategies import datasets, networks, parameters

NET = Network((3, 2, 4), ("relu", "sigmoid"), "bce")


@settings(max_examples=25, deadline=None)
@given(parameters(NET, dtype="float32"), datasets(NET, 5))
def test_shapes_and_dtypes_follow_the_network(params, data):
    (W1, b1), (W2, b2) = params
    assert (W1.shape, b1.shape, W2.shape, b2.shape) == ((2, 3), (2,), (4, 2), (4,))
    assert W1.dtype == np.float32
    X, Y = data
    assert X.shape == (5, 3) and Y.shape == (5, 4)
    assert ((0 <= Y) & (Y <= 1)).all()  # bce targets are probabilities


@settings(max_examples=25, deadline=None)
@given(networks(losses=("bce",), max_depth=3))
def test_networks_pick_an_output_activation_the_loss_allows(net):
    assert net.activations[-1] == "sigmoid" and 1 <= net.depth <= 3


@pytest.mark.parametrize("make, words", [
    (lambda: datasets(NET, 0), "batch=0"),
    (lambda: parameters(NET, dtype="float16"), "dtype='float16'"),
    (lambda: networks(min_depth=3, max_depth=2), "min_depth=3 is larger than max_depth=2"),
    (lambda: networks(activations=("softmax",)), "unknown value"),
])
def test_bad_arguments_are_refused_up_front(make, words):
    with pytest.raises(InvalidArgument, match=words):
        make()


def test_finding_tensors_are_names_never_keys(rng):
    """A finding names the failing parameters (or, failing none, the failing tensors)."""
    from crosscheck.model.cases import Case
    truth = {"W1": rng.standard_normal((2, 3)), "b1": rng.standard_normal(2), "dX": rng.standard_normal((5, 3))}
    got = {**truth, "b1": truth["b1"] * 2}
    r = CaseResult(Case(Network((3, 2), ("identity",)), 5), "t", [compare(n, got[n], truth[n]) for n in truth])
    assert r.finding_tensors() == ["b1"]
    got = {**truth, "dX": truth["dX"] * 2}
    r = CaseResult(Case(Network((3, 2), ("identity",)), 5), "t", [compare(n, got[n], truth[n]) for n in truth])
    assert r.finding_tensors() == ["dX"]
