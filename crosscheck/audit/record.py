"""The record of one audited target: an entry of ``audit.json``'s ``"targets"``.

Plain dicts from end to end, so a record can be built in the child process
that ran the target (``runner.audit_one``) or, when that child was killed or
died, in the parent from the cases it streamed back; and so it can travel
between processes and be written as JSON as it is::

    {"name", "file", "function", "verdict", "examples", "tensors": [...], "findings": [...], ...}

``verdict`` is ``agree`` exactly when there are no findings; ``disagree`` when
any finding is a mismatch, nonfinite or shape finding; else ``timeout`` when
the time limit hit; else ``crashed`` (only crashes); ``invalid`` when the file
could not be imported or the decorator was misused.
"""
from __future__ import annotations

import math
import re

from crosscheck.model.vocabulary import backward_order, param_names, tensor_layer
from crosscheck.audit import conditions
from crosscheck.model.records import crash_location as user_frame

VERDICTS = ("agree", "disagree", "fragile", "crashed", "timeout", "invalid")
KINDS = ("crash", "shape", "nonfinite", "mismatch", "nondeterministic", "timeout")
#: Labels of findings the diagnosis never saw (read off the cases checked after the target's process ended).
KIND_LABELS = {"shape": ["shape"], "nonfinite": ["nonfinite"], "mismatch": ["other"], "crash": [], "timeout": [],
               "nondeterministic": []}
#: Crash types that say the target's process ended, not that the function raised (``audit.sandbox``).
ENDINGS = ("ProcessExit", "Unreadable")


# -- from the harness's objects to dicts (in the child) ----------------------------------

def result_dict(result, phase: str = "fuzz") -> dict:
    """A ``CaseResult`` as a dict: the case, its kind, the crash or every comparison.

    ``phase`` is ``fuzz`` (drawn or tried while shrinking) or ``sweep`` (a
    plain random draw: the sample conditions are judged on).
    """
    crash = None
    if result.crash is not None:
        crash = {"type": result.crash["type"], "message": str(result.crash["message"]).strip(),
                 "location": user_frame(result.crash.get("traceback", ""))}
    return {"case": result.case.to_dict(), "phase": phase, "kind": result.kind, "undefined": bool(result.undefined),
            "loss": result.loss, "crash": crash, "comparisons": [c.to_dict() for c in result.comparisons]}


def unfinished(kind: str, message: str, case: dict | None, what: str, where: str | None = None) -> dict:
    """A finding for a process that did not finish (timeout, signal, exit)."""
    return {"kind": kind, "tensors": [], "diagnosis": [], "diagnosis_message": "", "example": case,
            "first_seen": None, "shrunk": False, "fatal": True, "comparisons": [],
            "crash": {"type": what, "message": message, "location": where}}


def nondeterministic(example: dict, first, second) -> dict:
    """The finding for a target that answered the same case differently on two calls."""
    from crosscheck.model.returns import kind_of

    what = "" if type(first) is type(second) else f" (first {kind_of(first)}, then {kind_of(second)})"
    return {"kind": "nondeterministic", "tensors": [], "diagnosis": [], "diagnosis_message": "", "example": example,
            "first_seen": None, "shrunk": False, "comparisons": [], "crash": None,
            "detail": f"two calls on the same case returned different values{what}"}


def case_size(case: dict) -> tuple:
    """How big a case is, to pick the smallest example of a failure that was not shrunk."""
    from crosscheck.model.cases import REGIMES

    regime = REGIMES.index(case["regime"]) if case.get("regime") in REGIMES else len(REGIMES)
    return (len(case["sizes"]), sum(case["sizes"]), case["batch"], regime, case.get("seed", 0))


def describe_case(case: dict | None) -> str:
    if not case:
        return "no case (before the first one started)"
    return (f"{'-'.join(map(str, case['sizes']))} [{', '.join(case['activations'])}] "
            f"{case['loss']}/{case['reduction']}, batch {case['batch']}, {case['dtype']}, "
            f"{case['regime']} data, seed {case['seed']}")


# -- records ---------------------------------------------------------------------------

