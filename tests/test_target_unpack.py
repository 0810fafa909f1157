"""What a target may return: pairs, or dicts under crosscheck's or notebooks' names."""
import numpy as np
import pytest

from crosscheck.model.target import ReturnError, unpack


def test_list_of_pairs():
    assert sorted(unpack([(1, 2), (3, 4)], 2)) == ["W1", "W2", "b1", "b2"]


def test_single_layer_pair_without_outer_list():
    assert unpack((np.zeros((1, 1)), np.zeros(1)), 1).keys() == {"W1", "b1"}


@pytest.mark.parametrize("out", [{"W1": 1, "b1": 2, "W2": 3, "b2": 4}, {"dW1": 1, "db1": 2, "dW2": 3, "db2": 4}])
def test_dicts_by_name(out):
    assert unpack(out, 2) == {"W1": 1, "b1": 2, "W2": 3, "b2": 4}


@pytest.mark.parametrize("out", [{"W": 1, "b": 2}, {"dW": 1, "db": 2}])
def test_single_layer_dicts(out):
    assert unpack(out, 1) == {"W1": 1, "b1": 2}


def test_intermediates_pass_through():
    assert unpack({"W1": 1, "b1": 2, "dZ1": 3, "dX": 4}, 1)["dZ1"] == 3


@pytest.mark.parametrize("out, words", [([(1, 2)], "returned 1 items, expected a list of 2"),
                                        ("grads", "returned a str"), ([(1, 2), 3], "item 1")])
def test_wrong_structures_say_what_was_expected(out, words):
    with pytest.raises(ReturnError, match=words):
        unpack(out, 2)
