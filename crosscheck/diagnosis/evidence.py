"""Everything diagnosis looks at for one example: the target's raw gradients, the
float64 truth with every intermediate (dA, dZ, dX), the judge of the example (its budget), and the
forward values (Z, A) of each layer.

``gather(target, case)`` rebuilds it from a case; ``gather_arrays`` from explicit
arrays (a slice of a case's batch, say). The target is rerun here, so
diagnosis sees its values, not only the comparison records.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from crosscheck.model.cases import Case
from crosscheck.numerics import tolerance
from crosscheck.judge.check import Judge
from crosscheck.numerics.compare import TensorComparison, as_array, compare
from crosscheck.model.vocabulary import backward_order, tensor_layer


@dataclass
class Evidence:
    case: Case
    X: np.ndarray  # float64 copies of the example's arrays
    Y: np.ndarray
    params: list[tuple[np.ndarray, np.ndarray]]
    candidate: dict[str, np.ndarray | None]  # the target's values as float arrays (None: missing or not an array)
    shapes: dict[str, tuple]  # shapes of what the target returned
    crash: str | None  # exception type name if the target raised
    crash_message: str
    truth: dict[str, np.ndarray]
    judge: Judge  # how check_case judges this example (budget, conventions, arbiter)
    Z: list[np.ndarray] = field(default_factory=list)  # Z[l] for l = 1..L (Z[0] unused)
    A: list[np.ndarray] = field(default_factory=list)  # A[0] = X, A[l] = f_l(Z[l])
    comparisons: dict[str, TensorComparison] = field(default_factory=dict)

    @property
    def scales(self) -> dict[int, float]:
        return self.judge.scales

    @property
    def network(self):
        return self.case.network

    @property
    def dtype(self) -> str:
        return self.case.dtype

    @property
    def batch(self) -> int:
        return self.X.shape[0]

    @property
    def depth(self) -> int:
        return self.network.depth

    @property
    def failing(self) -> list[str]:
        """Names of tensors that disagree with torch, in backward order."""
        return backward_order([n for n, c in self.comparisons.items() if not c.agree])

    def wrong(self, name: str) -> bool:
        c = self.comparisons.get(name)
        return c is not None and not c.agree

    def right(self, name: str) -> bool:
        c = self.comparisons.get(name)
        return c is not None and c.agree

    def tolerance(self) -> float:
        """Relative tolerance of the hypothesis tests of signature analysis at this dtype."""
        return 1e-3 if self.dtype == "float32" else 1e-6


def forward(network, X, params) -> tuple[list, list]:
    """Float64 forward values: ``Z[l]`` and ``A[l]`` for l = 1..L, ``A[0] = X`` (``forward64.forward``)."""
    from crosscheck.numerics import forward64

    with np.errstate(all="ignore"):
        Z, A = forward64.forward(network, X, params)
    return [np.empty(0), *Z[1:]], A


def gather(target, case: Case) -> Evidence:
    X, Y, params = case.arrays()
    return gather_arrays(target, case, X, Y, params)


def gather_arrays(target, case: Case, X, Y, params) -> Evidence:
    """Run ``target`` on these arrays (of ``case``'s network and dtype) and collect the evidence."""
    case = replace(case, batch=int(X.shape[0]))
    crash, crash_message, raw = None, "", {}
    try:
        raw, params = target.call(case.network, X, Y, params)  # "step": the params it began from
    except Exception as e:  # the target's failure is evidence too
        crash, crash_message = type(e).__name__, str(e).splitlines()[0][:200] if str(e) else ""
    from crosscheck.judge.oracle import mirror

    truth = mirror(case.network, X, Y, params, "float64")
    judge = Judge(case, X, Y, params, truth)
    X64, Y64 = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    p64 = [(np.asarray(W, np.float64), None if b is None else np.asarray(b, np.float64)) for W, b in params]
    candidate, shapes = {}, {}
    for name, value in raw.items():
        arr, _ = as_array(value, name)
        candidate[name] = arr
        shapes[name] = tuple(arr.shape) if arr is not None else ()
    ev = Evidence(case, X64, Y64, p64, candidate, shapes, crash, crash_message, truth.grads, judge)
    ev.Z, ev.A = forward(case.network, X64, p64)
    if crash is None:
        names = case.network.param_names() + [n for n in raw if n in truth.grads
                                                   and n not in case.network.param_names()]
        for n in backward_order(names):
            ev.comparisons[n] = judge.compare(n, raw.get(n))
    return ev


def crash_kind(type_name: str, message: str) -> str:
    """What a crash is, for telling two apart: the exception's type and its message without the
    numbers and shapes ("ValueError: operands could not be broadcast together with shapes").

    The type alone says too little: NumPy raises ValueError for a broadcast, an in-place
    broadcast into a smaller array and a matrix product alike, and those are different bugs.
    """
    import re

    words = re.sub(r"\([^)]*\)|\[[^]]*\]|[-+]?\d+", " ", message or "")
    return f"{type_name}: {' '.join(words.split())[:60]}".rstrip(": ")


def agrees(ev: Evidence, name: str, candidate, reference, factor: float = 1.0) -> bool:
    """Does ``candidate`` equal ``reference`` within the case's budget (scaled by ``factor``)?"""
    if candidate is None or reference is None:
        return False
    return comparison(ev, name, candidate, reference, factor).agree


def comparison(ev: Evidence, name: str, candidate, reference, factor: float = 1.0):
    """The one comparison (``crosscheck.numerics.compare``) of ``candidate`` with ``reference`` as the
    truth and the case's own budget for this tensor (``check.Judge.allowed``: floor, rounding
    bound and measured noise), scaled by ``|factor|``, where the shapes allow it."""
    ref = np.asarray(reference, np.float64)
    scale = abs(factor) * ev.scales.get(tensor_layer(name) or 1, 0.0)
    allowed = None
    if name in ev.truth and ev.truth[name].shape == ref.shape:
        allowed = abs(factor) * ev.judge.allowed(name) + tolerance.floor(ref, ev.dtype, scale)
    return compare(name, candidate, ref, dtype=ev.dtype, scale=scale, allowed=allowed)
