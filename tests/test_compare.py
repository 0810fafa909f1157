"""The one comparison function and its record: shapes, NaN and non-arrays are results."""
import numpy as np
import pytest

from crosscheck.numerics.compare import compare

T = np.array([[1.0, -2.0], [3.0, 4.0]])


def test_agreeing_tensor():
    r = compare("W1", T.copy(), T)
    assert r.agree and r.status == "agree" and r.mismatches == 0 and r.max_abs_err == 0


def test_mismatch_counts_elements_and_finds_the_worst():
    got = T.copy()
    got[1, 0] += 0.5
    got[0, 1] += 0.1
    r = compare("W1", got, T)
    assert not r.agree and r.status == "mismatch"
    assert (r.mismatches, r.size, r.mismatch_fraction) == (2, 4, 0.5)
    assert r.worst_index == (1, 0)
    assert r.max_abs_err == pytest.approx(0.5) and r.max_rel_err == pytest.approx(0.5 / 4)
    assert r.message.startswith("W1: 2 / 4 elements mismatch (50%); worst absolute difference 0.5 at (1, 0)")


def test_wrong_shape_is_a_result_naming_both_shapes():
    r = compare("W2", T.T[:, :1], T)
    assert r.status == "shape" and not r.agree
    assert "(2, 1)" in r.message and "(2, 2) expected" in r.message


def test_transposed_square_is_a_mismatch_not_a_shape_error():
    r = compare("W1", T.T, T)
    assert r.status == "mismatch" and r.mismatches == 2


def test_column_vector_bias_is_a_layout_not_a_bug():
    b = np.array([1.0, 2.0, 3.0])
    assert compare("b1", b.reshape(3, 1), b).agree
    assert compare("b1", b.reshape(1, 3), b).agree


def test_bias_not_summed_over_the_batch_is_a_shape_finding():
    b = np.array([1.0, 2.0])
    r = compare("b1", np.ones((4, 2)), b)
    assert r.status == "shape" and "(4, 2)" in r.message


@pytest.mark.parametrize("value, words", [("abc", "not a numeric array"), ({"a": 1}, "not a numeric array"),
                                          ([[1.0], [1.0, 2.0]], "not an array")])
def test_non_arrays_are_results(value, words):
    r = compare("b1", value, np.array([1.0, 2.0]))
    assert r.status == "shape" and words in r.message


def test_missing_tensor():
    r = compare("b2", None, np.array([1.0, 2.0]))
    assert r.status == "missing" and "not returned" in r.message


def test_nan_where_torch_is_finite_is_nonfinite_with_first_offender():
    got = T.copy()
    got[1, 1] = np.nan
    got[0, 1] = np.inf
    r = compare("W1", got, T)
    assert r.status == "nonfinite" and r.worst_index == (0, 1) and r.mismatches == 2
    assert "NaN or inf" in r.message


def test_torch_nonfinite_is_undefined_not_a_disagreement():
    truth = T.copy()
    truth[0, 0] = np.nan
    r = compare("W1", np.full_like(T, np.nan), truth)
    # NaN where torch is NaN is fine; NaN where torch is finite is still a finding
    assert r.status == "nonfinite"
    got = T.copy()
    got[0, 0] = 7.0
    r = compare("W1", got, truth)
    assert r.status == "undefined" and r.agree


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    assert compare("W1", torch.tensor(T), T).agree
