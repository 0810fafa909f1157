"""One case distribution, answered from a seeded generator or from Hypothesis.

Every drawn case, whether for a ``crosscheck fuzz`` campaign or for the audit,
the pytest plugin and the mutant run, comes from one function,
``draw_case(pick, space)``: it makes every decision as ``pick(n) -> i`` with
``0 <= i < n`` and index 0 the simplest option (the smallest depth, width or
batch, the first activation, loss, dtype and data regime, seed 0), in one fixed
order (loss, depth, hidden activations, output activation, widths, reduction,
batch, dtype, regime, seed). A ``Space`` says which options there are: a target
family's fixed activations, loss, sizes, batch and dtype, and the bounds.
Where the picks come from is the only difference between the routes:

- ``seeded_case(seed, index, family)`` answers them from ``random.Random``
  seeded by (seed, index): case ``index`` of a campaign is a pure function of
  the two, whichever process draws it and in whatever order;
- ``hypothesis_cases(space)`` answers them with ``st.integers(0, n - 1)``, so
  Hypothesis draws and shrinks towards index 0 along the same decisions
  (``strategies.cases``, ``strategies.networks`` and ``strategies.for_target``
  are this strategy; ``shrinking_cases(family)`` is the campaign's name for it);
- ``seeded_choices(seed, index, family)`` returns the picks a seeded case made:
  handed to Hypothesis as a saved example, they make it start from that exact
  case and shrink it (see ``campaign.shrink``); a Hypothesis case carries its
  own picks in ``Case.extra["picks"]``, which the example database keeps and
  ``replayed_case`` turns back into the case.

Widths repeat the one before half the time (equal in/hidden widths let
shape-compatible wrong-tensor bugs run at all); each width's own number is a
decision even when repeated (one option then), so a shrunk repeat gives way to
the smallest width (a crash when in != hidden shrinks to 2-3-1, not 2-3-3).
The seeded picks hit the ends of their range more often than a uniform draw
would (width 1, batch 1, the simplest regime), as Hypothesis's own do.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from crosscheck.model.cases import REGIMES, Case, Network
from crosscheck.drawing.options import loss_options
from crosscheck.model.vocabulary import CLASSES, ELEMENTWISE, DTYPES, LOSSES, OUTPUT_ACTIVATIONS, REDUCTIONS

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


@dataclass(frozen=True)
class Space:
    """The options of every decision: what may be drawn, and what is fixed.

    ``layer_activations`` fixes every activation (and so the depth), ``sizes``
    some widths (``None`` entries are drawn), ``batch`` the batch. Arguments are
    checked by the public strategies (``strategies.networks``, ``cases``).
    """

    min_depth: int = 1
    max_depth: int = 5
    min_width: int = 1
    max_width: int = 32
    activations: tuple = ELEMENTWISE  # of the hidden layers; softmax is an output only
    losses: tuple = LOSSES
    reductions: tuple = REDUCTIONS
    layer_activations: tuple | None = None
    sizes: tuple | None = None
    min_batch: int = 1
    max_batch: int = 32
    batch: int | None = None
    dtypes: tuple = DTYPES
    regimes: tuple = REGIMES
    seeds: int = SEED_RANGE
    #: the target's family: the loss options it fixes (``options.loss_options``); None draws them all
    family: object = None

    @classmethod
    def of(cls, family=None, bounds: Bounds = Bounds(), dtypes=None) -> "Space":
        """The space a target ``family`` (a ``target.Family``; ``None`` draws freely) admits within ``bounds``."""
        acts = getattr(family, "activations", None)
        losses = (family.loss,) if getattr(family, "loss", None) else LOSSES
        if acts is not None:
            losses = tuple(l for l in losses if acts[-1] in OUTPUT_ACTIVATIONS[l]) or losses
        sizes = getattr(family, "sizes", None)
        return cls(max_depth=bounds.max_depth, max_width=bounds.max_width, max_batch=bounds.max_batch,
                   losses=losses,
                   reductions=(family.reduction,) if getattr(family, "reduction", None) else REDUCTIONS,
                   layer_activations=tuple(acts) if acts is not None else None,
                   sizes=tuple(sizes) if sizes is not None else None,
                   batch=getattr(family, "batch", None),
                   dtypes=(family.dtype,) if getattr(family, "dtype", None) else tuple(dtypes or DTYPES),
                   family=family)


def _choose(pick: Pick, options):
    """One of ``options``; a decision with a single option is not asked for."""
    options = tuple(options)
    return options[pick(len(options))] if len(options) > 1 else options[0]


def _integer(pick: Pick, lo: int, hi: int) -> int:
    return lo + (pick(hi - lo + 1) if hi > lo else 0)


def draw_network(pick: Pick, space: Space = Space()) -> Network:
    """A network: loss, depth, hidden and output activations, widths, reduction, in that order."""
    loss = _choose(pick, space.losses)
    if space.layer_activations is not None:
        acts = space.layer_activations
    else:
        sizes = space.sizes
        depth = len(sizes) - 1 if sizes is not None else _integer(pick, space.min_depth, space.max_depth)
        outputs = [a for a in OUTPUT_ACTIVATIONS[loss] if a in space.activations] or OUTPUT_ACTIVATIONS[loss]
        hidden = tuple(_choose(pick, space.activations) for _ in range(depth - 1))
        acts = (*hidden, _choose(pick, outputs))
    widths: list[int] = []
    for i in range(len(acts) + 1):
        # a softmax output has 2 to 10 classes (no more than the widths' bound, no fewer than 2)
        lo, hi = space.min_width, space.max_width
        if loss == "cross_entropy" and i == len(acts):
            lo, hi = CLASSES[0], max(CLASSES[0], min(CLASSES[1], hi))
        if space.sizes is not None and space.sizes[i] is not None:
            widths.append(int(space.sizes[i]))
            continue
        if widths and _choose(pick, (False, True)):
            # a repeat still takes the width's place in the decisions, with its one option (0), so
            # that shrinking the repeat away reads 0 there: the smallest width, where a width drawn
            # only after "no repeat" would take the next decision's pick and a width drawn anyway
            # would make one case out of many decisions
            pick(1)
            widths.append(min(max(widths[-1], lo), hi))
        else:
            widths.append(_integer(pick, lo, hi))
    reduction = _choose(pick, space.reductions)
    options = loss_options(lambda values: _choose(pick, values), space.family, acts)
    return Network(tuple(widths), tuple(acts), loss, reduction, **options)


def draw_case(pick: Pick, space: Space = Space(), network: Network | None = None) -> Case:
    """One case from the decisions of ``pick``: a network (unless given), batch, dtype, regime and seed."""
    network = network if network is not None else draw_network(pick, space)
    batch = space.batch if space.batch is not None else _integer(pick, space.min_batch, space.max_batch)
    return Case(network, batch, _choose(pick, space.dtypes), _choose(pick, space.regimes), pick(space.seeds))


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
    return draw_case(_SeededPicks(seed, index), Space.of(family, bounds))


def seeded_choices(seed: int, index: int, family=None, bounds: Bounds = Bounds()) -> tuple[Case, list[int]]:
    """Case ``index`` and the list of picks that drew it (what Hypothesis replays to shrink it)."""
    picks = _SeededPicks(seed, index)
    case = draw_case(picks, Space.of(family, bounds))
    return case, picks.choices


#: Where Hypothesis draws the picks: ``[PICK_OFFSET, PICK_OFFSET + n)``, shrunk towards its start as
#: ``[0, n)`` is. Hypothesis draws 1 in 20 integers from the integer constants of the "local"
#: modules loaded in the process (any module outside site-packages and the standard library: the
#: user's code, and crosscheck's own in an editable install); which modules those are differs
#: between the audit's process and its workers, a pytest session and the command line, and as
#: modules load during a run, so picks in ``[0, n)`` made the same seed draw other cases there
#: (a seed of 1024 where another process drew 1000). No constant lies in this range (Hypothesis's
#: own all lie near powers of 2 and 10, factorials and primorials; ``tests/test_strategies_
#: distribution.py`` checks it), so every process draws the same cases for the same seed.
PICK_OFFSET = 3 * 10**13 + 1


def hypothesis_picks(draw_with: Callable[[Pick], object], keep_picks: bool = True):
    """The Hypothesis strategy of ``draw_with(pick)``, each pick an ``st.integers(0, n - 1)``.

    With ``keep_picks`` a drawn ``Case`` keeps its picks in ``extra["picks"]``
    (saved with a finding, replayed first next time).
    """
    from hypothesis import strategies as st

    @st.composite
    def drawn(draw):
        picks: list[int] = []

        def pick(n: int) -> int:
            picks.append(draw(st.integers(PICK_OFFSET, PICK_OFFSET + n - 1)) - PICK_OFFSET)
            return picks[-1]

        value = draw_with(pick)
        if keep_picks and isinstance(value, Case):
            value.extra["picks"] = picks
        return value

    return drawn()


def hypothesis_cases(space: Space = Space(), networks=None):
    """Cases of ``space`` drawn by Hypothesis; ``networks`` (a strategy) replaces the network's draw."""
    if networks is None:
        return hypothesis_picks(lambda pick: draw_case(pick, space))
    # the picks alone no longer draw the case: they are not kept
    return networks.flatmap(lambda net: hypothesis_picks(lambda pick: draw_case(pick, space, net), False))


def shrinking_cases(family=None, bounds: Bounds = Bounds()):
    """The Hypothesis strategy over the seeded campaign's decisions, for shrinking its failures."""
    return hypothesis_cases(Space.of(family, bounds))


def replayed_case(picks: list[int], family=None, bounds: Bounds = Bounds()) -> Case | None:
    """The case a saved pick sequence draws, or ``None`` when it no longer fits (the family changed)."""
    it = iter(picks)

    def pick(n: int) -> int:
        i = next(it)
        if not isinstance(i, int) or not 0 <= i < n:
            raise ValueError(i)
        return i

    try:
        return draw_case(pick, Space.of(family, bounds))
    except (StopIteration, ValueError):
        return None