def invalid(error: dict, file: str, spec: dict | None = None) -> dict:
    """The record of a file that could not be imported, or of a misused decorator."""
    from pathlib import Path

    stem = Path(file).stem
    function = (spec or {}).get("function") or error.get("function")
    return {"name": f"{stem}.{function}" if function else stem, "file": file, "function": function,
            "verdict": "invalid", "reason": error["reason"], "error": error, "examples": 0,
            "tensors": [], "findings": []}


def assemble(spec: dict, results: list[dict], findings: list[dict] | None, *, examples_requested: int,
             seconds: float, stopped: str | None = None, fatal: dict | None = None,
             timeout: float | None = None) -> dict:
    """The record of a target from its checked cases and its findings (or, if None, findings read off the cases)."""
    decl = spec["declaration"]
    depth = len(decl["activations"])
    results = unique_results(results)
    findings = [dict(f) for f in (findings if findings is not None else findings_from_results(results))]
    internal = None
    if not findings and not results and fatal is None:  # nothing checked, nothing the target did: ours
        internal = f"no case could be checked ({stopped or 'no reason given'})"
        findings.append(unfinished("crash", internal, None, "no cases"))
    if fatal is not None:
        findings.append(fatal)
    findings = merge_subsets(findings)
    for f in findings:
        judged = not f.get("fatal") and f["kind"] in ("crash", "shape", "nonfinite", "mismatch")
        cond = conditions.conditions(f, results, depth) if judged else conditions.NOTHING
        f["conditions"] = cond["when"]
        f["cases_failing"] = cond["failing"]
        f["tensors_seen"], f["cases_showing"] = tensors_seen(f, results)
        f["message"] = describe(f, results, cond)
    findings.sort(key=lambda f: (KINDS.index(f["kind"]), f["tensors"]))
    return {"name": spec["name"], "file": spec["file"], "function": spec["function"], "line": spec.get("line"),
            "verdict": verdict(findings), "examples": distinct_cases(results), "examples_requested": examples_requested,
            "seconds": round(seconds, 3), "declaration": decl, "tensors": tensor_table(results, depth),
            "findings": findings, "stopped": stopped, **({"internal_error": internal} if internal else {})}


def unique_results(results: list[dict]) -> list[dict]:
    """One result per distinct case (shrinking may try a case twice); a failing one wins."""
    by_case: dict[str, dict] = {}
    swept: set[str] = set()
    for r in results:
        key = conditions.case_id(r["case"])
        if r.get("phase") == "sweep":
            swept.add(key)
        if key not in by_case or (r.get("kind") and not by_case[key].get("kind")):
            by_case[key] = r
    # a case the sweep drew stays in the random sample even if shrinking tried it too
    return [{**r, "phase": "sweep"} if k in swept else r for k, r in by_case.items()]


def distinct_cases(results: list[dict]) -> int:
    """How many different cases were checked (shrinking may try one case more than once)."""
    return len({conditions.case_id(r["case"]) for r in results})


def merge_subsets(findings: list[dict]) -> list[dict]:
    """Fold a finding into another of the same kind whose tensors include all of its own.

    Hypothesis keeps failures with different sets of failing tensors apart;
    when one set holds the other (W2, b2 and W1, b1, W2, b2) it is mostly one
    bug seen in cases where some tensors happen to agree. The smaller one
    stays on as a note (``also``) of the larger.
    """
    out = []
    for f in findings:
        if f["kind"] in ("mismatch", "nonfinite", "shape") and f["tensors"]:
            wider = [g for g in findings if g is not f and g["kind"] == f["kind"]
                     and set(f["tensors"]) < set(g["tensors"])]
            if wider:
                host = max(wider, key=lambda g: len(g["tensors"]))
                host.setdefault("also", []).append({"tensors": f["tensors"], "example": f.get("example"),
                                                    "shrunk": f.get("shrunk", False)})
                continue
        out.append(f)
    return out


