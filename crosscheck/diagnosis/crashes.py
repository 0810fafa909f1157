"""A crash, or gradients of the wrong shape, explained by a known bug another finding names.

A bug that needs two sizes to agree (the ReLU mask built from X, dW2 built from X) makes a
target wrong where they agree, and raise or return gradients of the wrong shape where they do
not: two or three findings, one bug. The mismatch is explained by a set of known bugs, each
with the line it was found on (``explain``, ``lines``); ``explain_crashes`` gives

- a crash finding the bug of that set whose line raised it, when the set (from that bug's
  layer up) put into crosscheck's own reference, at the crash's minimal example and at up to
  ``MORE_CASES`` more cases that raised it, raises an error of the same kind
  (``evidence.crash_kind``: the exception's type and message without numbers and shapes) or
  makes one of that bug's tensors a shape its parameter cannot take, which code that updates
  the parameter in place, or adds the gradient to it, then raises on;
- a finding of gradients of the wrong shape the bugs of the layer of those gradients, when the
  set from that layer up returns exactly the shapes the target returned, at its example and at
  up to ``MORE_CASES`` more cases that returned them.

Nothing is claimed from a line or a layer alone: a finding the bugs do not reproduce keeps its
own diagnosis.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from crosscheck.diagnosis.evidence import crash_kind
from crosscheck.diagnosis.variants import combined_gradients
from crosscheck.model.records import crash_location
from crosscheck.model.vocabulary import tensor_layer

#: cases that raised the same error on the same line, checked beyond the minimal example
MORE_CASES = 2


def location(result) -> str | None:
    """``file:line in function`` of a crashed ``CaseResult`` (the user's frame that raised)."""
    crash = result.crash or {}
    return crash.get("location") or crash_location(crash.get("traceback") or "")


def _file_line(where: str | None) -> tuple[str, int] | None:
    m = re.match(r"(.+?):(\d+)(?: in .*)?$", where or "")
    return (Path(m.group(1)).name, int(m.group(2))) if m else None


def _key(case) -> str:
    return json.dumps(case.to_dict(), sort_keys=True, default=repr)


def _kind(type_name: str, message: str) -> str:
    return crash_kind(type_name, str(message).splitlines()[0] if str(message) else "")


def _run(bug_set, case, *, input_gradient: bool):
    """The reference's gradients with ``bug_set`` in place at ``case`` (or the exception it raised),
    and the case's parameters."""
    X, Y, params = case.arrays()
    try:
        return combined_gradients([b.triple for b in bug_set], case.network, X, Y, params,
                                  input_gradient=input_gradient), params
    except Exception as e:
        return e, params


def reproduces(bug_set, tensors: list[str], case, crash: dict) -> str | None:
    """How ``bug_set`` (``explain.Bug``s) in the reference fails at ``case`` as the target did with
    ``crash``: "raises ValueError too", "gives dW2 of shape (1, 2) where W2 is (1, 1)"; None when
    it does not."""
    grads, params = _run(bug_set, case, input_gradient=False)
    if isinstance(grads, Exception):
        same = _kind(type(grads).__name__, str(grads)) == _kind(crash.get("type", ""), crash.get("message", ""))
        return f"raises {type(grads).__name__} too" if same else None
    for name in tensors:
        if name[0] not in "Wb" or name not in grads:
            continue
        W, b = params[tensor_layer(name) - 1]
        want, got = np.shape(W if name[0] == "W" else b), np.shape(grads[name])
        if got != want:
            return f"gives d{name} of shape {got} where {name} is {want}"
    return None


def same_shapes(bug_set, shapes: dict[str, tuple], case) -> str | None:
    """Does ``bug_set`` in the reference return the wrong ``shapes`` ({tensor: shape}) the target
    returned at ``case``? "returns dW1 of shape (2, 2) and db1 of shape (2,) too", or None."""
    grads, _ = _run(bug_set, case, input_gradient="dX" in shapes)
    if isinstance(grads, Exception):
        return None
    if any(name not in grads or tuple(np.shape(grads[name])) != tuple(shape) for name, shape in shapes.items()):
        return None
    return "returns " + " and ".join(f"d{n} of shape {tuple(s)}" for n, s in shapes.items()) + " too"


def _shapes(result) -> dict[str, tuple] | None:
    """{tensor: shape returned} of a result whose every failure is a gradient of the wrong shape."""
    failing = result.failing if result.crash is None else []
    if not failing or any(c.status != "shape" or not c.shape for c in failing):
        return None
    return {c.tensor: tuple(c.shape) for c in failing}


def explain_crashes(findings: list, results: list) -> None:
    """Give each crash, and each finding of gradients of the wrong shape, the known bug of another
    finding that explains it (see above).

    ``findings`` are diagnosed ``Finding``s (a mismatch explained by a set of bugs carries it as
    ``bug_set`` beside its ``bugs``); ``results`` the ``CaseResult``s checked, where further cases
    that failed the same way are found (the same error on the same line; the same tensors of the
    same wrong shapes). A wrong shape is not raised on a line: it gets the bugs of the layer of its
    tensors, when the set from that layer up returns exactly the shapes the target returned. A
    finding explained this way gets ``bugs`` (``confirmed`` = the cases checked), ``explained`` and
    the bugs' labels, and its message says so.
    """
    explained = [f for f in findings if f.kind not in ("crash", "shape") and getattr(f, "bug_set", None)
                 and f.bugs]
    for f in findings:
        if f.kind not in ("crash", "shape") or f.bugs or not explained:
            continue
        try:
            _explain_one(f, explained, results)
        except Exception:  # like the diagnosis, it may cost the link, never a finding or the run
            continue


def _explain_one(f, explained: list, results: list) -> None:
    """``explain_crashes`` for one crash or shape finding ``f``."""
    if f.kind == "crash":
        where = location(f.result)
        raised = _file_line(where)
        if raised is None:
            return
        same = lambda r: (r.crash is not None and r.crash.get("type") == f.result.crash.get("type")
                          and location(r) == where)
    else:
        shapes = _shapes(f.result)
        if shapes is None:
            return
        same = lambda r: set(_shapes(r) or ()) == set(shapes)  # the same tensors, each of its wrong shape
    cases, seen = [f.result], {_key(f.case)}
    for r in results:
        if len(cases) > MORE_CASES:
            break
        if _key(r.case) not in seen and same(r):
            cases.append(r)
            seen.add(_key(r.case))
    depth = f.case.network.depth
    for other in explained:
        pairs = list(zip(other.bug_set, other.bugs))
        if f.kind == "crash":
            linked = [(bug, b) for bug, b in pairs
                      if b.get("source") and (Path(b["source"]["file"]).name, b["source"]["line"]) == raised]
            linked = linked[:1]
        else:  # the bugs of the lowest layer whose gradients come back in the wrong shape
            layer = min(tensor_layer(t) for t in shapes)
            linked = [(bug, b) for bug, b in pairs if bug.report_layer(depth) == layer]
        if not linked:
            continue
        # the gradients at a layer depend on the bugs of that layer and above only (the loss counted
        # last): the bugs below are left out, whose pieces may fail later in the reference's backward
        lowest = min(bug.report_layer(depth) for bug, _ in linked)
        upstream = [b for b in other.bug_set if b.report_layer(depth) >= lowest]
        if f.kind == "crash":
            how = [reproduces(upstream, linked[0][1]["tensors"], r.case, f.result.crash) for r in cases]
        else:
            how = [same_shapes(upstream, _shapes(r), r.case) for r in cases]
        if not all(how):
            continue
        _explained_by(f, other, linked, how[0], len(cases), lowest)
        break
    else:
        if f.kind == "crash":
            _raised_elsewhere(f, explained, cases)


def _raised_elsewhere(f, explained: list, cases: list) -> None:
    """A crash on a line that holds none of the bugs: a bug upstream that broadcast silently into a
    wrong shape, on which a later line fails. Given the bugs of another finding's set that it needs:
    the set raises the same kind of error in the reference at every case, and without any one of
    those bugs it does not."""
    for other in explained:
        full = [reproduces(other.bug_set, [], r.case, f.result.crash) for r in cases]
        if not all(full) or not all(h.startswith("raises") for h in full):
            continue
        needed = [(bug, entry) for bug, entry in zip(other.bug_set, other.bugs)
                  if not any(reproduces([b for b in other.bug_set if b is not bug], [], r.case, f.result.crash)
                             for r in cases)]
        if not needed:
            continue
        _explained_by(f, other, needed, full[0], len(cases), None)
        return


def _explained_by(f, other, linked, how: str, n: int, lowest: int | None) -> None:
    entries = []
    for bug, entry in linked:
        # stated at the finding's own sizes (the entry's condition, counted at the other example, is not)
        entries.append({**entry, "statement": bug.variant.describe(f.case.network, bug.layer, bug.value),
                        "confirmed": n})
    f.bugs, f.explained = entries, True
    labels = [e["label"] for e in entries]
    f.diagnosis = list(dict.fromkeys([*labels, *[x for x in f.diagnosis if x != "shape"]]))
    listed = " ".join(f"{i}. {e['statement']} [{e['source']['file']}:{e['source']['line']}: {e['source']['code']}]"
                      if e.get("source") else f"{i}. {e['statement']} [line not found]"
                      for i, e in enumerate(entries, start=1))
    what = "a known bug" if len(entries) == 1 else "known bugs"
    sizes = "at sizes it cannot run at" if f.kind == "crash" else "at sizes where its gradients take other shapes"
    other_cases = "that raised it" if f.kind == "crash" else "that returned those tensors in shapes of their own"
    tail = (f" here, and on {n - 1} more case{'s' if n != 2 else ''} {other_cases}" if n > 1
            else f" here (no other case {'raised it' if f.kind == 'crash' else 'returned them so'})")
    if lowest is None:  # raised on another line than the bugs' own (``_raised_elsewhere``)
        one = len(entries) == 1
        f.message = (f"it comes from {what} the {other.kind} finding names too, on {'its' if one else 'their'} own "
                     f"line{'' if one else 's'}: at these sizes {'it runs' if one else 'they run'} silently into "
                     f"shapes a later line cannot take: {listed}; with that finding's bugs in place, crosscheck's "
                     f"reference {how}{tail}, and without {'it' if one else 'any one of them'} it does not.")
        return
    f.message = (f"it is {what} the {other.kind} finding names too, {sizes}: {listed}; with that finding's bugs "
                 f"in place (from layer {lowest} up), crosscheck's reference {how}{tail}.")
