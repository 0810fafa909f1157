"""Diagnosis: which layer is wrong and what kind of bug it looks like.

``diagnose_finding(target, finding)`` returns (labels, message): labels from
``vocabulary.DIAGNOSES``, and a sentence a person can act on.
"""
from __future__ import annotations

from ..vocabulary import backward_order, tensor_layer


def diagnose_finding(target, finding) -> tuple[list[str], str]:
    result = finding.result
    if result.kind == "crash":
        return [], f"the target raised {result.crash['type']}: {result.crash['message']}"
    if result.kind == "shape":
        return ["shape"], "; ".join(c.message for c in result.failing)
    if result.kind == "nonfinite":
        return ["nonfinite"], "; ".join(c.message for c in result.failing if c.status == "nonfinite")
    failing = backward_order([c.tensor for c in result.failing])
    first = failing[0]
    worst = max(result.failing, key=lambda c: c.max_rel_err)
    where = f"layer {tensor_layer(first)}" if tensor_layer(first) else "the input gradient"
    return ["other"], (f"gradients diverge from torch first at {where} ({first}) in backward order; "
                       f"failing: {', '.join(failing)}; worst {worst.message}")