def verdict(findings: list[dict]) -> str:
    """``model.records.verdict`` of the findings' kinds (the one verdict rule); a nonfinite finding the
    audit found fragile (``judge.fragility``) counts as ``fragile``."""
    from crosscheck.model.records import verdict as of_kinds

    return of_kinds("fragile" if f.get("fragile") else f["kind"] for f in findings)


def tensor_table(results: list[dict], depth: int) -> list[dict]:
    """One row per tensor over every case checked: did it ever fail, and how badly at worst."""
    names = param_names(depth)
    extra = {c["tensor"] for r in results for c in r.get("comparisons", [])} - set(names)
    names += list(reversed(backward_order(extra)))
    rows = []
    for name in names:
        cmps = [c for r in results for c in r.get("comparisons", []) if c["tensor"] == name]
        failing = [c for c in cmps if not c["agree"]]
        # agreeing only because a convention that is not a bug was accepted (torch's BCE clamp, a ReLU
        # subgradient at 0): such differences are not errors, so they stay out of the worst errors
        noted = [c for c in cmps if c["agree"] and c.get("conventions", 0)]
        measured = [c for c in cmps if not (c["agree"] and c.get("conventions", 0))]
        statuses: dict[str, int] = {}
        for c in failing:
            statuses[c["status"]] = statuses.get(c["status"], 0) + 1
        size = sum(c["size"] for c in cmps)
        worst = max(cmps, key=lambda c: (not c["agree"], _num(c["max_rel_err"])), default=None)
        rows.append({
            "name": name,
            "agree": (not failing) if cmps else None,  # None: never compared (every case crashed)
            "max_abs_err": max((_num(c["max_abs_err"]) for c in measured), default=0.0),
            "max_rel_err": max((_num(c["max_rel_err"]) for c in measured), default=0.0),
            "ratio": max((r for r in (_num(c.get("ratio")) for c in measured) if r == r), default=0.0),  # NaN out
            "mismatch_fraction": sum(c["mismatches"] for c in cmps) / size if size else 0.0,
            "cases": len(cmps), "failing_cases": len(failing), "statuses": statuses,
            "convention_cases": len(noted), "convention_note": _convention_note(noted),
            "worst": worst["message"] if worst is not None and failing else "",
        })
    return rows


def _convention_note(noted: list[dict]) -> str:
    """What was accepted as a convention, from the first note (without its per-case element count)."""
    for c in noted:
        note = c.get("note") or ""
        if note:
            note = re.sub(r"^\d+ element\(s\) accepted as ", "", note.split(";")[0])
            return re.sub(r" \(\d+ [^)]*\)$", "", note).strip()  # the per-case count
    return ""


def _num(x) -> float:
    return float(x) if isinstance(x, (int, float)) else float("inf")


def finding_key(result: dict) -> tuple:
    """``model.records.finding_key`` on a result dict: a crash's type and line, or the kind and the
    layer where the divergence begins."""
    if result.get("crash") is not None:
        return ("crash", result["crash"]["type"], result["crash"].get("location"))
    failing = [c["tensor"] for c in result["comparisons"] if not c["agree"]]
    params = [t for t in failing if t[0] in "Wb"] or failing
    return (result["kind"], f"layer{max(tensor_layer(t) for t in params)}")


def findings_from_results(results: list[dict]) -> list[dict]:
    """Findings read off streamed cases (no shrinking): one per distinct failure, its smallest case."""
    groups: dict[tuple, list[tuple[int, dict]]] = {}
    for i, r in enumerate(results, start=1):
        if r.get("crash") is not None or any(not c["agree"] for c in r.get("comparisons", [])):
            groups.setdefault(finding_key(r), []).append((i, r))
    out = []
    for key, group in groups.items():
        first = min(i for i, _ in group)
        _, r = min(group, key=lambda t: case_size(t[1]["case"]))
        kind = "crash" if key[0] == "crash" else r["kind"]
        failing = [c["tensor"] for c in r["comparisons"] if not c["agree"]]
        out.append({"kind": kind, "tensors": [] if kind == "crash" else ([t for t in failing if t[0] in "Wb"]
                                                                         or failing),
                    "diagnosis": list(KIND_LABELS.get(kind, [])), "diagnosis_message": "", "example": r["case"],
                    "first_seen": first, "shrunk": False, "crash": r.get("crash"),
                    "comparisons": [c for c in r["comparisons"] if not c["agree"]]})
    return out


