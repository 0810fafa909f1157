"""The names crosscheck speaks: activations, losses, reductions, dtypes, tensors.

Kept free of heavy imports so the CLI, the decorator and the pytest plugin can
validate arguments without loading torch or pandas.
"""
from __future__ import annotations

import functools
import re

#: Activations applied to each unit alone: any layer may have one.
ELEMENTWISE = ("identity", "sigmoid", "relu", "tanh", "leaky_relu")
#: softmax normalizes a whole row: only the last layer, and only with cross_entropy.
ACTIVATIONS = ELEMENTWISE + ("softmax",)
LOSSES = ("mse", "bce", "bce_with_logits", "cross_entropy")
AUDIT_LOSSES = ("mse", "bce", "cross_entropy")
#: ``mean``: divide by the number of elements (torch; for cross_entropy, by the batch);
#: ``sum``; ``batch_mean``: sum over the outputs, divide by the batch.
REDUCTIONS = ("mean", "sum", "batch_mean")
DTYPES = ("float64", "float32")
LEAKY_SLOPE = 0.01

#: Output activations for which a loss is defined: bce needs probabilities in
#: [0, 1]; bce_with_logits takes raw logits; cross_entropy a softmax over 2-10 classes.
OUTPUT_ACTIVATIONS = {
    "mse": ELEMENTWISE,
    "bce": ("sigmoid",),
    "bce_with_logits": ("identity",),
    "cross_entropy": ("softmax",),
}
#: The number of classes a softmax output may have (one-hot targets of that width).
CLASSES = (2, 10)

#: The largest declared network and batch a check accepts: a case is held in memory several
#: times over (truth, rounding bounds, intermediates), so one of these already takes seconds.
MAX_WIDTH = 4096
MAX_DEPTH = 64
MAX_BATCH = 65536
#: The declaration's options of the loss beyond activations, loss and reduction, with their defaults.
LOSS_OPTIONS = {"scale": 1.0, "l2": 0.0, "l2_bias": 0.0, "l2_by_batch": False, "bias": True,
                "leaky_slope": LEAKY_SLOPE}

DIAGNOSES = ("scale", "sign", "transpose", "activation-mask", "activation-derivative", "wrong-input",
             "bias-reduction", "stale-weights", "nonfinite", "shape", "other")

_TENSOR = re.compile(r"^(W|b|dZ|dA)(\d+)$|^dX$")


def param_names(depth: int, bias: bool = True) -> list[str]:
    """``['W1', 'b1', ..., 'WL', 'bL']`` (``['W1', ..., 'WL']`` for layers without biases)."""
    if not bias:
        return [f"W{l}" for l in range(1, depth + 1)]
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
