"""The one-pass comparison of a case gives the very records the full judge gives."""
import math
from dataclasses import fields

import numpy as np
import pytest

from crosscheck.judge.check import Judge
from crosscheck.judge.fastpath import compare_all
from crosscheck.judge.oracle import mirror
from crosscheck.drawing.sampler import Bounds, seeded_case
from crosscheck.model.target import reference_target
from crosscheck.model.vocabulary import backward_order

SMALL = Bounds(max_depth=3, max_width=8, max_batch=6)


def _same(a, b) -> bool:
    """Field by field, NaN equal to NaN."""
    for k, v in a.__dict__.items():
        w = b.__dict__[k]
        if isinstance(v, float) and isinstance(w, float) and math.isnan(v) and math.isnan(w):
            continue
        if v != w or type(v) is not type(w):
            return False
    return True


def _both(case, got):
    """(fast records, full-judge records, whether the judge was needed)."""
    X, Y, params = case.arrays()
    truth = mirror(case.network, X, Y, params, "float64")
    names = backward_order([n for n in truth.grads if n in got] or list(truth.grads))
    calls = []

    def make():
        calls.append(1)
        return Judge(case, X, Y, params, truth)

    fast = compare_all(names, got, truth.grads, case.dtype, make)
    full = Judge(case, X, Y, params, truth)
    return fast, [full.compare(n, got.get(n)) for n in names], bool(calls)


def _reference(case):
    X, Y, params = case.arrays()
    return reference_target().run(case.network, X, Y, params)


def test_agreeing_cases_give_the_judges_records_without_the_judge():
    used = 0
    for i in range(120):
        case = seeded_case(5, i, None, SMALL)
        fast, full, judged = _both(case, _reference(case))
        assert len(fast) == len(full)
        for a, b in zip(fast, full):
            assert _same(a, b), (case, a, b)
        used += judged
    assert used < 12  # nearly every reference case is settled by the floor alone


def test_cases_over_the_floor_give_the_judges_records_from_the_rounding_bound():
    """Large and saturated data put some tensors over the floor: the judge's second stage settles them."""
    used = 0
    for i in range(200):
        case = seeded_case(0, i)
        if case.regime not in ("large", "saturated") or max(case.network.sizes) * case.batch > 400:
            continue
        fast, full, judged = _both(case, _reference(case))
        for a, b in zip(fast, full):
            assert _same(a, b), (case, a, b)
        used += judged
    assert used >= 3


def _broken(how):
    def change(got, case):
        got = dict(got)
        if how == "scale":
            got["W1"] = got["W1"] * 1.5
        elif how == "nan":
            got["b1"] = got["b1"].copy()
            got["b1"].flat[0] = np.nan
        elif how == "nudge":  # just over the floor: the judge's later stages decide
            got["W1"] = got["W1"] + 1e3 * np.finfo(case.dtype).eps * (1 + np.abs(got["W1"]).max())
        elif how == "column":
            got["b1"] = got["b1"].reshape(-1, 1)
        elif how == "missing":
            got.pop("W1")
        elif how == "list":
            got["W1"] = got["W1"].tolist()
        elif how == "transpose":
            got["W1"] = got["W1"].T
        elif how in ("float16", "int64", "float32"):
            got["W1"] = got["W1"].astype(how)
        elif how == "big-endian":
            got["W1"] = got["W1"].astype(got["W1"].dtype.newbyteorder(">"))
        return got
    return change


@pytest.mark.parametrize("how", ["scale", "nan", "nudge", "column", "missing", "list", "transpose", "float16",
                                 "int64", "float32", "big-endian"])
def test_tensors_off_the_fast_path_get_the_full_judges_record(how):
    for i in range(6):
        case = seeded_case(11, i, None, SMALL)
        got = _broken(how)(_reference(case), case)
        fast, full, _ = _both(case, got)
        for a, b in zip(fast, full):
            assert _same(a, b), (how, case, a, b)


def test_a_truth_that_is_not_finite_goes_to_the_judge():
    case = seeded_case(0, 1, None, SMALL)
    X, Y, params = case.arrays()
    truth = mirror(case.network, X, Y, params, "float64")
    truth.grads["W1"] = truth.grads["W1"].copy()
    truth.grads["W1"].flat[0] = np.inf
    calls = []

    class Stub:
        def compare(self, name, candidate):
            return name

    out = compare_all(["W1", "b1"], {"W1": truth.grads["W1"], "b1": truth.grads["b1"]}, truth.grads,
                      case.dtype, lambda: calls.append(1) or Stub())
    assert out == ["W1", "b1"] and calls == [1]


