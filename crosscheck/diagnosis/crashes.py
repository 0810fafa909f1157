"""A crash explained by a known bug that another finding of the same target names.

A bug that needs two sizes to agree (the ReLU mask built from X, dW2 built from X) makes a
target wrong where they agree and raise where they do not: two findings, one bug. The
mismatch is explained by a set of known bugs, each with the line it was found on
(``explain``, ``lines``); ``explain_crashes`` gives a crash finding the bug of that set whose
line raised it, when that set of bugs, put into crosscheck's own reference, fails the same
way at the crash's minimal example and at up to ``MORE_CASES`` more cases that raised it:

- it raises an error of the same kind (``evidence.crash_kind``: the exception's type and
  message without numbers and shapes), or
- it makes one of that bug's tensors a shape its parameter cannot take, which code that
  updates the parameter in place, or adds the gradient to it, then raises on.

Nothing is claimed from the line alone: a crash on a line that holds a bug but that the bugs
do not reproduce keeps its own diagnosis.
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


def reproduces(bug_set, tensors: list[str], case, crash: dict) -> str | None:
    """How ``bug_set`` (``explain.Bug``s) in the reference fails at ``case`` as the target did with
    ``crash``: "raises ValueError too", "gives dW2 of shape (1, 2) where W2 is (1, 1)"; None when
    it does not."""
    X, Y, params = case.arrays()
    try:
        grads = combined_gradients([b.triple for b in bug_set], case.network, X, Y, params)
    except Exception as e:
        same = _kind(type(e).__name__, str(e)) == _kind(crash.get("type", ""), crash.get("message", ""))
        return f"raises {type(e).__name__} too" if same else None
    for name in tensors:
        if name[0] not in "Wb" or name not in grads:
            continue
        W, b = params[tensor_layer(name) - 1]
        want, got = np.shape(W if name[0] == "W" else b), np.shape(grads[name])
        if got != want:
            return f"gives d{name} of shape {got} where {name} is {want}"
    return None


def explain_crashes(findings: list, results: list) -> None:
    """Give each crash finding the known bug that raised it, from another finding's set (see above).

    ``findings`` are diagnosed ``Finding``s (a mismatch explained by a set of bugs carries it as
    ``bug_set`` beside its ``bugs``); ``results`` the ``CaseResult``s checked, where further cases
    that raised the same error on the same line are found. A crash finding explained this way
    gets ``bugs`` (that bug, ``confirmed`` = the cases checked), ``explained`` and the bug's label,
    and its message says so.
    """
    explained = [f for f in findings if f.kind != "crash" and getattr(f, "bug_set", None) and f.bugs]
    for f in findings:
        if f.kind != "crash" or f.bugs or not explained:
            continue
        where = location(f.result)
        raised = _file_line(where)
        if raised is None:
            continue
        cases, seen = [f.case], {_key(f.case)}
        for r in results:
            if len(cases) > MORE_CASES:
                break
            if r.crash is not None and r.crash.get("type") == f.result.crash.get("type") and location(r) == where \
                    and _key(r.case) not in seen:
                cases.append(r.case)
                seen.add(_key(r.case))
        for other in explained:
            linked = [(bug, b) for bug, b in zip(other.bug_set, other.bugs)
                      if b.get("source") and (Path(b["source"]["file"]).name, b["source"]["line"]) == raised]
            if not linked:
                continue
            bug, entry = linked[0]
            # its tensors depend on the bugs of its layer and above only (the loss counted last): the
            # bugs below are left out, whose pieces may fail later in the reference's own backward
            depth = f.case.network.depth
            upstream = [b for b in other.bug_set if b.report_layer(depth) >= bug.report_layer(depth)]
            how = [reproduces(upstream, entry["tensors"], c, f.result.crash) for c in cases]
            if not all(how):
                continue
            n = len(cases)
            # stated at the crash's own sizes (the entry's condition, counted at the other example, is not)
            statement = bug.variant.describe(f.case.network, bug.layer, bug.value)
            f.bugs = [{**entry, "statement": statement, "confirmed": n}]
            f.explained = True
            if entry["label"] not in f.diagnosis:
                f.diagnosis = [entry["label"], *[x for x in f.diagnosis if x != "shape"]]
            src = entry["source"]
            tail = (f" here, and on {n - 1} more case{'s' if n != 2 else ''} that raised it" if n > 1
                    else " here (no other case raised it)")
            f.message = (f"it is a known bug the {other.kind} finding names too, at sizes it cannot run at: "
                         f"1. {statement} [{src['file']}:{src['line']}: {src['code']}]; with that "
                         f"finding's bugs in place (from layer {bug.report_layer(depth)} up), crosscheck's "
                         f"reference {how[0]}{tail}.")
            break
