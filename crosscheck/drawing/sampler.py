"""Seeded case lists for campaigns, and the Hypothesis strategy that shrinks them.

Drawing a case through Hypothesis costs a few milliseconds, several times the
check itself, so a campaign draws its case list with a seeded ``random.Random``
instead and calls Hypothesis only to shrink a failure. Both go through one
function, ``draw_case(pick, family)``, which makes every decision as
``pick(n) -> i`` with ``0 <= i < n`` and index 0 the simplest option (the
smallest width, batch or depth, the first activation, loss, dtype and data
regime, seed 0):

- ``seeded_case(seed, index, family)`` answers the picks from
  ``random.Random`` seeded by (seed, index): case ``index`` of a campaign is a
  pure function of the two, whichever process draws it and in whatever order;
- ``shrinking_cases(family)`` answers them with ``st.integers(0, n - 1)``, so
  Hypothesis shrinks towards index 0 along the same decisions;
- ``seeded_choices(seed, index, family)`` returns the picks a seeded case made:
  handed to Hypothesis as a saved example, they make it start from that exact
  case and shrink it (see ``campaign.shrink``); a shrunk case carries its own
  picks in ``Case.extra["picks"]``, which the example database keeps and
  ``replayed_case`` turns back into the case.

The distribution follows ``strategies.networks`` and ``strategies.cases``:
widths repeat the one before half the time (equal in/hidden widths let
shape-compatible wrong-tensor bugs run at all), and like Hypothesis, picks hit
the ends of their range more often than a uniform draw would (width 1, batch 1,
the simplest regime).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from crosscheck.model.cases import REGIMES, Case, Network
from crosscheck.drawing.options import loss_options
from crosscheck.model.vocabulary import CLASSES, DTYPES, ELEMENTWISE, LOSSES, OUTPUT_ACTIVATIONS, REDUCTIONS

#: ``pick(n)`` returns an int in [0, n); 0 is the simplest choice.
Pick = Callable[[int], int]

SEED_RANGE = 2**32


@dataclass(frozen=True)
class Bounds:
    """How large drawn cases get (the defaults of ``strategies.for_target``)."""

    max_depth: int = 5
    max_width: int = 32
    max_batch: int = 32

    def __post_init__(self):
        for name in ("max_depth", "max_width", "max_batch"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")


def draw_case(pick: Pick, family=None, bounds: Bounds = Bounds()) -> Case:
    """One case of ``family`` (a ``target.Family``; ``None`` draws freely) from the decisions of ``pick``.

    A decision with a single option is not asked for, so the seeded and the
    Hypothesis picks line up one to one.
    """
    def choose(options):
        options = tuple(options)
        return options[pick(len(options))] if len(options) > 1 else options[0]

    def integer(lo: int, hi: int) -> int:
        return lo + (pick(hi - lo + 1) if hi > lo else 0)

    fixed_acts = getattr(family, "activations", None)
    losses = (family.loss,) if getattr(family, "loss", None) else LOSSES
    if fixed_acts is not None:
        losses = tuple(l for l in losses if fixed_acts[-1] in OUTPUT_ACTIVATIONS[l]) or losses
    loss = choose(losses)
    sizes = getattr(family, "sizes", None)
    if fixed_acts is not None:
        acts = tuple(fixed_acts)
    else:
        depth = len(sizes) - 1 if sizes is not None else integer(1, bounds.max_depth)
        hidden = tuple(choose(ELEMENTWISE) for _ in range(depth - 1))
        acts = (*hidden, choose(OUTPUT_ACTIVATIONS[loss]))
    widths: list[int] = []
    for i in range(len(acts) + 1):
        # a softmax output has 2 to 10 classes
        lo, hi = CLASSES if loss == "cross_entropy" and i == len(acts) else (1, bounds.max_width)
        if sizes is not None and sizes[i] is not None:
            widths.append(int(sizes[i]))
        elif widths and choose((False, True)):
            widths.append(min(max(widths[-1], lo), hi))
        else:
            widths.append(integer(lo, hi))
    reduction = choose((family.reduction,) if getattr(family, "reduction", None) else REDUCTIONS)
    network = Network(tuple(widths), acts, loss, reduction, **loss_options(choose, family, acts))
    fixed_batch = getattr(family, "batch", None)
    batch = fixed_batch if fixed_batch is not None else integer(1, bounds.max_batch)
    dtype = choose((family.dtype,) if getattr(family, "dtype", None) else DTYPES)
    regime = choose(REGIMES)
    seed = pick(SEED_RANGE)
    return Case(network, batch, dtype, regime, seed)


class _SeededPicks:
    """Picks from ``random.Random``; ends of each range drawn more often, like Hypothesis."""

    def __init__(self, seed: int, index: int):
        self.rng = random.Random(f"crosscheck:{seed}:{index}")
        self.choices: list[int] = []

    def __call__(self, n: int) -> int:
        u = self.rng.random() if n <= 4096 else 1.0  # seeds and other wide ranges: uniform
        if u < 0.125:
            i = 0
        elif u < 0.1875:
            i = n - 1
        else:
            i = self.rng.randrange(n)
        self.choices.append(i)
        return i


def seeded_case(seed: int, index: int, family=None, bounds: Bounds = Bounds()) -> Case:
    """Case ``index`` of the campaign with ``seed``: a pure function of the two."""
    return draw_case(_SeededPicks(seed, index), family, bounds)


def seeded_choices(seed: int, index: int, family=None, bounds: Bounds = Bounds()) -> tuple[Case, list[int]]:
    """Case ``index`` and the list of picks that drew it (what Hypothesis replays to shrink it)."""
    picks = _SeededPicks(seed, index)
    case = draw_case(picks, family, bounds)
    return case, picks.choices


def shrinking_cases(family=None, bounds: Bounds = Bounds()):
    """The Hypothesis strategy over the same decisions: each pick is ``st.integers(0, n - 1)``."""
    from hypothesis import strategies as st

    @st.composite
    def cases(draw):
        picks: list[int] = []

        def pick(n: int) -> int:
            picks.append(draw(st.integers(0, n - 1)))
            return picks[-1]

        case = draw_case(pick, family, bounds)
        case.extra["picks"] = picks  # saved with a finding, replayed first next time
        return case

    return cases()


def replayed_case(picks: list[int], family=None, bounds: Bounds = Bounds()) -> Case | None:
    """The case a saved pick sequence draws, or ``None`` when it no longer fits (the family changed)."""
    it = iter(picks)

    def pick(n: int) -> int:
        i = next(it)
        if not isinstance(i, int) or not 0 <= i < n:
            raise ValueError(i)
        return i

    try:
        return draw_case(pick, family, bounds)
    except (StopIteration, ValueError):
        return None
