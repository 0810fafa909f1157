"""Shape relations: does a failure need two sizes to be equal?

Wrong-tensor bugs run only when the wrong tensor has the right shape
(``dA1 * (X > 0)`` needs in_features == hidden); elsewhere they crash or
return a wrong shape. For each size near the failing layer that equals other
sizes of the minimal example (or the batch), the target is rerun with that
size one larger: if the mismatch then turns into a crash, a shape error or
agreement, the failure depends on that equality, and the message says so.
Agreement alone may be the data's doing (a unit dead at one size and alive at
the next), so it counts only when it holds on more seeds where the example's
own sizes still fail.
"""
from __future__ import annotations

from dataclasses import replace

from crosscheck.judge.check import check_case
from crosscheck.diagnosis.evidence import Evidence

MAX_PROBES = 3


def size_name(i, depth: int) -> str:
    if i == "batch":
        return "batch"
    if i == 0:
        return "in_features"
    if i == depth:
        return "out_features"
    return f"hidden width {i}"


def _quantities(ev: Evidence) -> dict:
    q = {i: n for i, n in enumerate(ev.network.sizes)}
    q["batch"] = ev.batch
    return q


def _order(ev: Evidence, layer: int) -> list:
    """Sizes to vary, nearest to the failing layer first."""
    first = [layer, layer - 1] if layer else []
    rest = [i for i in range(ev.depth + 1) if i not in first]
    return [k for k in first + [0] + rest + ["batch"] if k == "batch" or 0 <= k <= ev.depth][:ev.depth + 2]


def shape_relations(target, ev: Evidence, probes) -> list[str]:
    """Sentences such as 'it shows as wrong values only while hidden width 1 equals in_features (= 3): ...'."""
    failing = [n for n in ev.failing if n in ev.network.param_names()]
    statuses = {ev.comparisons[n].status for n in ev.failing if n in ev.comparisons}
    ev_kind = "shape" if statuses & {"shape", "missing"} else "mismatch"
    layer = min((int(n[1:]) for n in failing), default=0)
    q = _quantities(ev)
    tried, seen = 0, set()
    for k in _order(ev, layer):
        if k in seen or tried >= MAX_PROBES:
            continue
        seen.add(k)
        equal = [j for j, v in q.items() if j != k and v == q[k]]
        if not equal:
            continue
        if k == "batch":
            case = replace(ev.case, batch=ev.batch + 1) if target.family.batch is None else None
        else:
            case = probes.resized(k)
        if case is None:
            continue
        tried += 1
        result = check_case(target, case)
        if result.agree:
            # agreement may be the data's doing (a dead unit that is alive at the new size): claimed only
            # when, on AGREE_CHECKS more seeds, the example's sizes still fail and the larger size agrees
            if not _agrees_only_when_larger(target, ev, case):
                continue
            outcome = f"the gradients agree (and on {AGREE_CHECKS} more seeds, where these sizes still fail)"
        elif result.kind == ev_kind:
            continue  # the example fails that way already: the size changed nothing
        elif result.kind == "crash":
            outcome = f"the target raises {result.crash['type']}"
        elif result.kind == "shape":
            outcome = "it returns " + ", ".join(
                f"{c.tensor} of shape {tuple(c.shape)} instead of {tuple(c.expected_shape)}"
                for c in result.failing if c.status == "shape")
        else:
            continue
        name = size_name(k, ev.depth)
        if len(equal) == 1:  # one other size: the pair is the condition
            return [f"it needs {name} = {size_name(equal[0], ev.depth)}: here both are {q[k]}, and with {name} "
                    f"one larger (the others unchanged) {outcome}"]
        others = ", ".join(size_name(j, ev.depth) for j in equal)
        return [f"it depends on {name}: here {name} = {q[k]}, as {others} are, "
                f"and with {name} one larger (the others unchanged) {outcome}; which of those equalities it "
                f"needs, this example cannot tell"]
    return []


#: seeds on which an agreement at the larger size is checked again before it is claimed
AGREE_CHECKS = 2


def _agrees_only_when_larger(target, ev: Evidence, larger) -> bool:
    for i in range(1, AGREE_CHECKS + 1):
        seed = ev.case.seed + 11 * i
        if check_case(target, replace(ev.case, seed=seed, regime="normal")).agree:
            return False
        if not check_case(target, replace(larger, seed=seed, regime="normal")).agree:
            return False
    return True
