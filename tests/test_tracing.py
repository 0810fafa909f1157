"""The tracer names the line that bound each array, in the audited process as in this one."""
from pathlib import Path

import numpy as np

from crosscheck.judge.tracing import trace_call

TARGETS = Path(__file__).parent / "audit_targets"


def _layer(X, W):
    z = X @ W.T
    a = np.maximum(z, 0)
    return a


def test_each_assigned_array_comes_with_its_line_and_code():
    X, W = np.arange(6.0).reshape(2, 3), np.ones((4, 3))
    recs = trace_call(_layer, (X, W), [__file__])
    assert [(r["name"], r["code"]) for r in recs] == [("z", "z = X @ W.T"), ("a", "a = np.maximum(z, 0)")]
    assert np.array_equal(recs[0]["array"], X @ W.T) and recs[0]["line"] == _layer.__code__.co_firstlineno + 1


def test_the_audited_process_traces_and_sends_plain_arrays():
    from crosscheck.audit.sandbox import Limits, Sandbox, proxy

    rng = np.random.default_rng(0)
    X, Y = rng.random((4, 3)), rng.random((4, 2))
    params = [(rng.random((5, 3)), rng.random(5)), (rng.random((2, 5)), rng.random(2))]
    with Sandbox(TARGETS / "misbehaving.py", "returns_nan", Limits(60)) as box:
        proxy(box)
        recs = box.trace([X, Y, params], [str(TARGETS / "misbehaving.py")])
    z1 = next(r for r in recs if r["name"] == "z1")
    assert z1["code"] == "z1 = X @ W1.T + b1" and np.allclose(z1["array"], X @ params[0][0].T + params[0][1])
    assert not any(r["name"] in ("X", "Y") for r in recs)  # arguments are not assignments
