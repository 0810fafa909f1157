"""Explain with a set of bugs: the smallest set of known bugs that reproduces the target.

Real code rarely has one mistake, and each mistake changes what the next one
looks like. So the library's variants (``variants.LIBRARY``) are combined
(``variants.combined_gradients``) and the set is searched layer by layer in
backward order. Layer l's gradients dW_l, db_l (and dA_l, dZ_l when the target
returns them) depend only on

- the loss and the pieces of layers l + 1 .. L, already fixed above, and
- the pieces of layer l: its activation backward, its own dense backward
  (dW_l, db_l), and what layer l + 1 passes down (a typo, stale weights).

At the output layer the loss gradient is one more piece. At each layer the
fewest added bugs that reproduce that layer's tensors are kept (ties are all
kept, a few at most), then the next layer down is searched. A set *reproduces*
a layer when every tensor of it agrees with the set's gradients under the case's
own budget (``evidence.agrees``) on the failing example **and** on the
verification cases: at least three random cases of other shapes
(``Probes.verification``). What holds only at the minimal example is not taken.

When no set reproduces layer l, the search stops there: the bugs found explain
the layers above it and the unexplained difference begins at layer l.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

import numpy as np

from crosscheck.diagnosis.evidence import Evidence, agrees, comparison, crash_kind
from crosscheck.diagnosis.variants import LIBRARY, Variant, combined_gradients

#: Dense bugs that leave dW_l and db_l right and change only what layer l passes down.
DOWNWARD = ("upstream-typo", "stale-weights")
#: At most this many bug sets are carried from one layer to the next.
BEAM = 6
#: At most this many bugs are added at one layer (loss, activation, own dense, passed down).
PER_LAYER = 4


@dataclass(frozen=True)
class Bug:
    """One known bug placed in the network: a variant at a layer (0: the loss), with its parameter."""

    variant: Variant
    layer: int
    value: float | None = None

    @property
    def slot(self) -> tuple:
        return self.variant.slot(self.layer)

    @property
    def triple(self) -> tuple:
        return (self.variant, self.layer, self.value)

    def report_layer(self, depth: int) -> int:
        """1-based layer, the loss counted as the last layer (depth + 1)."""
        return depth + 1 if self.variant.scope in ("loss", "penalty") else self.layer

    def order(self, depth: int) -> tuple:
        """Backward order: the loss first, then the output layer's pieces, down to layer 1."""
        slot = self.slot
        return (-self.report_layer(depth), {"loss": 0, "penalty": 1, "activation": 2, "dense": 3}[slot[0]])


@dataclass
class Explanation:
    bugs: list[Bug]
    explained: bool
    confirmed: int  # verification cases (of other shapes) on which the set reproduces every tensor
    unexplained_layer: int | None = None  # where the unexplained difference begins
    unexplained_tensors: list[str] = field(default_factory=list)
    alternatives: list[list[Bug]] = field(default_factory=list)  # other sets as small, equally consistent


def gradients(bugs, ev: Evidence):
    """The reference's gradients with ``bugs`` in place at this evidence's example, or its ``crash_kind``."""
    try:
        return combined_gradients([b.triple for b in bugs], ev.network, ev.X, ev.Y, ev.params)
    except Exception as e:
        return crash_kind(type(e).__name__, str(e).splitlines()[0] if str(e) else "")


def layer_names(ev: Evidence, l: int) -> list[str]:
    """The tensors the target returned that layer l's pieces decide: dW_l, db_l, and dA_l, dZ_l (dX at l = 1)."""
    names = [f"W{l}", f"b{l}", f"dZ{l}", f"dA{l}"] + (["dX"] if l == 1 else [])
    return [n for n in names if n in ev.candidate]


def reproduces_layer(ev: Evidence, got, names: list[str]) -> bool:
    """Does the gradient set ``got`` (or an exception name) reproduce the target's ``names`` here?

    A tensor the target returned in a shape of its own (not the parameter's) is compared in either
    orientation: column-layout code whose db is not summed returns dZ as (out, batch), where the
    reference with that bug gives (batch, out)."""
    if ev.crash is not None or isinstance(got, str):
        return ev.crash is not None and got == crash_kind(ev.crash, ev.crash_message)
    return all(n in got and _agrees_any_orientation(ev, n, ev.candidate[n], got[n])
               for n in names if ev.candidate[n] is not None)


