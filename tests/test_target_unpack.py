"""What a target may return, read by the one reader (``model.returns``): pairs, bare weight lists for
bias-free layers, dicts under crosscheck's or notebooks' names; anything else said plainly."""
import numpy as np
import pytest

from crosscheck.model.returns import Opaque, Rejected, ReturnError, unpack

A, B, C, D = np.ones((2, 3)), np.ones(2), np.ones((1, 2)), np.ones(1)


def test_list_of_pairs():
    assert sorted(unpack([(A, B), (C, D)], 2)) == ["W1", "W2", "b1", "b2"]


def test_single_layer_pair_without_outer_list():
    assert unpack((A, B), 1).keys() == {"W1", "b1"}


@pytest.mark.parametrize("out", [{"W1": A, "b1": B, "W2": C, "b2": D}, {"dW1": A, "db1": B, "dW2": C, "db2": D}])
def test_dicts_by_name(out):
    got = unpack(out, 2)
    assert list(got) == ["W1", "b1", "W2", "b2"] and got["W2"] is C


@pytest.mark.parametrize("out", [{"W": A, "b": B}, {"dW": A, "db": B}])
def test_single_layer_dicts(out):
    assert unpack(out, 1).keys() == {"W1", "b1"}


def test_intermediates_are_read_only_when_declared():
    out = {"W1": A, "b1": B, "dZ1": np.ones((4, 2)), "dX": np.ones((4, 3))}
    assert unpack(out, 1, intermediates=True).keys() == {"W1", "b1", "dZ1", "dX"}
    got = unpack(out, 1)
    assert got.keys() == {"W1", "b1"}
    assert got.note() == "returned dZ1, dX ignored: intermediates are compared only when the declaration says " \
                         "intermediates=True"


def test_a_course_style_dict_with_column_layout_intermediates_gives_only_its_weight_gradients():
    # dW1, db1 beside dA1, dZ1 in column layout (units, batch): those are not crosscheck's intermediates
    out = {"dW1": A, "db1": B.reshape(2, 1), "dA1": np.ones((2, 5)), "dZ1": np.ones((2, 5)), "dW2": C, "db2": D}
    got = unpack(out, 2)
    assert list(got) == ["W1", "b1", "W2", "b2"] and "dA1, dZ1 ignored" in got.note()


def test_a_dict_without_b2_says_so_for_b2_alone():
    got = unpack({"dW1": A, "db1": B, "dW2": C}, 2)
    assert isinstance(got["b2"], Rejected) and got["b2"].missing
    assert got["b2"].why == "the returned dict has no b2 (nor db2; its keys: dW1, db1, dW2)"


def test_bias_free_layers_return_pairs_with_none_or_bare_weights():
    for out in ([(A, None), (C, None)], [A, C]):
        got = unpack(out, 2, bias=False)
        assert list(got) == ["W1", "W2"]


@pytest.mark.parametrize("value, words", [
    (np.ones((2, 3), dtype=complex), "a complex128 array (complex values"),
    (np.ones((2, 3), dtype=np.int64), "an int64 array (integer values"),
    (np.ones((2, 3), dtype=bool), "a bool array"),
    (np.ones((2, 3), dtype=np.float32), "a float32 array from a target declared dtype='float64'"),
    ("dW1", "a str"),
    (Opaque("generator"), "a generator"),
    ([1, 2, 3], "a list"),
])
def test_only_real_floating_arrays_are_gradients(value, words):
    got = unpack([(value, B), (C, D)], 2, dtype="float64")
    assert isinstance(got["W1"], Rejected) and got["W1"].why.startswith(words)


def test_what_converts_exactly_is_accepted():
    got = unpack([([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], B), (C, 0.5)], 2, dtype="float64")
    assert got["W1"].dtype == np.float64 and got["b2"].dtype == np.float64
    assert unpack([(A.astype(np.float32), B), (C, D)], 2, dtype="float32")["W1"].dtype == np.float32


@pytest.mark.parametrize("out, words", [
    (None, "returned None, expected a list of 2 (dW, db) pairs"),
    ("grads", "returned a str"), (42.0, "returned a float"), (Opaque("generator"), "returned a generator"),
    ([(A, B)], "returned 1 item, expected a list of 2"), ([(A, B), "x"], "item 1 of the returned list is a str"),
    ({"loss": 1.0}, "returned a dict without any of W1, b1, W2, b2 (its keys: loss)"),
])
def test_wrong_structures_say_what_came_back(out, words):
    with pytest.raises(ReturnError, match=words.replace("(", r"\(").replace(")", r"\)")):
        unpack(out, 2)


def test_a_rejected_value_becomes_that_tensors_finding_in_the_comparison():
    from crosscheck.numerics.compare import compare

    got = unpack([(np.ones((2, 3), dtype=complex), B), (C, D)], 2)
    c = compare("W1", got["W1"], A)
    assert c.status == "shape" and c.message.startswith("W1: a complex128 array (complex values")
    missing = compare("b2", unpack({"dW1": A, "db1": B, "dW2": C}, 2)["b2"], D)
    assert missing.status == "missing" and "the returned dict has no b2" in missing.message


def test_what_is_not_data_crosses_the_pipe_as_its_type_name_and_reads_as_such():
    from crosscheck.audit import protocol
    import os

    r, w = os.pipe()
    protocol.send(w, {"op": "return"}, (x for x in []))
    header, value, _ = protocol.Stream(r).receive()
    with pytest.raises(ReturnError, match="returned a generator"):
        unpack(value, 2)
    protocol.send(w, {"op": "return"}, [(np.ones((2, 3), dtype=complex), B), (C, D)])
    _, value, _ = protocol.Stream(r).receive()
    assert unpack(value, 2)["W1"].why.startswith("a complex128 array")
