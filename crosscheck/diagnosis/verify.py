"""Verified claims only: a factor read off the minimal example is checked on cases of other shapes.

A minimal example is small on purpose, and at a small example many things
coincide: at 1-1-1 with batch 1 every error is "a constant factor", and 0.5 is
the half-MSE and 1/batch at batch 2 alike. So a claim "these tensors are c times
torch's" (a ``Signature`` with a ``factor``) is printed only when it holds on at
least ``MIN_CASES`` verification cases of other shapes (``Probes.verification``):
on each, the tensors are one constant c' times torch's, and c' is c, or every c'
is the same named product of batch and out_features as c (``factors``), which the
printed claim then names instead of the number ("dW2 is batch times torch's").
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from crosscheck.diagnosis import factors
from crosscheck.diagnosis.evidence import Evidence, agrees

#: A claim needs this many verification cases of other shapes.
MIN_CASES = 3


def ratio(ev: Evidence, names: list[str]) -> float | None:
    """c with the target's ``names`` = c · torch's at ``ev`` (all of them, within the case's budget), else None."""
    cands, refs = [], []
    for n in names:
        cand, ref = ev.candidate.get(n), ev.truth.get(n)
        if cand is None or ref is None or cand.shape != ref.shape or not np.all(np.isfinite(cand)):
            return None
        cands.append(cand)
        refs.append(ref)
    den = sum(float(np.sum(r * r)) for r in refs)
    if den == 0:
        return None
    c = sum(float(np.sum(a * r)) for a, r in zip(cands, refs)) / den
    return c if all(agrees(ev, n, a, c * r, factor=c) for n, a, r in zip(names, cands, refs)) else None


def factor_holds(factor: float, names: list[str], ev: Evidence, verification: list[Evidence]) -> bool:
    """Does "``names`` are ``factor`` times torch's" hold on at least ``MIN_CASES`` cases of other shapes?"""
    return holds_as(factor, names, ev, verification) is not None


def holds_as(factor: float, names: list[str], ev: Evidence, verification: list[Evidence]):
    """How "``names`` are ``factor`` times torch's" holds on at least ``MIN_CASES`` cases of other
    shapes (``follows``, the ratio measured by ``ratio``)."""
    return follows(factor, ev, verification, lambda v: ratio(v, names))


def follows(factor: float, ev, verification: list[Evidence], measure):
    """How a factor read off the example ``ev`` (an ``Evidence`` or a ``Case``) holds on at least
    ``MIN_CASES`` cases of other shapes, ``measure(case) -> factor there or None``: ``True`` as the one
    constant, a ``factors.Factor`` when it changes with the shape as that product of batch and
    out_features does (2 at batch 2 is "batch", 3 at batch 3), None when it does not hold."""
    usable = [v for v in verification if v.crash is None and (v.network.sizes, v.batch) != (ev.network.sizes, ev.batch)]
    if len(usable) < MIN_CASES:
        return None
    named = factors.explain(factor, ev.batch, ev.network.sizes[-1])
    constant = True
    for v in usable:
        c = measure(v)
        if c is None:
            return None
        if abs(c - factor) > 1e-6 * max(abs(factor), 1e-300):
            constant = False
            named = factors.consistent(named, c, v.batch, v.network.sizes[-1])
    if constant:
        return True
    return named[0] if named else None


#: the taxonomy's pattern for a factor that is a product of the sizes (``factors._SIZES`` names)
_SIZE_PATTERNS = {"batch": 15, "1/batch": 15, "out_features": 14, "1/out_features": 14}


def checked(sigs: list, ev: Evidence, verification: list[Evidence]) -> list:
    """``sigs`` with every factor claim that does not hold on the verification cases taken back.

    A refuted claim becomes a plain statement that the tensors differ in no constant ratio,
    with the signature's label ``other`` and no pattern.
    """
    out = []
    for s in sigs:
        at_example = ratio(ev, s.tensors) if s.factor is not None else None
        is_ratio = at_example is not None and abs(at_example - s.factor) <= 1e-6 * max(abs(s.factor), 1e-300)
        # only a claim "these tensors are c times torch's" is a ratio; a fitted learning rate is not
        how = holds_as(s.factor, s.tensors, ev, verification) if is_ratio else True
        names = ", ".join(s.tensors)
        if how is True or (how is not None and s.label not in ("scale", "sign")):
            out.append(s)  # one constant; or a claim that names its product itself ("1/batch times")
            continue
        if how is not None:  # not one constant: a product of the sizes, which the sentence must name
            verb = "is" if len(s.tensors) == 1 else "are"
            out.append(replace(s, label=how.label, pattern=_SIZE_PATTERNS.get(how.sizes_name),
                               extra_labels=[], sentence=(
                                   f"{names} {verb} {how.expression} times torch's (here {s.factor:.4g}): "
                                   f"{how.convention}; the ratio follows {how.expression} on {MIN_CASES} "
                                   f"random cases of other shapes")))
            continue
        out.append(replace(s, label="other", pattern=None, factor=None, extra_labels=[],
                           sentence=f"{names} differ from torch, but by no one factor: the ratio "
                                    f"{s.factor:.4g} of the minimal example does not hold on "
                                    f"{MIN_CASES} random cases of other shapes"))
    return out
