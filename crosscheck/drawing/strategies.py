"""Hypothesis strategies for networks, parameters, data and whole cases.

They read like ``hypothesis.extra.numpy``: plural nouns, keyword-only bounds
with documented defaults, arguments checked up front (``InvalidArgument``
naming the bad argument).

``cases()`` is what the fuzzer draws: a ``Network`` plus batch, dtype, data
regime and seed, from the one distribution of ``sampler.draw_case`` (the same
decisions a seeded campaign makes, here answered by Hypothesis); the arrays are a pure function of those (``Case.arrays``), so
a shrunk case is small, readable and replays bit for bit. ``parameters()`` and
``datasets()`` draw the arrays themselves element by element, for unit tests
that want Hypothesis to shrink values too.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp

from crosscheck.drawing.sampler import Bounds, Space, draw_network, hypothesis_cases, hypothesis_picks
from crosscheck.model.cases import REGIMES, Case, Network
from crosscheck.model.vocabulary import ACTIVATIONS, DTYPES, ELEMENTWISE, LOSSES, OUTPUT_ACTIVATIONS, REDUCTIONS


def _check_bounds(name: str, lo: int, hi: int, floor: int = 1) -> None:
    for arg, v in ((f"min_{name}", lo), (f"max_{name}", hi)):
        if not isinstance(v, int) or isinstance(v, bool) or v < floor:
            raise InvalidArgument(f"{arg}={v!r} must be an int of at least {floor}")
    if lo > hi:
        raise InvalidArgument(f"min_{name}={lo} is larger than max_{name}={hi}")


def _check_choice(name: str, values, allowed) -> tuple:
    values = tuple(values)
    if not values:
        raise InvalidArgument(f"{name} must not be empty; choose from {', '.join(allowed)}")
    bad = [v for v in values if v not in allowed]
    if bad:
        raise InvalidArgument(f"{name} has unknown value(s) {bad}; choose from {', '.join(allowed)}")
    return values


def networks(*, min_depth: int = 1, max_depth: int = 5, min_width: int = 1, max_width: int = 32,
             activations: Sequence[str] = ELEMENTWISE, losses: Sequence[str] = LOSSES,
             reductions: Sequence[str] = REDUCTIONS, layer_activations: Sequence[str] | None = None,
             sizes: Sequence[int | None] | None = None, family=None) -> st.SearchStrategy[Network]:
    """Networks of ``min_depth..max_depth`` dense layers and widths ``min_width..max_width``.

    Hidden activations are drawn from ``activations``; the output activation is
    drawn from those for which the loss is defined (sigmoid for ``bce``,
    identity for ``bce_with_logits``, softmax over 2-10 classes for ``cross_entropy``).
    ``layer_activations`` fixes them all (and so the depth); ``sizes`` fixes some
    widths (``None`` entries are drawn). The loss options (scale, L2, biases, leaky
    slope) are drawn by ``options.loss_options``, or fixed by ``family``'s.
    """
    _check_bounds("depth", min_depth, max_depth)
    _check_bounds("width", min_width, max_width)
    activations = _check_choice("activations", activations, ELEMENTWISE)  # hidden layers: softmax is output only
    losses = _check_choice("losses", losses, LOSSES)
    reductions = _check_choice("reductions", reductions, REDUCTIONS)
    if layer_activations is not None:
        layer_activations = _check_choice("layer_activations", layer_activations, ACTIVATIONS)
        losses = tuple(l for l in losses if layer_activations[-1] in OUTPUT_ACTIVATIONS[l])
        if not losses:
            raise InvalidArgument(f"no loss in the given losses is defined for output activation "
                                  f"{layer_activations[-1]!r}")
    if sizes is not None:
        depth_needed = len(sizes) - 1
        if layer_activations is not None and depth_needed != len(layer_activations):
            raise InvalidArgument(f"sizes has {len(sizes)} entries but layer_activations needs "
                                  f"{len(layer_activations) + 1}")
        if not min_depth <= depth_needed <= max_depth and layer_activations is None:
            raise InvalidArgument(f"sizes fixes depth {depth_needed}, outside {min_depth}..{max_depth}")

    space = Space(min_depth=min_depth, max_depth=max_depth, min_width=min_width, max_width=max_width,
                  activations=activations, losses=losses, reductions=reductions,
                  layer_activations=layer_activations, sizes=tuple(sizes) if sizes is not None else None,
                  family=family)
    return hypothesis_picks(lambda pick: draw_network(pick, space))


def cases(*, networks: st.SearchStrategy[Network] | None = None, min_batch: int = 1, max_batch: int = 32,
          batch: int | None = None, dtypes: Sequence[str] = DTYPES, regimes: Sequence[str] = REGIMES,
          max_seed: int = 2**32 - 1) -> st.SearchStrategy[Case]:
    """Whole cases: a network, a batch size, a dtype, a data regime and a seed.

    The regimes (``cases.REGIMES``) carry the edges of the numerics: exact zeros at
    ReLU kinks (``zeros``, ``kinks``), |z| > 40 (``saturated``), tiny and large
    magnitudes, BCE outputs at torch's clamps and exactly 0 or 1 with targets exactly
    0 and 1 (``clamp``). Widths and batches of 1 come from Hypothesis's own bias to
    the bounds (about a third of the draws). Everything shrinks towards plain data,
    batch 1, small widths and seed 0.
    """
    _check_bounds("batch", min_batch, max_batch)
    dtypes = _check_choice("dtypes", dtypes, DTYPES)
    regimes = _check_choice("regimes", regimes, REGIMES)
    if batch is not None and (not isinstance(batch, int) or batch < 1):
        raise InvalidArgument(f"batch={batch!r} must be a positive int or None")
    if not isinstance(max_seed, int) or max_seed < 0:
        raise InvalidArgument(f"max_seed={max_seed!r} must be a non-negative int")
    space = Space(min_batch=min_batch, max_batch=max_batch, batch=batch, dtypes=dtypes, regimes=regimes,
                  seeds=max_seed + 1)
    return hypothesis_cases(space, networks)


def for_target(target, *, max_depth: int = 5, max_width: int = 32, max_batch: int = 32,
               dtypes: Sequence[str] | None = None) -> st.SearchStrategy[Case]:
    """The cases a target's family admits (its fixed activations, loss, sizes, batch, dtype)."""
    _check_bounds("depth", 1, max_depth)
    _check_bounds("width", 1, max_width)
    _check_bounds("batch", 1, max_batch)
    if dtypes is not None:
        dtypes = _check_choice("dtypes", dtypes, DTYPES)
    return hypothesis_cases(Space.of(target.family, Bounds(max_depth, max_width, max_batch), dtypes))


