"""Hypothesis strategies for optimizers, their hyperparameters and whole training cases.

In the style of ``crosscheck.drawing.strategies``: plural nouns, keyword-only bounds
with documented defaults, arguments checked first (``InvalidArgument`` naming
the bad one). Each strategy shrinks towards the textbook setting (a round
learning rate, momentum 0.9, betas (0.9, 0.999), no weight decay, one step), so
a minimal failing trajectory reads like a tutorial's.
"""
from __future__ import annotations

import math
from typing import Sequence

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from crosscheck.model.optimizer_spec import MAX_STEPS, OPTIMIZERS, OptimizerSpec
from crosscheck.judge.trajectory import TrainingCase

#: Round learning rates, tried first (and shrunk to) before arbitrary ones.
ROUND_LEARNING_RATES = (0.1, 0.01, 0.001, 0.5, 1.0, 0.05, 0.0001)


def _check_range(name: str, lo: float, hi: float, floor: float = 0.0, ceiling: float = math.inf,
                 ceiling_open: bool = False) -> None:
    for arg, v in ((f"min_{name}", lo), (f"max_{name}", hi)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < floor \
                or v > ceiling or (ceiling_open and v >= ceiling):
            limit = f"below {ceiling:g}" if ceiling_open else f"at most {ceiling:g}"
            raise InvalidArgument(f"{arg}={v!r} must be a number of at least {floor:g}"
                                  + (f" and {limit}" if ceiling < math.inf else ""))
    if lo > hi:
        raise InvalidArgument(f"min_{name}={lo} is larger than max_{name}={hi}")


def _log_uniform(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda e: float(f"{10 ** e:.3g}")).filter(
        lambda v: lo <= v <= hi)


def learning_rates(*, min_value: float = 1e-4, max_value: float = 1.0) -> st.SearchStrategy[float]:
    """Learning rates in [min_value, max_value] (defaults 1e-4 and 1): a round one or any, log-uniform."""
    _check_range("value", min_value, max_value, floor=1e-12)
    round_ones = [v for v in ROUND_LEARNING_RATES if min_value <= v <= max_value]
    drawn = _log_uniform(min_value, max_value)
    return st.one_of(st.sampled_from(round_ones), drawn) if round_ones else drawn


def momenta(*, min_value: float = 0.0, max_value: float = 0.99) -> st.SearchStrategy[float]:
    """SGD momentum in [min_value, max_value] (defaults 0 and 0.99); 0.9 first."""
    _check_range("value", min_value, max_value)
    usual = [0.9] if min_value <= 0.9 <= max_value else []
    return st.one_of(*[st.just(v) for v in usual], st.floats(min_value, max_value).map(lambda v: round(v, 4)))


def betas(*, min_beta1: float = 0.0, max_beta1: float = 0.99, min_beta2: float = 0.5,
          max_beta2: float = 0.9999) -> st.SearchStrategy[tuple[float, float]]:
    """Adam's (beta1, beta2), each in [0, 1); (0.9, 0.999) first."""
    _check_range("beta1", min_beta1, max_beta1, ceiling=1.0, ceiling_open=True)
    _check_range("beta2", min_beta2, max_beta2, ceiling=1.0, ceiling_open=True)
    pairs = st.tuples(st.floats(min_beta1, max_beta1).map(lambda v: round(v, 4)),
                      st.floats(min_beta2, max_beta2).map(lambda v: round(v, 5))).filter(
        lambda b: min_beta1 <= b[0] <= max_beta1 and min_beta2 <= b[1] <= max_beta2 and b[1] < 1)
    usual = min_beta1 <= 0.9 <= max_beta1 and min_beta2 <= 0.999 <= max_beta2
    return st.one_of(st.just((0.9, 0.999)), pairs) if usual else pairs


def weight_decays(*, max_value: float = 0.1) -> st.SearchStrategy[float]:
    """0 (first) or a weight decay in [1e-4, max_value] (default 0.1)."""
    _check_range("value", 0.0, max_value)
    if max_value < 1e-4:
        return st.just(0.0)
    return st.one_of(st.just(0.0), _log_uniform(1e-4, max_value))


def step_counts(*, min_steps: int = 1, max_steps: int = 20) -> st.SearchStrategy[int]:
    """Trajectory lengths ``min_steps..max_steps`` (defaults 1 and 20)."""
    for arg, v in (("min_steps", min_steps), ("max_steps", max_steps)):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_STEPS:
            raise InvalidArgument(f"{arg}={v!r} must be an int from 1 to {MAX_STEPS}")
    if min_steps > max_steps:
        raise InvalidArgument(f"min_steps={min_steps} is larger than max_steps={max_steps}")
    return st.integers(min_steps, max_steps)


def optimizers(*, names: Sequence[str] = OPTIMIZERS, lr: st.SearchStrategy[float] | None = None,
               ) -> st.SearchStrategy[OptimizerSpec]:
    """``OptimizerSpec``s for the given optimizer names with drawn hyperparameters.

    ``sgd`` may get weight decay; ``momentum`` draws momentum, and nesterov or
    dampening; ``adam`` and ``adamw`` draw betas, eps and weight decay.
    """
    names = tuple(names)
    if not names or any(n not in OPTIMIZERS for n in names):
        raise InvalidArgument(f"names={list(names)!r} must be a non-empty list from {', '.join(OPTIMIZERS)}")
    lrs = lr if lr is not None else learning_rates()

    @st.composite
    def draw_spec(draw):
        name = draw(st.sampled_from(names))
        hyper = {"lr": draw(lrs), "weight_decay": draw(weight_decays())}
        if name == "momentum":
            hyper["momentum"] = draw(momenta(min_value=0.01))
            style = draw(st.sampled_from(("plain", "nesterov", "dampening")))
            if style == "nesterov":
                hyper["nesterov"] = True
            elif style == "dampening":
                hyper["dampening"] = draw(st.floats(0.0, 0.9).map(lambda v: round(v, 3)))
        elif name in ("adam", "adamw"):
            hyper["betas"] = draw(betas())
            hyper["eps"] = draw(st.sampled_from((1e-8, 1e-6, 1e-3)))
        return OptimizerSpec.make(name, **hyper)

    return draw_spec()


def training_cases(*, cases: st.SearchStrategy | None = None,
                   optimizers: st.SearchStrategy[OptimizerSpec] | None = None,
                   steps: st.SearchStrategy[int] | None = None) -> st.SearchStrategy[TrainingCase]:
    """A case (network, batch, dtype, data, seed), an optimizer and a number of steps.

    Defaults: networks of up to 4 layers and width 16, batches up to 16, every
    optimizer, 1 to 20 steps.
    """
    from crosscheck.drawing import strategies

    cases = cases if cases is not None else strategies.cases(
        networks=strategies.networks(max_depth=4, max_width=16), max_batch=16)
    opts = optimizers if optimizers is not None else globals()["optimizers"]()
    return st.builds(TrainingCase, cases, opts, steps if steps is not None else step_counts())
