"""The audited process runs the target under the tracer (``judge.tracing.trace_call``, written by the
diagnosis) and sends back plain arrays with their file, line and code."""
from pathlib import Path

import numpy as np
import pytest

TARGETS = Path(__file__).parent / "audit_targets"


def test_the_audited_process_traces_and_sends_plain_arrays():
    pytest.importorskip("crosscheck.judge.tracing")  # lands with the diagnosis's line finder
    from crosscheck.audit.sandbox import Limits, Sandbox, proxy

    rng = np.random.default_rng(0)
    X, Y = rng.random((4, 3)), rng.random((4, 2))
    params = [(rng.random((5, 3)), rng.random(5)), (rng.random((2, 5)), rng.random(2))]
    with Sandbox(TARGETS / "misbehaving.py", "returns_nan", Limits(60)) as box:
        fn = proxy(box)
        recs = fn.crosscheck_trace([X, Y, params], [str(TARGETS / "misbehaving.py")])
    z1 = next(r for r in recs if r["name"] == "z1")
    assert z1["code"] == "z1 = X @ W1.T + b1" and np.allclose(z1["array"], X @ params[0][0].T + params[0][1])
    assert z1["file"].endswith("misbehaving.py") and isinstance(z1["line"], int)