def parameters(network: Network, *, dtype: str = "float64", elements: st.SearchStrategy[float] | None = None,
               ) -> st.SearchStrategy[list[tuple[np.ndarray, np.ndarray]]]:
    """``[(W1, b1), ...]`` for ``network``, W of shape (out, in) and b of shape (out,)
    (``(W1, None), ...`` for a network without biases)."""
    if dtype not in DTYPES:
        raise InvalidArgument(f"dtype={dtype!r} must be one of {DTYPES}")
    elements = elements or st.floats(-2, 2, width=32)
    layers = [st.tuples(hnp.arrays(dtype, (n_out, n_in), elements=elements),
                        hnp.arrays(dtype, (n_out,), elements=elements) if network.bias else st.none())
              for n_in, n_out in zip(network.sizes, network.sizes[1:])]
    return st.tuples(*layers).map(list)


def datasets(network: Network, batch: int, *, dtype: str = "float64",
             elements: st.SearchStrategy[float] | None = None) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """``(X, Y)`` with X (batch, in) and Y (batch, out); Y in [0, 1] for the BCE losses."""
    if not isinstance(batch, int) or batch < 1:
        raise InvalidArgument(f"batch={batch!r} must be a positive int")
    if dtype not in DTYPES:
        raise InvalidArgument(f"dtype={dtype!r} must be one of {DTYPES}")
    elements = elements or st.floats(-3, 3, width=32)
    X = hnp.arrays(dtype, (batch, network.sizes[0]), elements=elements)
    if network.loss == "cross_entropy":  # one-hot rows: one class per example
        classes = network.sizes[-1]
        labels = st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch)
        return st.tuples(X, labels.map(lambda ys: np.eye(classes, dtype=dtype)[ys]))
    targets = st.floats(0, 1, width=32) if network.loss != "mse" else elements
    return st.tuples(X, hnp.arrays(dtype, (batch, network.sizes[-1]), elements=targets))
