"""Localization: the first layer, in backward order, whose gradients diverge.

Backpropagation runs from the last layer to the first, so the first diverging
layer in that order is where the error enters; the layers above it are right.
When the target returns intermediates (dA, dZ, dX, as the reference does),
the first diverging of those says where inside the layer it begins:
dA_l wrong means the gradient passed down from layer l + 1 is wrong; dA_l right
and dZ_l wrong means layer l's activation backward; dZ_l right and W_l or b_l
wrong means its dense backward.
"""
from __future__ import annotations

from crosscheck.model.vocabulary import tensor_kind, tensor_layer
from crosscheck.diagnosis.evidence import Evidence

_WHERE = {
    "dA": "dA{l}, the gradient passed down to layer {l} from layer {n} (dZ{n} W{n})",
    "dZ": "dZ{l}, layer {l}'s activation backward (dA{l} * f'(z{l})); dA{l} agrees",
    "W": "the weight gradient dW{l} = dZ{l}ᵀ {input}",
    "b": "the bias gradient db{l} = Σ_batch dZ{l}",
    "dX": "dX, the gradient passed down to the input",
}


def localize(ev: Evidence) -> dict | None:
    """{'layer', 'tensors', 'begins_at', 'agree_above', 'intermediates', 'sentence'} or None."""
    failing = ev.failing
    if not failing:
        return None
    params = [n for n in failing if n[0] in "Wb"]
    layer = tensor_layer(params[0]) if params else (tensor_layer(failing[0]) or 0)
    first = failing[0]
    intermediates = any(n.startswith("d") for n in ev.comparisons)
    above = [n for n in ev.network.param_names() if tensor_layer(n) > layer and ev.right(n)]
    in_layer = [n for n in failing if tensor_layer(n) == layer and n[0] in "Wb"]
    where = "the input gradient dX" if layer == 0 else f"layer {layer}"
    sentence = f"in backward order the gradients diverge first at {where} ({', '.join(in_layer or [first])})"
    if layer < ev.depth and layer:
        sentence += (f"; layers {layer + 1}-{ev.depth} agree" if layer + 1 < ev.depth
                     else f"; layer {ev.depth} agrees") if len(above) == 2 * (ev.depth - layer) else ""
    below = [n for n in failing if n[0] in "Wb" and tensor_layer(n) < layer]
    if below:
        sentence += f"; also wrong below it: {', '.join(below)}"
    begins = None
    if intermediates:
        l = tensor_layer(first)
        begins = first
        sentence += "; the divergence begins at " + _WHERE[tensor_kind(first)].format(
            l=l, n=l + 1, input="X" if l <= 1 else f"a{l - 1}")
    return {"layer": layer, "tensors": in_layer or [first], "begins_at": begins, "agree_above": above,
            "intermediates": intermediates, "failing": failing, "sentence": sentence}
