"""The line of each bug: where the audited code first computes a wrong value where the right one was due.

The target is rerun on a confirming case (a verification case the explanation
reproduces, never the minimal example) under ``judge.tracing.trace_call``,
which records every array the audited files compute, line by line. For a bug
``b`` of an explanation E the known quantities are every gradient and
intermediate (dA_l, dZ_l, dW_l, db_l, dX) of the reference with E's bugs in
place ("with b") and with all of them but b ("without b"); the quantities b
changes are the ones that tell. The line of b is the first record that

- equals a quantity "with b" exactly (scale 1) and not "without b" (this tells
  apart bugs that only scale: the half-MSE ``(a - y)/n`` against ``2 (a - y)/n``), or
- equals it up to a scale and "without b" at no scale (a mask, an input, a
  derivative: the record may carry a factor such as the learning rate of an
  in-place update, ``W -= lr * dW``),

in any layout: as computed, transposed (column layout), or flattened ((n, 1) bias);
for dZ_l and dA_l also one example's row, as code that loops over the batch one
column vector at a time computes them.
A quantity of one element, or a constant one, is never matched up to a scale:
any two such arrays are proportional.
"""
from __future__ import annotations

import os

import numpy as np

from crosscheck.diagnosis.evidence import Evidence
from crosscheck.diagnosis.explain import DOWNWARD, Bug, gradients

#: Relative residual under which a record equals a quantity, by the audited code's dtype
#: (the same sums in another order; float32 code against float64 quantities).
RTOL = {"float64": 1e-7, "float32": 1e-4}


def scale_of(record: np.ndarray, quantity: np.ndarray, rtol: float = RTOL["float64"]) -> float | None:
    """s with ``record`` = s · ``quantity`` in some layout (as is, transposed, flattened), or None."""
    if record.size != quantity.size or record.size == 0:
        return None
    r = record.ravel()
    if not np.all(np.isfinite(r)):
        return None
    layouts = [quantity.ravel()] + ([quantity.T.ravel()] if quantity.ndim == 2 else [])
    for q in layouts:
        if not np.all(np.isfinite(q)):
            continue
        den = float(q @ q)
        if den == 0:
            continue
        s = float(r @ q) / den
        if np.linalg.norm(r - s * q) <= rtol * max(np.linalg.norm(r), np.linalg.norm(s * q), 1e-300):
            return s
    return None


def _informative(q: np.ndarray) -> bool:
    """May ``q`` be matched up to a scale? Not at one element or when all its entries are equal."""
    return q.size >= 2 and float(np.ptp(q)) > 1e-12 * float(np.max(np.abs(q)))


def _exact(s: float | None, rtol: float) -> bool:
    return s is not None and abs(s - 1) <= 10 * rtol


def _tells(record: np.ndarray, with_q: np.ndarray, without_q: np.ndarray | None, rtol: float) -> bool:
    if record.size == 1 and with_q.size > 1:
        # one scalar where every entry of the quantity is that scalar (db = np.sum(dZ), broadcast later)
        v, first = float(record.ravel()[0]), float(with_q.ravel()[0])
        same = np.allclose(with_q, first, rtol=rtol, atol=0) and np.isclose(v, first, rtol=rtol, atol=0)
        return bool(same and (without_q is None or not np.allclose(without_q, v, rtol=rtol, atol=0)))
    if without_q is not None and with_q.ndim == 2 and with_q.shape == without_q.T.shape and (
            with_q.shape != without_q.shape or np.allclose(with_q, without_q.T, rtol=rtol, atol=0)):
        # a layout bug (a transposed dW, square or not): only the layout tells, so the record must have it
        return record.shape == with_q.shape and _exact(scale_of(record, with_q, rtol), rtol) and (
            np.allclose(record, with_q, rtol=rtol, atol=0))
    s_with = scale_of(record, with_q, rtol)
    if s_with is None or s_with == 0:
        return False
    s_without = scale_of(record, without_q, rtol) if without_q is not None else None
    if _exact(s_with, rtol) and not _exact(s_without, rtol):
        return True
    return _informative(with_q) and s_without is None


def _tells_a_row(record: np.ndarray, name: str, with_q: np.ndarray, without_q: np.ndarray | None,
                 rtol: float) -> bool:
    """Code that runs one example at a time (a loop over the batch, column vectors) computes dZ_l and
    dA_l row by row: does ``record`` tell one example's row of the batch quantity ``name``?"""
    if not name.startswith(("dZ", "dA")) or with_q.ndim != 2 or with_q.shape[0] < 2:
        return False
    if record.size != with_q.shape[1]:
        return False
    ok = without_q is not None and without_q.shape == with_q.shape
    # one example's gradient of a loss averaged over the batch is batch times its row (the code
    # divides by the batch later, in its update): both scales are that example's own
    return any(_tells(record, k * with_q[i], k * without_q[i] if ok else None, rtol)
               for k in (1.0, float(with_q.shape[0])) for i in range(with_q.shape[0]))


def _differs(a: np.ndarray, b: np.ndarray | None) -> bool:
    return b is None or a.shape != b.shape or not np.allclose(a, b, rtol=1e-9, atol=0)


