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
   (``in_features == hidden``), checked by rerunning with one size changed.

Labels come from ``vocabulary.DIAGNOSES``; the message is one paragraph naming
the layer, the tensors, the condition and the factor. The finding also gets
``localization``, ``matches``, ``signatures`` and ``relations`` for reports.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from crosscheck.model.vocabulary import DIAGNOSES, tensor_layer
from crosscheck.diagnosis.evidence import Evidence, gather
from crosscheck.diagnosis.localize import localize
from crosscheck.diagnosis.matching import Match, match
from crosscheck.diagnosis.probes import Probes
from crosscheck.diagnosis.relations import shape_relations
from crosscheck.diagnosis.signature import Signature, _condition, analyze

__all__ = ["Diagnosis", "diagnose", "diagnose_finding"]


@dataclass
class Diagnosis:
    labels: list[str]
    message: str
    localization: dict | None = None
    matches: list[dict] = field(default_factory=list)
    signatures: list[dict] = field(default_factory=list)
    relations: list[str] = field(default_factory=list)


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
        cond = _condition(ev, m.layer, m.pattern)
        if cond:
            text += f"; {cond}"
    if len(matches) > 1:
        rest = "; ".join(f"pattern {o.pattern} at {'the loss' if o.variant.scope == 'loss' else f'layer {o.layer}'} "
                         f"({o.variant.key})" for o in matches[1:4])
        text += f"; equally consistent here: {rest}"
    return text


def diagnose(target, case, *, library: bool = True) -> Diagnosis:
    """Diagnose ``target`` at ``case`` (normally a finding's minimal example).

    ``library=False`` skips known-bug matching and leaves signature analysis alone
    (the mutant report measures both).
    """
    ev = gather(target, case)
    probes = Probes(target, case)
    loc = localize(ev)
    matches = match(ev, probes.others()) if library and (ev.crash or ev.failing) else []
    sigs: list[Signature] = analyze(ev, probes)
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
        if matches:
            labels += [m.label for m in matches]
            parts.append(_matched_sentence(ev, matches))
        elif sigs:
            for s in sigs:
                labels += [s.label, *s.extra_labels]
            parts.append("; ".join(s.sentence for s in sigs))
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
                     [s.to_dict() for s in sigs], relations)


def diagnose_finding(target, finding) -> tuple[list[str], str]:
    """(labels, message) for a fuzz or audit finding; richer data is attached to the finding."""
    from crosscheck.judge.trajectory import TrajectoryResult

    if isinstance(finding.result, TrajectoryResult):  # training code: parameters after k steps, not gradients
        finding.localization, finding.matches, finding.signatures, finding.relations = None, [], [], []
        return ["other"], finding.result.message().splitlines()[0]
    try:
        d = diagnose(target, finding.result.case)
    except Exception as e:  # diagnosis must never lose a finding
        result = finding.result
        fallback = result.message() if hasattr(result, "message") else ""
        finding.localization, finding.matches, finding.signatures, finding.relations = None, [], [], []
        return (["other"], f"diagnosis failed ({type(e).__name__}: {e}); the comparison says: {fallback}")
    finding.localization, finding.matches = d.localization, d.matches
    finding.signatures, finding.relations = d.signatures, d.relations
    return d.labels, d.message