def _agrees_any_orientation(ev: Evidence, name: str, candidate, reference) -> bool:
    if agrees(ev, name, candidate, reference):
        return True
    c, r = np.asarray(candidate), np.asarray(reference)
    wrong_shape = name in ev.truth and c.shape != ev.truth[name].shape
    return wrong_shape and c.ndim == 2 and c.shape == r.T.shape and agrees(ev, name, c.T, r)


def _options(network, state: tuple, l: int) -> list[list[Bug]]:
    """Groups of bugs that can be added at layer l; at most one of each group is added."""
    taken = {b.slot for b in state}
    depth = network.depth
    groups = []
    if l == depth:  # what acts on every layer (the loss gradient, a penalty's gradient) is chosen at the top
        groups.append([Bug(v, 0) for v in LIBRARY if v.scope == "loss" and v.layers(network)])
        for part in ("W", "b"):  # a bug of the weights' L2 term and one of the biases' combine
            groups.append([Bug(v, 0) for v in LIBRARY if v.scope == "penalty" and v.layers(network)
                           and v.slot(0) == ("penalty", part)])
    groups.append([Bug(v, l) for v in LIBRARY if v.scope == "activation" and l in v.layers(network)])
    own = [Bug(v, l) for v in LIBRARY if v.scope == "dense" and v.key not in DOWNWARD
           and v.key != "cache-overwritten" and l in v.layers(network)]
    own += [Bug(v, l - 1) for v in LIBRARY if v.key == "cache-overwritten" and l - 1 in v.layers(network)]
    for part in ("W", "b"):  # a bug of dW and one of db of the same layer combine
        groups.append([b for b in own if b.slot[2] == part])
    if l < depth:
        groups.append([Bug(v, l + 1) for v in LIBRARY if v.key in DOWNWARD and l + 1 in v.layers(network)])
    return [[b for b in g if b.slot not in taken] for g in groups]


def _combos(groups: list[list[Bug]]):
    """Every choice of at most one bug per group, fewest bugs first."""
    choices = [[None, *g] for g in groups]
    combos = [tuple(b for b in pick if b is not None) for pick in product(*choices)]
    combos = [c for c in combos if len(c) <= PER_LAYER]
    return sorted(combos, key=len)


def _fit(state: tuple, bug: Bug, evidences: list[Evidence], l: int) -> float | None:
    """Least-squares value of ``bug``'s parameter given the other bugs, over layer l's tensors on the
    first evidence that shows it (at a minimal example a dead unit may hide it); ``_consistent``
    then checks the value on every evidence.

    Alone, each parameterized variant is affine in its parameter, so one step from 0 and 1 is
    exact; below a bug that is not linear in its input (a derivative taken of the upstream
    gradient) a few Gauss-Newton steps finish the fit.
    """
    from dataclasses import replace

    def residual_and_slope(ev, value, step):
        g0 = gradients(state + (replace(bug, value=value),), ev)
        g1 = gradients(state + (replace(bug, value=value + step),), ev)
        if isinstance(g0, str) or isinstance(g1, str):
            return None
        num = den = res = 0.0
        for n in layer_names(ev, l):
            cand = ev.candidate.get(n)
            if cand is None or n not in g0 or cand.shape != g0[n].shape or not np.all(np.isfinite(cand)):
                continue
            d = (g1[n] - g0[n]) / step
            r = cand - g0[n]
            num, den, res = num + float(np.sum(r * d)), den + float(np.sum(d * d)), res + float(np.sum(r * r))
        return num, den, res

    for ev in evidences:
        if ev.crash is not None:
            continue
        value, step = 0.0, 1.0
        for _ in range(6):
            got = residual_and_slope(ev, value, step)
            if got is None or got[1] <= 0 or not np.isfinite(got[0] / got[1]):
                break
            delta = got[0] / got[1]
            value += delta
            step = max(1e-6, min(1.0, abs(delta)))
            if abs(delta) <= 1e-12 * max(1.0, abs(value)):
                break
        if got is None or got[1] <= 0:
            continue  # nothing to fit on here (a dead unit): the next evidence
        neutral = 1.0 if bug.variant.param[0] == "factor" else 0.0  # the value at which it is no bug
        return None if abs(value - neutral) <= 1e-6 * max(1.0, abs(value)) else value
    return None


