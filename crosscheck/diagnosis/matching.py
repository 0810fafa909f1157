"""Known-bug matching: which variants of the library reproduce the audited gradients.

At the failing example every variant is evaluated at every layer it applies to;
a variant *reproduces* the target when each tensor the target returned agrees
with the variant's under the one comparison (``crosscheck.numerics.compare``, the
variant's gradient taking the place of the truth), or when both raise the same
exception. Variants with a parameter (stray factor, learning rate) have it
fitted first: they are affine in it. A match is then confirmed on a few
further examples (another seed, batch + 1, out_features + 1 where the target's
family allows), which tells apart bugs that coincide at one size (half-MSE and
1/batch at batch 2).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from crosscheck.diagnosis.variants import LIBRARY, Variant
from crosscheck.diagnosis.evidence import Evidence, agrees, crash_kind


@dataclass
class Match:
    variant: Variant
    layer: int
    value: float | None = None  # fitted parameter (stray factor, learning rate)
    confirmed: int = 0  # further examples on which it reproduced too

    @property
    def pattern(self) -> int:
        return self.variant.pattern

    @property
    def label(self) -> str:
        return self.variant.label

    def sentence(self, network) -> str:
        return self.variant.describe(network, self.layer, self.value)

    def to_dict(self, network) -> dict:
        return {"pattern": self.pattern, "variant": self.variant.key, "layer": self.layer, "label": self.label,
                "value": self.value, "confirmed_on": self.confirmed, "sentence": self.sentence(network)}


def _evaluate(variant: Variant, ev: Evidence, layer: int, value=None):
    """The variant's gradients at this evidence's example, or the kind of crash it raises (``crash_kind``)."""
    try:
        return variant.gradients(ev.network, ev.X, ev.Y, ev.params, layer, value)
    except Exception as e:
        return crash_kind(type(e).__name__, str(e).splitlines()[0] if str(e) else "")


def reproduces(ev: Evidence, got) -> bool:
    """Does a variant's result ``got`` (gradients or an exception name) reproduce the target's?"""
    if ev.crash is not None or isinstance(got, str):
        return ev.crash is not None and got == crash_kind(ev.crash, ev.crash_message)
    names = [n for n in ev.candidate if n in got]
    if not names:
        return False
    return all(agrees(ev, n, ev.candidate[n], got[n]) for n in names)


def _fit(variant: Variant, ev: Evidence, layer: int) -> float | None:
    """Least-squares value of the variant's parameter, using that the variant is affine in it."""
    g0, g1 = _evaluate(variant, ev, layer, 0.0), _evaluate(variant, ev, layer, 1.0)
    if isinstance(g0, str) or isinstance(g1, str) or ev.crash is not None:
        return None
    num = den = 0.0
    for n, cand in ev.candidate.items():
        if cand is None or n not in g0 or cand.shape != g0[n].shape or not np.all(np.isfinite(cand)):
            continue
        d = g1[n] - g0[n]
        num += float(np.sum((cand - g0[n]) * d))
        den += float(np.sum(d * d))
    return num / den if den > 0 else None


def find(ev: Evidence) -> list[Match]:
    """Every (variant, layer) that reproduces the target at this example, in library order."""
    found = []
    for variant in LIBRARY:
        for layer in variant.layers(ev.network):
            value = None
            if variant.param is not None:
                value = _fit(variant, ev, layer) if ev.crash is None else variant.param[1]
                if value is None:
                    continue
            if reproduces(ev, _evaluate(variant, ev, layer, value)):
                found.append(Match(variant, layer, value))
    return found


def confirm(matches: list[Match], others: list[Evidence]) -> list[Match]:
    """Keep the matches that also reproduce the target on every further example."""
    kept = []
    for m in matches:
        ok = True
        for ev in others:
            if m.layer not in m.variant.layers(ev.network) and m.variant.scope != "loss":
                ok = False
                break
            if not reproduces(ev, _evaluate(m.variant, ev, m.layer, m.value)):
                ok = False
                break
            m.confirmed += 1
        if ok:
            kept.append(m)
    return kept


def match(ev: Evidence, others: list[Evidence]) -> list[Match]:
    """Known bugs that reproduce the target here and on ``others``; at most a few, most specific first."""
    return confirm(find(ev), others)