# -- messages --------------------------------------------------------------------------

def _names(tensors: list[str]) -> str:
    if len(tensors) <= 1:
        return "".join(tensors)
    return ", ".join(tensors[:-1]) + " and " + tensors[-1]


def describe(f: dict, results: list[dict], cond: dict) -> str:
    """The sentence a person reads: which tensors, under which conditions, the worst difference."""
    when = conditions.phrase(cond)
    k, n, other = cond["failing"], cond["sample"], cond["other"]
    count = ""
    if n and k:
        if k == n:
            count = f" (in every one of the {n} {cond['sample_name']})"
        elif cond.get("masked") and cond.get("outside"):
            count = (f" (in {k} of {n} {cond['sample_name']}; the {cond['outside']} outside that "
                     f"failed in another way)")
        elif other:
            count = f" (in {k} of {n} {cond['sample_name']}; {other} others failed in another way)"
        else:
            count = f" (in {k} of {n} {cond['sample_name']})"
    crash = f.get("crash") or {}
    at = f" at {crash['location']}" if crash.get("location") else ""
    example = f" Minimal example: {describe_case(f['example'])}." if f.get("example") and not f.get("fatal") else ""
    if not f.get("shrunk") and example:
        example = example.replace("Minimal example", "Smallest failing case seen (not shrunk)")
    if f.get("fatal"):
        running = f" while running {describe_case(f['example'])}" if f.get("example") else ""
        return f"{crash['message'][0].upper()}{crash['message'][1:]}{running}{at}."
    if f["kind"] == "nondeterministic":
        return (f"Not deterministic: {f['detail']}; a target must give the same gradients for the same arrays "
                f"(look for global state, an unseeded generator or arrays changed in place).{example}")
    if f["kind"] == "crash" and (crash["type"] in ENDINGS or crash["type"].startswith("SIG")):
        message = crash["message"]
        head = f"{message[0].upper()}{message[1:]}{at}{when}{count}."
    elif f["kind"] == "crash":
        raised = (f"called sys.exit({crash['message']})" if crash["type"] == "SystemExit"
                  else f"raised {crash['type']}: {crash['message']}")
        head = f"The target {raised}{at}{when}{count}."
    else:
        tensors = sorted(f["tensors"], key=lambda t: (tensor_layer(t), t))  # W1, b1, W2, ...
        plural = len(tensors) != 1
        worst = _worst(f, results)
        returned = _whole_return(f)
        if returned:
            head = f"The target {returned}{when}{count}."
        elif f["kind"] == "shape":
            # the tensors of the wrong shape (or missing) by name; the others of the finding disagree in value
            statuses = {c["tensor"]: c.get("status") for c in f.get("comparisons") or []}
            bad = [t for t in tensors if statuses.get(t) in ("shape", "missing")] or tensors
            rest = [t for t in tensors if t not in bad]
            head = (f"{_names(bad)} {'have' if len(bad) != 1 else 'has'} the wrong shape{when}{count}"
                    + (f": {worst['message']}" if worst and worst["tensor"] in bad else "")
                    + (f"; {_names(rest)} {'disagree' if len(rest) != 1 else 'disagrees'} in value too"
                       if rest else "") + ".")
        elif f["kind"] == "nonfinite":
            head = (f"{_names(tensors)} {'contain' if plural else 'contains'} NaN or inf where torch is finite"
                    f"{when}{count}" + (f": {worst['message']}" if worst else "") + ".")
        else:
            head = f"{_names(tensors)} {'disagree' if plural else 'disagrees'} with torch{when}{count}."
            if worst and example:
                # the minimal example's own figures: the ones its comparisons below show
                example = example[:-1] + (f"; there the worst difference is {worst['max_abs_err']:.3g} in "
                                          f"{worst['tensor']} (allowed {worst['allowed_abs_err']:.3g}, "
                                          f"error/allowed {_fmt(_ratio(worst))}).")
    head += _others_too(f)
    for also in f.get("also", [])[:2]:
        example += (f" Some cases show it in {_names(sorted(also['tensors'], key=lambda t: (tensor_layer(t), t)))}"
                    f" only (for example {describe_case(also['example'])}).")
    fragile = f" {f['fragile'][0].upper()}{f['fragile'][1:]}." if f.get("fragile") else ""
    return head + fragile + example + _diagnosis_sentence(f, head)


