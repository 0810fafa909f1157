"""Verified claims only: a factor read off the minimal example is checked on cases of other shapes.

A minimal example is small on purpose, and at a small example many things
coincide: at 1-1-1 with batch 1 every error is "a constant factor", and 0.5 is
the half-MSE and 1/batch at batch 2 alike. So a claim "these tensors are c times
torch's" (a ``Signature`` with a ``factor``) is printed only when it holds on at
least ``MIN_CASES`` verification cases of other shapes (``Probes.verification``):
on each, the tensors are one constant c' times torch's, and c' is c, or every c'
is the same named product of batch and out_features as c (``factors``).
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
    usable = [v for v in verification if v.crash is None and (v.network.sizes, v.batch) != (ev.network.sizes, ev.batch)]
    if len(usable) < MIN_CASES:
        return False
    named = factors.explain(factor, ev.batch, ev.network.sizes[-1])
    constant = True
    for v in usable:
        c = ratio(v, names)
        if c is None:
            return False
        if abs(c - factor) > 1e-6 * max(abs(factor), 1e-300):
            constant = False
            named = factors.consistent(named, c, v.batch, v.network.sizes[-1])
    return constant or bool(named)


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
        if not is_ratio or factor_holds(s.factor, s.tensors, ev, verification):
            out.append(s)
            continue
        names = ", ".join(s.tensors)
        out.append(replace(s, label="other", pattern=None, factor=None, extra_labels=[],
                           sentence=f"{names} differ from torch, but by no one factor: the ratio "
                                    f"{s.factor:.4g} of the minimal example does not hold on "
                                    f"{MIN_CASES} random cases of other shapes"))
    return out
