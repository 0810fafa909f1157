"""The loss options of a drawn network: scale, L2 (per layer or one for all), biases, leaky slope.

One function, ``loss_options(choose, family, activations)``, makes every decision as
``choose(values)`` with the simplest value first (scale 1, no L2, biases, torch's
slope), so the seeded case lists and the Hypothesis strategies draw the same
distribution and shrink towards a plain network. A family (``target.Family``) fixes
the options it declares (the plain loss unless it says otherwise); those it leaves
``None`` are drawn (the reference's, ``target.DRAWN``). No family: the plain loss.
The values hold the edges: l2 = 0 on some layers of a per-layer list, an L2 term
much larger than the data gradient, a half squared error (scale 0.5), layers without
biases.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from crosscheck.model.vocabulary import LEAKY_SLOPE, LOSS_OPTIONS

SCALES = (1.0, 0.5, 2.0, 0.1)
L2_VALUES = (0.0, 0.01, 0.5, 3.0)
LEAKY_SLOPES = (LEAKY_SLOPE, 0.1, 0.5)

Choose = Callable[[Sequence[Any]], Any]


def loss_options(choose: Choose, family, activations: Sequence[str]) -> dict:
    """``Network`` keywords of the loss options: the family's where it fixes them, drawn otherwise."""
    if family is None:
        return dict(LOSS_OPTIONS)
    fixed = family.network_options()
    if len(fixed) == len(LOSS_OPTIONS):
        return fixed
    depth = len(activations)
    out: dict = {}
    out["scale"] = fixed.get("scale", None) or choose(SCALES)
    out["bias"] = fixed["bias"] if "bias" in fixed else choose((True, False))
    if "l2" in fixed:
        out["l2"] = fixed["l2"]
    else:
        kind = choose(("none", "all", "per-layer"))
        out["l2"] = 0.0 if kind == "none" else (choose(L2_VALUES[1:]) if kind == "all" else
                                                 tuple(choose(L2_VALUES) for _ in range(depth)))
    if "l2_bias" in fixed:
        out["l2_bias"] = fixed["l2_bias"]
    else:
        out["l2_bias"] = choose((0.0, 0.1)) if out["bias"] else 0.0
    if "l2_by_batch" in fixed:
        out["l2_by_batch"] = fixed["l2_by_batch"]
    else:
        penalized = any(out["l2"]) if isinstance(out["l2"], tuple) else out["l2"] > 0
        out["l2_by_batch"] = choose((False, True)) if penalized or out["l2_bias"] else False
    if "leaky_slope" in fixed:
        out["leaky_slope"] = fixed["leaky_slope"]
    else:
        out["leaky_slope"] = choose(LEAKY_SLOPES) if "leaky_relu" in activations else LEAKY_SLOPE
    return out