def _whole_return(f: dict) -> str:
    """"returned None, expected ..." when the whole return was not a gradient structure (``ReturnError``:
    every tensor carries the reader's one sentence), else ""."""
    notes = {c.get("note") or "" for c in f.get("comparisons") or []}
    if f["kind"] == "shape" and len(notes) == 1:
        note = notes.pop()
        if note.startswith("returned "):
            return note
    return ""


def tensors_seen(f: dict, results: list[dict]) -> tuple[dict[str, int], int]:
    """Every tensor that fails in the cases showing ``f``, with in how many of them, and how many show it.

    The minimal example may show fewer tensors than the bug touches (a dead
    unit makes W1 agree there while it is wrong nearly everywhere else).
    """
    counts: dict[str, int] = {}
    showing = 0
    if f["kind"] in ("crash", "timeout"):
        return counts, showing
    for r in results:
        if conditions.shows(f, r):
            showing += 1
            for c in r.get("comparisons", []):
                if not c["agree"]:
                    counts[c["tensor"]] = counts.get(c["tensor"], 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (tensor_layer(kv[0]), kv[0]))), showing


def _others_too(f: dict) -> str:
    """" W1 and b1 fail too, in 230 of the 240 cases that show it." for tensors the minimal example leaves out."""
    extra = {t: n for t, n in (f.get("tensors_seen") or {}).items() if t not in f["tensors"]}
    if not extra:
        return ""
    verb = "fail" if len(extra) > 1 else "fails"
    return (f" {_names(list(extra))} {verb} too, in {max(extra.values())} of the {f['cases_showing']} cases "
            f"that show it.")


def _diagnosis_sentence(f: dict, head: str) -> str:
    """The diagnosis's own sentence, unless it only restates what ``head`` already says."""
    extra = (f.get("diagnosis_message") or "").strip()
    if not extra:
        return ""
    if f["kind"] != "mismatch" and list(f.get("diagnosis") or []) == KIND_LABELS[f["kind"]]:
        return ""  # a diagnosis that only restates the kind: the sentence above says more
    if extra.lower().rstrip(".")[:60] in head.lower():
        return ""
    if not re.match(r"d?[WbZAX]\d*\b", extra):  # "db2 is ..." keeps its lower-case tensor name
        extra = extra[0].upper() + extra[1:]
    return " " + extra + ("" if extra.endswith(".") else ".")


def _fmt(x) -> str:
    return f"{x:.3g}" if isinstance(x, (int, float)) and math.isfinite(x) else str(x)


def _worst(f: dict, results: list[dict]) -> dict | None:
    """The worst comparison of the finding's tensors at its minimal example (by error / allowed): the one
    "worst" of a finding, which its example's comparisons show too. A finding that carries no comparisons
    of its example falls back to the worst among the cases that show it."""
    cmps = [c for c in f.get("comparisons") or [] if c["tensor"] in f["tensors"] and not c.get("agree", False)]
    if not cmps:
        cmps = [c for r in results if conditions.shows(f, r)
                for c in r.get("comparisons", []) if c["tensor"] in f["tensors"] and not c["agree"]]
    if not cmps:
        return None
    return max(cmps, key=lambda c: (_num(_ratio(c)), _num(c["max_abs_err"])))


def _ratio(c: dict) -> float:
    """A comparison's error / allowed (``model.records.error_ratio`` for a record written without it)."""
    from crosscheck.model.records import error_ratio

    r = c.get("ratio")
    if isinstance(r, (int, float)) and r == r:
        return r
    return error_ratio(_num(c["max_abs_err"]), _num(c["allowed_abs_err"]))
