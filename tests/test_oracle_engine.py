"""``oracle.mirror`` gives the same gradients through the engine call and through ``torch.autograd.grad``."""
from __future__ import annotations

import pytest

from crosscheck.judge import oracle
from crosscheck.drawing.sampler import seeded_case


def snapshot(m):
    return m.loss, list(m.grads), [(g.dtype.str, g.shape, g.tobytes()) for g in m.grads.values()], m.output.tobytes()


@pytest.mark.parametrize("kwargs", [{}, {"intermediates": False}, {"nudge_ulps": 4, "seed": 1}])
def test_engine_and_public_call_agree_bit_for_bit(monkeypatch, kwargs):
    assert oracle._ENGINE is not None  # the pinned torch has it: the fast path is the one tested
    cases = [seeded_case(5, i) for i in range(30)]
    direct = [snapshot(oracle.mirror(c.network, *c.arrays(), "float64", **kwargs)) for c in cases]
    monkeypatch.setattr(oracle, "_ENGINE", None)
    public = [snapshot(oracle.mirror(c.network, *c.arrays(), "float64", **kwargs)) for c in cases]
    assert direct == public
