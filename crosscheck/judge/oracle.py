"""The torch mirror of a case: same parameters, ``torch.nn.functional`` ops, autograd.

It mirrors the network; it never re-derives a formula. Gradients come back as
NumPy arrays under crosscheck's names: ``W1, b1, ..., dZ1, dA1, ..., dX``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from crosscheck.model.cases import Network

TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32}

_ACTIVATIONS = {
    "identity": lambda z: z,
    "sigmoid": torch.sigmoid,
    "relu": F.relu,
    "tanh": torch.tanh,
    "softmax": lambda z: torch.softmax(z, dim=1),
}
_LOSSES = {
    "mse": F.mse_loss,
    "bce": F.binary_cross_entropy,
    "bce_with_logits": F.binary_cross_entropy_with_logits,
    # on the logits Z_L with one-hot (probability) targets: log_softmax and the product fused
    "cross_entropy": F.cross_entropy,
}


@dataclass
class Mirror:
    """What autograd says about one case at one precision."""

    loss: float
    grads: dict[str, np.ndarray]
    output: np.ndarray


def _tensor(a, dtype, grad=False) -> torch.Tensor:
    if type(a) is np.ndarray and a.dtype is _NUMPY_OF.get(dtype) and a.flags.writeable:
        return torch.from_numpy(a).requires_grad_(grad)  # the usual case, in short (see below)
    a = np.asarray(a)
    if a.dtype == _NUMPY_OF[dtype] and a.flags.writeable and a.dtype.isnative:
        t = torch.from_numpy(a)  # the same memory, no copy: the mirror never writes into its inputs
    elif dtype is torch.float64 and a.dtype == np.float32:
        t = torch.from_numpy(a.astype(np.float64))  # exact, as torch's own conversion, at a third of its cost
    elif not a.dtype.isnative:  # torch takes only the machine's byte order
        t = torch.from_numpy(a.astype(a.dtype.newbyteorder("="))).to(dtype)
    else:
        t = torch.as_tensor(a).to(dtype)
    return t.requires_grad_(grad)


_NUMPY_OF = {torch.float64: np.dtype(np.float64), torch.float32: np.dtype(np.float32)}


def torch_loss(network: Network, X: torch.Tensor, Y: torch.Tensor,
               params: list[tuple[torch.Tensor, torch.Tensor]], keep: dict | None = None,
               nudge=None, retain: bool = True) -> torch.Tensor:
    """The scalar loss of the mirror network; intermediates go into ``keep`` (with ``retain_grad``
    unless ``retain`` is false: ``mirror`` asks autograd for their gradients directly).

    ``nudge``, if given, is applied to every pre-activation and activation: the
    tolerance uses it to see how far rounding at each step can move a gradient.
    """
    A = X
    for l, ((W, b), act) in enumerate(zip(params, network.activations), start=1):
        Z = F.linear(A, W, b)
        if nudge is not None:
            Z = nudge(Z, kink=True)
        A = F.leaky_relu(Z, network.leaky_slope) if act == "leaky_relu" else _ACTIVATIONS[act](Z)
        if nudge is not None:
            A = nudge(A, probability=act == "sigmoid")
        if keep is not None:
            # identity returns Z itself: with retain_grad, give dA its own node so both keep a grad
            # (asked of autograd.grad directly, dZ and dA of an identity are the one gradient)
            if retain:
                if A is Z:
                    A = Z.view_as(Z)
                Z.retain_grad()
                A.retain_grad()
            keep[f"dZ{l}"] = Z
            if not (network.fused and l == network.depth):
                keep[f"dA{l}"] = A
    loss = _data_loss(network, Z if network.fused else A, Y)
    if network.scale != 1.0:
        loss = loss * network.scale
    for (W, b), (kw, kb) in zip(params, network.penalties(X.shape[0])):
        # the L2 term: (k / 2) ||W||², after reduction and scale
        if kw:
            loss = loss + (kw / 2) * (W * W).sum()
        if kb and b is not None:
            loss = loss + (kb / 2) * (b * b).sum()
    return loss


def _data_loss(network: Network, out: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """The loss of the output (A_L, or Z_L for cross-entropy) against Y, reduced as declared:
    ``batch_mean`` is torch's sum divided by the batch (cross-entropy's mean already is)."""
    reduction = network.reduction
    if reduction == "batch_mean":
        if network.fused:
            reduction = "mean"
        else:
            return _data_loss_as(network, out, Y, "sum") / out.shape[0]
    return _data_loss_as(network, out, Y, reduction)


def _data_loss_as(network: Network, out, Y, reduction: str) -> torch.Tensor:
    direct = _DIRECT_LOSSES.get(network.loss)
    if direct is not None and out.shape == Y.shape and reduction in _REDUCTIONS:
        return direct(out, Y, _REDUCTIONS[reduction])
    return _LOSSES[network.loss](out, Y, reduction=reduction)


def _direct_losses() -> tuple[dict, dict]:
    """The ATen ops behind ``_LOSSES`` for input and target of one shape, called without
    ``torch.nn.functional``'s argument handling: for same-shape tensors the functional form checks,
    broadcasts (an extra expand in the graph, for MSE) and calls exactly these. Empty if this torch
    lacks them (the functional forms are then used)."""
    try:
        nn = torch._C._nn
        ops = {"mse": nn.mse_loss, "bce": lambda a, y, r: nn.binary_cross_entropy(a, y, None, r),
               "bce_with_logits": lambda a, y, r: torch.binary_cross_entropy_with_logits(a, y, None, None, r)}
        from torch.nn import _reduction
        reductions = {name: _reduction.get_enum(name) for name in ("mean", "sum")}
    except (AttributeError, ImportError, ValueError):
        return {}, {}
    return ops, reductions


_DIRECT_LOSSES, _REDUCTIONS = _direct_losses()


def mirror(network: Network, X, Y, params, dtype: str = "float64", *, intermediates: bool = True,
           nudge_ulps: float = 0.0, seed: int = 0) -> Mirror:
    """Run the torch mirror of ``network`` on (X, Y, params) at ``dtype`` and return every gradient.

    With ``nudge_ulps``, every input, parameter, pre-activation and activation is
    multiplied by 1 ± nudge_ulps·eps (random signs from ``seed``): a model of
    rounding at each step, used to measure a case's float64 noise floor.
    """
    tdt = TORCH_DTYPES[dtype]
    nudge = None
    if nudge_ulps:
        gen = torch.Generator().manual_seed(seed)
        step = nudge_ulps * torch.finfo(tdt).eps

        def nudge(t, probability=False, kink=False):
            # The shift is detached: values move, the graph and its local derivatives stay the mirror's.
            # (ReLU kinks are not pushed across: ``conventions`` accepts either side explicitly.)
            signs = torch.randint(0, 2, tuple(t.shape), generator=gen).to(tdt) * 2 - 1
            moved = t.detach() * (1 + step * signs)
            if probability:  # a sigmoid output stays in [0, 1], where BCE is defined
                moved = moved.clamp(0, 1)
            return t + (moved - t.detach())

    if nudge is None:
        Xt = _tensor(X, tdt, True)
        Pt = [(_tensor(W, tdt, True), None if b is None else _tensor(b, tdt, True)) for W, b in params]
    else:  # the nudged values become the leaves
        Xt = nudge(_tensor(X, tdt)).requires_grad_(True)
        Pt = [(nudge(_tensor(W, tdt)).requires_grad_(True),
               None if b is None else nudge(_tensor(b, tdt)).requires_grad_(True)) for W, b in params]
    Yt = _tensor(Y, tdt)
    keep: dict[str, torch.Tensor] | None = {} if intermediates else None
    loss = torch_loss(network, Xt, Yt, Pt, keep, nudge, retain=False)
    # one autograd call for every gradient: parameters, then each Z and A, then X (the ``grads`` order)
    inputs = [t for Wb in Pt for t in Wb if t is not None]
    if keep is not None:
        inputs += [*keep.values(), Xt]
    found = _gradients(loss, inputs)
    names = _grad_names(len(Pt), keep is not None, network.bias, network.fused)
    grads: dict[str, np.ndarray] = dict(zip(names, map(torch.Tensor.numpy, found)))
    output = np.array([])
    if keep is not None:
        last = keep.get(f"dA{network.depth}")
        output = (last if last is not None else torch.softmax(keep[f"dZ{network.depth}"], dim=1)).detach().numpy()
    return Mirror(loss.item(), grads, output)


@functools.lru_cache(maxsize=None)
def _grad_names(depth: int, intermediates: bool, bias: bool = True, fused: bool = False) -> tuple[str, ...]:
    """The names of ``mirror``'s gradients in the order it asks autograd for them: W1, b1, ..., then
    dZ1, dA1, ..., dZL, dAL (the order ``torch_loss`` keeps them) and dX. No ``b`` without biases;
    no dAL for softmax with cross-entropy (fused: the loss starts at Z_L)."""
    names = [n for l in range(1, depth + 1) for n in ((f"W{l}", f"b{l}") if bias else (f"W{l}",))]
    if intermediates:
        names += [n for l in range(1, depth + 1) for n in (f"dZ{l}", f"dA{l}")
                  if not (fused and n == f"dA{depth}")] + ["dX"]
    return tuple(names)


def _gradients(loss: torch.Tensor, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """``torch.autograd.grad(loss, inputs, allow_unused=True, materialize_grads=True)``, the same
    engine call without the wrapper's bookkeeping.

    The wrapper stashes a copy of the Python context for device threads and checks
    for tensor subclasses: a third of the time of a small case's backward on the
    CPU, where neither applies (the mirror's tensors are plain CPU tensors). If the
    engine's entry point is not there (another torch), the public call is used.
    """
    if _ENGINE is None:
        return list(torch.autograd.grad(loss, inputs, allow_unused=True, materialize_grads=True))
    found = _ENGINE.run_backward((loss,), (torch.ones_like(loss),), False, False, tuple(inputs), True, False)
    return [torch.zeros_like(t) if g is None else g for g, t in zip(found, inputs)]


# the C++ autograd engine behind torch.autograd.grad (torch.autograd.graph._engine_run_backward)
_ENGINE = getattr(getattr(torch.autograd, "Variable", None), "_execution_engine", None)
if not hasattr(_ENGINE, "run_backward"):
    _ENGINE = None
