"""The names crosscheck speaks: activations, losses, reductions, dtypes, tensors.

Kept free of heavy imports so the CLI, the decorator and the pytest plugin can
validate arguments without loading torch or pandas.
"""
from __future__ import annotations

import functools
import re

ACTIVATIONS = ("identity", "sigmoid", "relu", "tanh", "leaky_relu")
LOSSES = ("mse", "bce", "bce_with_logits")
AUDIT_LOSSES = ("mse", "bce")
REDUCTIONS = ("mean", "sum")
DTYPES = ("float64", "float32")
LEAKY_SLOPE = 0.01

#: Output activations for which a loss is defined: bce needs probabilities in
#: [0, 1]; bce_with_logits takes raw logits.
OUTPUT_ACTIVATIONS = {
    "mse": ACTIVATIONS,
    "bce": ("sigmoid",),
    "bce_with_logits": ("identity",),
}

DIAGNOSES = ("scale", "sign", "transpose", "activation-mask", "activation-derivative", "wrong-input",
             "bias-reduction", "stale-weights", "nonfinite", "shape", "other")

_TENSOR = re.compile(r"^(W|b|dZ|dA)(\d+)$|^dX$")


def param_names(depth: int) -> list[str]:
    """``['W1', 'b1', ..., 'WL', 'bL']``."""
    return [name for l in range(1, depth + 1) for name in (f"W{l}", f"b{l}")]


@functools.lru_cache(maxsize=4096)  # a campaign asks about the same few dozen names millions of times
def tensor_layer(name: str) -> int:
    """The 1-based layer a tensor name belongs to (0 for ``dX``)."""
    m = _TENSOR.match(name)
    if not m:
        raise ValueError(f"not a crosscheck tensor name: {name!r}")
    return int(m.group(2)) if m.group(2) else 0


@functools.lru_cache(maxsize=4096)
def tensor_kind(name: str) -> str:
    """``W``, ``b``, ``dZ``, ``dA`` or ``dX``."""
    m = _TENSOR.match(name)
    if not m:
        raise ValueError(f"not a crosscheck tensor name: {name!r}")
    return m.group(1) or "dX"


def backward_order(names) -> list[str]:
    """Tensor names in the order backpropagation produces them: last layer first,
    within a layer dA, dZ, W, b; dX last."""
    order = {"dA": 0, "dZ": 1, "W": 2, "b": 3, "dX": 4}
    return sorted(names, key=lambda n: (-tensor_layer(n) if n != "dX" else 1, order[tensor_kind(n)]))
