"""Diagnosis: which layer is wrong and what kind of bug it is.

``diagnose_finding(target, finding) -> (labels, message)`` is called by the fuzz
runner (and the audit) for every finding. It reruns the target on the finding's
minimal example and

1. localizes: the first layer in backward order whose gradients diverge, and
   where the divergence begins when the target returns dA/dZ/dX (``localize``);
2. matches known bugs: the variants of ``crosscheck.diagnosis.variants`` that reproduce
   the target's gradients here and on a few further examples (``matching``);
3. analyzes signatures as the fallback and to add the exposing condition
   (``signature``): a named constant factor, a transpose, a bias reduction, an
   activation's mask or derivative, a wrong input, weights updated before use;
4. probes shape relations: whether the failure needs two sizes to be equal
   (``in_features == hidden``), checked by rerunning with one size changed;
5. explains with a set of bugs (``explain``): the smallest set of known bugs,
   searched layer by layer in backward order, that reproduces every gradient
   here and on three random cases of other shapes, each bug with the line of the
   audited code that computes it (``lines``, from a trace of a confirming case);
6. checks every factor claim on those cases before printing it (``verify``).

Across findings, ``explain_crashes`` (``crashes``) gives a crash the bug another
finding names on the line that raised it, when that finding's bugs reproduce the
crash in the reference.

Labels come from ``vocabulary.DIAGNOSES``; the message is one paragraph naming
the layer, the tensors, the condition and the factor, and every bug of the set
as a numbered list with its line. The finding also gets ``localization``,
``matches``, ``signatures``, ``relations``, ``bugs`` (``bug_dict``) and
``explained`` for reports.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from crosscheck.model.vocabulary import DIAGNOSES, backward_order, tensor_layer
from crosscheck.diagnosis.crashes import explain_crashes
from crosscheck.diagnosis.evidence import Evidence, gather
from crosscheck.diagnosis.explain import Explanation, explain, residual, tensors_of
from crosscheck.diagnosis.lines import locate, trace
from crosscheck.diagnosis.localize import localize
from crosscheck.diagnosis.matching import Match, match
from crosscheck.diagnosis.probes import Probes
from crosscheck.diagnosis.relations import shape_relations
from crosscheck.diagnosis.signature import Signature, Verified, _condition, analyze
from crosscheck.diagnosis.verify import MIN_CASES, checked

__all__ = ["Diagnosis", "diagnose", "diagnose_finding", "explain_crashes", "format_bugs"]


@dataclass
class Diagnosis:
    labels: list[str]
    message: str
    localization: dict | None = None
    matches: list[dict] = field(default_factory=list)
    signatures: list[dict] = field(default_factory=list)
    relations: list[str] = field(default_factory=list)
    bugs: list[dict] = field(default_factory=list)
    explained: bool = False
    #: the explanation's bugs as placed in the reference (``explain.Bug``), beside ``bugs``, their report
    #: entries (``crashes.explain_crashes`` puts them in again)
    bug_set: list = field(default_factory=list)


def _unique(labels) -> list[str]:
    out = []
    for x in labels:
        if x in DIAGNOSES and x not in out:
            out.append(x)
    return out


def _matched_sentence(ev: Evidence, matches: list[Match]) -> str:
    m = matches[0]
    text = f"{m.sentence(ev.network)} (known bug pattern {m.pattern}"
    text += f", reproduced here and on {m.confirmed} further example{'s' if m.confirmed != 1 else ''})" \
        if m.confirmed else ", reproduced at this example)"
    if m.variant.scope == "activation":
        cond = _condition(ev, m.layer, m.pattern, m.variant.key)
        if cond:
            text += f"; {cond}"
    if len(matches) > 1:
        rest = "; ".join(f"pattern {o.pattern} at {'the loss' if o.variant.scope == 'loss' else f'layer {o.layer}'} "
                         f"({o.variant.key})" for o in matches[1:4])
        text += f"; equally consistent here: {rest}"
    return text


def _shown_path(path: str) -> str:
    """A source path as reports show it: relative to the working directory when it is below it."""
    rel = os.path.relpath(path) if os.path.isabs(path) else path
    return path if rel.startswith("..") else rel


def bug_dicts(ev: Evidence, expl: Explanation, target, verification: list[Evidence]) -> list[dict]:
    """Each bug of the explanation as a report entry: label, layer (1-based, the loss as layer depth + 1),
    the tensors it makes wrong, its statement, its source line (or None) and the cases it is confirmed on."""
    if not expl.bugs:
        return []
    confirming = [v for v in verification if v.crash is None]
    sources: dict = {}
    for v in confirming:  # a bug that shows only at some entries (a dead unit) may not show on the first
        try:
            found = locate(expl.bugs, v, trace(target, v))
        except Exception:  # a trace that fails costs the lines, never the finding
            break
        sources.update({i: src for i, src in found.items() if src is not None and i not in sources})
        if len(sources) == len(expl.bugs):
            break
    cases = confirming or [ev]
    out = []
    for i, bug in enumerate(expl.bugs):
        src = sources.get(i)
        statement = bug.variant.describe(ev.network, bug.layer, bug.value)
        same = _indistinguishable(expl, i, ev.network)
        if same:  # another known bug gives the very same gradients (for ReLU, a skipped derivative and a >= 0)
            statement += f" (or, with the very same gradients here and on every case checked: {'; '.join(same)})"
        cond = (_condition(ev, bug.layer, bug.variant.pattern, bug.variant.key)
                if bug.variant.scope == "activation" else "")
        out.append({"label": bug.variant.label, "pattern": bug.variant.pattern, "variant": bug.variant.key,
                    "layer": bug.report_layer(ev.depth),
                    "tensors": backward_order({n for c in cases for n in tensors_of(bug, expl.bugs, c)}),
                    "statement": statement + (f" ({cond})" if cond else ""),
                    "source": _source(src),
                    "confirmed": len([v for v in verification if v.crash is None])})
    return out


def _indistinguishable(expl: Explanation, i: int, network) -> list[str]:
    """What the alternatives of ``expl`` (sets as small, equally consistent) put in place of its bug ``i``
    when they differ from it in that bug alone."""
    bugs, out = expl.bugs, []
    for alt in expl.alternatives:
        if len(alt) != len(bugs):
            continue
        differ = [j for j, (a, b) in enumerate(zip(alt, bugs)) if a.triple != b.triple]
        if differ == [i]:
            text = alt[i].variant.describe(network, alt[i].layer, alt[i].value)
            if text not in out:
                out.append(text)
    return out


def _source(src: dict | None) -> dict | None:
    """A located line as reports keep it: the file as reports show it, and the other layers' lines of
    a bug of every layer (an L2 term) as ``also``."""
    if not src:
        return None
    out = {**src, "file": _shown_path(src["file"])}
    if src.get("also"):
        out["also"] = [{**a, "file": _shown_path(a["file"])} for a in src["also"]]
    return out


def format_bugs(bugs: list[dict]) -> list[str]:
    """The bugs as numbered lines: ``1. statement [file:line: code]`` (terminal, Markdown, pytest), with
    ``; also file:line: code`` for each further line of a bug of every layer."""
    lines = []
    for i, b in enumerate(bugs, start=1):
        src = b.get("source")
        where = f" [{src['file']}:{src['line']}: {src['code']}" if src else " [line not found"
        for a in (src or {}).get("also", []):
            where += f"; also {a['file']}:{a['line']}: {a['code']}"
        lines.append(f"{i}. {b['statement']}{where}]")
    return lines


def _explanation_sentence(expl: Explanation, bugs: list[dict], verification: list[Evidence]) -> str:
    n = len([v for v in verification if v.crash is None])
    listed = " ".join(format_bugs(bugs))
    if expl.explained:
        what = "this known bug explains" if len(bugs) == 1 else f"these {len(bugs)} known bugs explain"
        return (f"{what} every gradient, here and on {n} random case{'s' if n != 1 else ''} of other shapes: "
                f"{listed}")
    l = expl.unexplained_layer
    tensors = ", ".join(expl.unexplained_tensors) or f"W{l}, b{l}"
    head = (f"{'this known bug explains' if len(bugs) == 1 else f'these {len(bugs)} known bugs explain'} "
            f"layers {l + 1} and up, here and on {n} random cases of other shapes: {listed}; ")
    return head + (f"the unexplained difference begins at layer {l} ({tensors}): no known bug, alone or "
                   f"combined, reproduces it")


def _beyond(ev: Evidence, expl: Explanation, verification: list[Evidence]) -> list[Signature]:
    """Signature analysis of what the bugs found leave unexplained, its factors checked on the
    verification cases with the same bugs in place."""
    left = residual(ev, expl.bugs)
    if left is None or not left.failing:
        return []
    shifted = [r for r in (residual(v, expl.bugs) for v in verification if v.crash is None) if r is not None]
    return checked(analyze(left, Verified(left, shifted)), left, shifted)


def diagnose(target, case, *, library: bool = True) -> Diagnosis:
    """Diagnose ``target`` at ``case`` (normally a finding's minimal example).

    ``library=False`` skips known-bug matching and leaves signature analysis alone
    (the mutant report measures both).
    """
    ev = gather(target, case)
    probes = Probes(target, case)
    loc = localize(ev)
    matches = match(ev, probes.others()) if library and (ev.crash or ev.failing) else []
    verification = probes.verification() if ev.crash is None and ev.failing else []
    sigs: list[Signature] = checked(analyze(ev, probes), ev, verification)
    expl, bugs = None, []
    # a set of bugs is claimed only when it is checked on enough cases of other shapes
    if library and len([v for v in verification if v.crash is None]) >= MIN_CASES and ev.crash is None \
            and ev.failing:
        expl = explain(ev, verification)
        bugs = bug_dicts(ev, expl, target, verification)
    relations = shape_relations(target, ev, probes) if ev.crash is None and ev.failing and any(
        ev.comparisons[n].status == "mismatch" for n in ev.failing) else []

    parts = []
    if ev.crash is not None:
        parts.append(f"the target raised {ev.crash}: {ev.crash_message}")
        labels = [m.label for m in matches]
        if not labels and any(w in ev.crash_message.lower() for w in ("shape", "broadcast", "align", "dimension")):
            labels = ["shape"]
        if matches:
            parts.append(f"at these sizes that is what this known bug does: {_matched_sentence(ev, matches)}")
    else:
        nonfinite = [n for n in ev.failing if ev.comparisons[n].status == "nonfinite"]
        labels = ["nonfinite"] if nonfinite else []
        if nonfinite:
            parts.append("; ".join(ev.comparisons[n].message for n in nonfinite))
        if bugs:
            labels += [b["label"] for b in bugs]
            parts.append(_explanation_sentence(expl, bugs, verification))
            if not expl.explained:
                rest = _beyond(ev, expl, verification)
                labels += [x for s in rest for x in (s.label, *s.extra_labels)] or ["other"]
                if rest:
                    parts.append("beyond them, by signature: " + "; ".join(s.sentence for s in rest))
        elif matches:
            labels += [m.label for m in matches]
            parts.append(_matched_sentence(ev, matches))
        elif sigs:
            for s in sigs:
                labels += [s.label, *s.extra_labels]
            head = ""
            if expl is not None and not expl.explained and expl.unexplained_layer is not None:
                l = expl.unexplained_layer
                tensors = ", ".join(expl.unexplained_tensors) or f"W{l}, b{l}"
                n = len([v for v in verification if v.crash is None])
                head = (f"no known bug, alone or combined, reproduces it: here and on {n} random cases of other "
                        f"shapes the difference begins at layer {l} ({tensors}); by signature, ")
            parts.append(head + "; ".join(s.sentence for s in sigs))
            known = [s.pattern for s in sigs if s.pattern]
            if known:
                parts[-1] += f" (looks like taxonomy pattern {known[0]})"
        elif not ev.failing:
            parts.append("the target agrees with torch at this example")
        elif not nonfinite:
            labels.append("other")
            parts.append("the gradients differ from torch in no pattern crosscheck knows")
        if loc is not None:
            parts.append(loc["sentence"])
        parts.extend(relations)
    labels = _unique(labels) or ([] if ev.crash is not None or not ev.failing else ["other"])
    message = "; ".join(p.rstrip(". ") for p in parts if p) + "."
    return Diagnosis(labels, message, loc, [m.to_dict(ev.network) for m in matches],
                     [s.to_dict() for s in sigs], relations, bugs, bool(expl is not None and expl.explained),
                     list(expl.bugs) if expl is not None else [])


def diagnose_finding(target, finding) -> tuple[list[str], str]:
    """(labels, message) for a fuzz or audit finding; richer data is attached to the finding."""
    from crosscheck.judge.trajectory import TrajectoryResult

    if isinstance(finding.result, TrajectoryResult):  # training code: parameters after k steps, not gradients
        finding.localization, finding.matches, finding.signatures, finding.relations = None, [], [], []
        finding.bugs, finding.explained, finding.bug_set = [], False, []
        return ["other"], finding.result.message().splitlines()[0]
    try:
        d = diagnose(target, finding.result.case)
    except Exception as e:  # diagnosis must never lose a finding
        result = finding.result
        fallback = result.message() if hasattr(result, "message") else ""
        finding.localization, finding.matches, finding.signatures, finding.relations = None, [], [], []
        finding.bugs, finding.explained, finding.bug_set = [], False, []
        return (["other"], f"diagnosis failed ({type(e).__name__}: {e}); the comparison says: {fallback}")
    finding.localization, finding.matches = d.localization, d.matches
    finding.signatures, finding.relations = d.signatures, d.relations
    finding.bugs, finding.explained, finding.bug_set = d.bugs, d.explained, d.bug_set
    return d.labels, d.message