def _consistent(state: tuple, combo: tuple, evidences: list[Evidence], l: int) -> tuple | None:
    """``state + combo`` (with fitted parameters) if it reproduces layer l on every evidence, else None."""
    from dataclasses import replace

    params = [b for b in combo if b.variant.param is not None]
    if len(params) > 1:
        return None
    if params:
        value = _fit(state + tuple(b for b in combo if b is not params[0]), params[0], evidences, l)
        if value is None:
            return None
        combo = tuple(replace(b, value=value) if b is params[0] else b for b in combo)
    full = state + combo
    for ev in evidences:
        if not reproduces_layer(ev, gradients(full, ev), layer_names(ev, l)):
            return None
    return full


def explain(ev: Evidence, verification: list[Evidence]) -> Explanation:
    """The smallest set of known bugs that reproduces the target on ``ev`` and every verification case."""
    evidences = [ev] + [v for v in verification if v.crash is None]
    depth = ev.depth
    beam: list[tuple] = [()]
    for l in range(depth, 0, -1):
        found: list[tuple] = []
        for state in beam:
            best = None
            for combo in _combos(_options(ev.network, state, l)):
                if best is not None and len(combo) > best:
                    break
                full = _consistent(state, combo, evidences, l)
                if full is not None:
                    best = len(combo)
                    found.append(full)
        if not found:
            state = min(beam, key=len)
            return Explanation(_ordered(state, depth), False, 0, l, _unreproduced(state, evidences, l))
        fewest = min(len(s) for s in found)
        beam = [s for s in found if len(s) == fewest][:BEAM]
    best, *rest = beam
    return Explanation(_ordered(best, depth), True, len(evidences) - 1,
                       alternatives=[_ordered(s, depth) for s in rest])


def _unreproduced(state: tuple, evidences: list[Evidence], l: int) -> list[str]:
    """Layer l's tensors that the bugs found above do not reproduce on some evidence."""
    out = []
    for ev in evidences:
        got = gradients(state, ev)
        for n in layer_names(ev, l):
            if n not in out and not reproduces_layer(ev, got, [n]):
                out.append(n)
    from crosscheck.model.vocabulary import backward_order

    return backward_order(out)


def residual(ev: Evidence, bugs: list[Bug]) -> Evidence | None:
    """``ev`` with the reference *with these bugs* as its truth: what is left for signature analysis
    (a stray factor on one tensor, a dropped column) once the known bugs above are accounted for."""
    from dataclasses import replace

    got = gradients(tuple(bugs), ev)
    if isinstance(got, str) or ev.crash is not None:
        return None
    comparisons = {n: comparison(ev, n, ev.candidate.get(n), got[n]) for n in ev.comparisons
                   if n in got and ev.candidate.get(n) is not None}
    if len(comparisons) < len(ev.comparisons):
        return None
    return replace(ev, truth={**ev.truth, **got}, comparisons=comparisons)


def _ordered(bugs, depth: int) -> list[Bug]:
    return sorted(bugs, key=lambda b: b.order(depth))


def tensors_of(bug: Bug, bugs: list[Bug], ev: Evidence) -> list[str]:
    """The returned tensors that ``bug`` changes, given the other bugs of the set (at ``ev``)."""
    with_it, without = gradients(tuple(bugs), ev), gradients(tuple(b for b in bugs if b is not bug), ev)
    if isinstance(with_it, str) or isinstance(without, str):
        return []
    out = []
    for n in ev.candidate:
        if n in with_it and n in without and (with_it[n].shape != without[n].shape
                                              or not np.allclose(with_it[n], without[n], rtol=1e-9, atol=0)):
            out.append(n)
    from crosscheck.model.vocabulary import backward_order

    return backward_order(out)