def primary(bug: Bug, depth: int) -> list[str]:
    """The quantities a bug computes wrong first: the loss gradient dA_L, an activation's dZ_l,
    a dense layer's dW_l or db_l, or the dA_{l-1} it passes down."""
    v, l = bug.variant, bug.layer
    if v.scope == "loss":
        return [f"dA{depth}"]
    if v.scope == "penalty":  # a penalty's gradient is added to every weight gradient
        return [f"W{k}" for k in range(depth, 0, -1)]
    if v.scope == "activation":
        return [f"dZ{l}"]
    if v.key == "cache-overwritten":
        return [f"W{l + 1}"]
    if v.key in DOWNWARD:
        return [f"dA{l - 1}"]
    return [f"W{l}", f"b{l}"]


def locate(bugs: list[Bug], ev: Evidence, records: list[dict]) -> dict[int, dict | None]:
    """``{index of bug: {"file", "line", "code"} or None}`` from the trace of the target at ``ev``.

    The records that tell a quantity the bug computes first (``primary``) come first, then those
    of any quantity it changes; of those, the first, unless it only hands its array on (``_handed_on``).
    """
    with_all = gradients(tuple(bugs), ev)
    out: dict[int, dict | None] = {i: None for i in range(len(bugs))}
    if isinstance(with_all, str):
        return out
    records = [r for r in records if r["array"].size]
    rtol = RTOL.get(ev.dtype, RTOL["float32"])
    for i, bug in enumerate(bugs):
        without = gradients(tuple(b for b in bugs if b is not bug), ev)
        without = without if isinstance(without, dict) else {}
        changed = [(n, q) for n, q in with_all.items() if _differs(q, without.get(n))]
        first = [(n, q) for n, q in changed if n in primary(bug, ev.depth)]

        def telling(quantities):
            return [r for r in records if any(_tells(r["array"], q, without.get(n), rtol)
                                              or _tells_a_row(r["array"], n, q, without.get(n), rtol)
                                              for n, q in quantities)]

        kept = [q for n, q in with_all.items() if not _differs(q, without.get(n))]
        hits = telling(first) or telling(changed)
        if hits:
            hit = _handed_on(hits, kept, rtol)
            out[i] = {"file": hit["file"], "line": hit["line"], "code": hit["code"]}
            if bug.variant.scope == "penalty":  # one term of every layer's gradient: each layer's line
                also = []
                for n, q in changed:
                    if n[0] not in "Wb":
                        continue
                    more = telling([(n, q)])
                    if more:
                        h = _handed_on(more, kept, rtol)
                        where = {"file": h["file"], "line": h["line"], "code": h["code"]}
                        if (h["file"], h["line"]) != (hit["file"], hit["line"]) and where not in also:
                            also.append(where)
                if also:
                    out[i]["also"] = sorted(also, key=lambda w: (w["file"], w["line"]))
    return out


def _handed_on(hits: list[dict], kept: list[np.ndarray], rtol: float) -> dict:
    """The first hit, unless a later hit holds the same array and the first is only handing it on:
    a value a function returns (a helper's ``return f'(z)`` that its caller uses as dZ), or a quantity
    the bug leaves alone (the dA a skipped derivative passes through as dZ). With no later hit (the
    one line where the derivative was due) the first stands."""
    hit = hits[0]
    for later in hits[1:]:
        if later["array"].shape != hit["array"].shape or not np.array_equal(later["array"], hit["array"]):
            continue
        caller = hit.get("caller")
        returned_to = hit["name"].startswith("return") and caller is not None and (
            tuple(caller) == (later["file"], later["line"]))
        if returned_to:
            hit = later
        elif any(_exact(scale_of(hit["array"], q, rtol), rtol) for q in kept):
            # a right value of another quantity (dZ2), then bound where this one was due (db2 = dz2): that
            # line, and no further (every later line hands the same array on: a return, the caller's)
            hit = later
            if not later["name"].startswith("return"):
                break
        else:
            break
    return hit


def trace_files(target) -> list[str]:
    """The files whose lines are traced: the target's ``trace_files`` option, else every ``*.py``
    beside the target's file (the adapter and the tutorial it imports)."""
    files = target.options.get("trace_files") if isinstance(target.options, dict) else None
    if files:
        return list(files)
    if not target.file or not os.path.isfile(target.file):
        return []
    folder = os.path.dirname(os.path.abspath(target.file))
    return [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(".py")]


def trace(target, ev: Evidence) -> list[dict]:
    """The trace of ``target`` at ``ev``'s case (its own arrays, in its dtype), run where the target's
    code runs: a function that runs elsewhere (the audit's sandbox proxy) offers
    ``fn.crosscheck_trace(args, files)``, which calls ``judge.tracing.trace_call`` there."""
    from crosscheck.judge.tracing import trace_call

    files = trace_files(target)
    if not files:
        return []
    X, Y, params = ev.case.arrays()
    remote = getattr(target.fn, "crosscheck_trace", None)
    if remote is not None and not target.takes_network:
        records = remote([X.copy(), Y.copy(), [(W.copy(), None if b is None else b.copy()) for W, b in params]],
                         files)
    else:
        records = trace_call(target.run, (ev.network, X, Y, params), files)
    return [{**r, "array": np.asarray(r["array"], np.float64)} for r in records
            if isinstance(r, dict) and r.get("array") is not None]