# -- check_chunk: the campaign's stage-by-stage check -----------------------------------------

def _ref_grads(X, Y, params, network):
    from crosscheck.reference import MLP
    return MLP(network.sizes, network.activations, params).gradients(X, Y, network.loss, network.reduction)[1]


def _half_w1(X, Y, params, *, network):
    g = _ref_grads(X, Y, params, network)
    return {**g, "W1": 0.5 * g["W1"]}


def _crashes_on_depth_two(X, Y, params, *, network):
    if network.depth == 2:
        raise ZeroDivisionError("a bug of the target")
    return _ref_grads(X, Y, params, network)


def _too_few(X, Y, params, *, network):
    return [(np.zeros(1), np.zeros(1))] * (network.depth + 1)  # unreadable: a ReturnError


def _sgd_step(X, Y, params, *, network):
    g = _ref_grads(X, Y, params, network)
    return {k: (W if k[0] == "W" else b) - 0.1 * g[k]
            for l, (W, b) in enumerate(params, start=1) for k in (f"W{l}", f"b{l}")}


def _params_only(X, Y, params, *, network):
    g = _ref_grads(X, Y, params, network)
    return {k: v for k, v in g.items() if k[0] in "Wb"}


@pytest.mark.parametrize("fn, returns, lr", [(_half_w1, "grads", None), (_crashes_on_depth_two, "grads", None),
                                             (_too_few, "grads", None), (_sgd_step, "update", 0.1),
                                             (_params_only, "grads", None)])
def test_check_chunk_gives_check_cases_results(fn, returns, lr):
    from crosscheck.judge.check import check_case, check_chunk
    from crosscheck.model.target import Target

    target = Target(fn.__name__, fn, returns=returns, lr=lr, takes_network=True)
    cases = [seeded_case(21, i, None, SMALL) for i in range(24)]
    chunk, one_by_one = check_chunk(target, cases), [check_case(target, c) for c in cases]
    assert len(chunk) == len(cases)
    for a, b in zip(chunk, one_by_one):
        assert a.case == b.case and a.target == b.target and a.undefined == b.undefined
        rest = [f.name for f in fields(a) if f.name not in ("case", "comparisons", "loss")]
        assert [getattr(a, k) for k in rest] == [getattr(b, k) for k in rest]
        assert a.loss == b.loss or (math.isnan(a.loss) and math.isnan(b.loss)) or a.loss is b.loss
        assert a.crash == b.crash
        assert len(a.comparisons) == len(b.comparisons)
        for x, y in zip(a.comparisons, b.comparisons):
            assert _same(x, y), (fn.__name__, a.case, x, y)
    if fn is _crashes_on_depth_two:
        assert any(r.crash for r in chunk) and any(not r.crash for r in chunk)


def test_scratch_buffers_are_reused_but_never_kept_beyond_their_cap(monkeypatch):
    from crosscheck.judge import fastpath

    a = fastpath._scratch("probe", 100, np.float64)
    assert fastpath._scratch("probe", 50, np.float64).base is a.base  # the same memory, reused
    monkeypatch.setattr(fastpath, "_SCRATCH_MAX", 1000)
    big = fastpath._scratch("probe", 5000, np.float64)
    assert big.size == 5000 and fastpath._SCRATCH.probe.size <= 4096  # fresh, not kept


def test_a_chunk_judged_in_pieces_gives_the_same_records(monkeypatch):
    """``compare_many`` splits a large chunk into pieces of about ``PIECE_ELEMENTS``; where the cuts
    fall changes nothing in the records."""
    from crosscheck.judge import fastpath
    from crosscheck.judge.check import check_chunk

    cases = [seeded_case(5, i) for i in range(40)]
    whole = check_chunk(reference_target(), cases)
    monkeypatch.setattr(fastpath, "PIECE_ELEMENTS", 300)
    pieces = check_chunk(reference_target(), cases)
    for a, b in zip(whole, pieces):
        assert a.measured == b.measured and len(a.comparisons) == len(b.comparisons)
        assert all(_same(x, y) for x, y in zip(a.comparisons, b.comparisons))


def test_the_judge_and_its_batch_entry_point_share_the_record_constructor_and_no_engine():
    """fastpath imports nothing of the engine and makes its records with ``compare.agreement``."""
    import ast
    import inspect

    from crosscheck.judge import fastpath

    tree = ast.parse(inspect.getsource(fastpath))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(m.startswith("crosscheck.engine") or m == "crosscheck.judge.check" for m in imported)
    assert "TensorComparison(" not in inspect.getsource(fastpath)
