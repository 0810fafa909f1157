"""A target is code whose gradients we check: ``(X, Y, params) -> grads``.

``params`` is a list of ``(W, b)`` per dense layer, ``W`` of shape (out, in) and
``b`` of shape (out,); ``X`` is (batch, in) and ``Y`` (batch, out). A target
returns the gradients in the same structure, a list of ``(dW, db)``, or a dict
by name (``W1``, ``b1``, ... and optionally the intermediates ``dZ1``, ``dA1``,
..., ``dX``), or, with ``returns="update"``, the parameters after one SGD step
(or, declaring ``optimizer=`` and/or ``steps=``, after that many updates of that
optimizer: a training loop, checked step by step by ``trajectory``).

The family says which networks a target can take: fixed activations and loss
for a tutorial's two-layer network, anything at all for the reference.
"""
from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np

from crosscheck.model.returns import ReturnError, Rejected, unpack  # noqa: F401 (the one reader; re-exported)
from crosscheck.model.optimizer_spec import TRAINING_OPTIONS, SpecError, check_training_options
from crosscheck.model.vocabulary import ACTIVATIONS, AUDIT_LOSSES, DTYPES, LOSSES, OUTPUT_ACTIVATIONS, REDUCTIONS, param_names

RETURNS = ("grads", "update")
#: Further keyword arguments of @audit_target, validated by the features that use them
#: (training code: ``optimizer``, ``steps`` and torch.optim's hyperparameters, see ``optimizer_spec``).
EXTRA_OPTIONS: tuple[str, ...] = TRAINING_OPTIONS + ("intermediates",)


class TargetError(ValueError):
    """A target is declared wrongly (bad decorator arguments)."""


@dataclass(frozen=True)
class Family:
    """The networks a target supports. ``None`` means "drawn freely"."""

    activations: tuple[str, ...] | None = None
    loss: str | None = None
    reduction: str | None = None
    sizes: tuple[int | None, ...] | None = None
    batch: int | None = None
    dtype: str | None = None

    def covers(self, network, batch: int | None = None, dtype: str | None = None) -> bool:
        if self.activations is not None and tuple(network.activations) != self.activations:
            return False
        if self.loss is not None and network.loss != self.loss:
            return False
        if self.reduction is not None and network.reduction != self.reduction:
            return False
        if self.sizes is not None and (len(self.sizes) != len(network.sizes) or any(
                s is not None and s != n for s, n in zip(self.sizes, network.sizes))):
            return False
        if batch is not None and self.batch is not None and batch != self.batch:
            return False
        return not (dtype is not None and self.dtype is not None and dtype != self.dtype)


@dataclass
class Target:
    """Code under test plus the family of networks it supports."""

    name: str
    fn: Callable
    family: Family = field(default_factory=Family)
    returns: str = "grads"
    lr: float | None = None
    file: str | None = None
    #: True when ``fn`` takes the network as a keyword (the reference does; it covers every family).
    takes_network: bool = False
    options: dict = field(default_factory=dict)

    @property
    def has_bias(self) -> bool:
        """False for bias-free layers (``bias=False``: params arrive as ``[(W1, None), ...]``)."""
        return getattr(self.family, "bias", self.options.get("bias", True)) is not False

    def run(self, network, X: np.ndarray, Y: np.ndarray, params) -> dict[str, Any]:
        """Call the target on fresh copies and return its gradients by name (values as returned)."""
        fresh = [(_fresh(W), None if b is None else _fresh(b)) for W, b in params]
        args = (_fresh(X), _fresh(Y), fresh)
        out = self.fn(*args, network=network) if self.takes_network else self.fn(*args)
        grads = unpack(out, network.depth, what="parameters" if self.returns == "update" else "gradients",
                       dtype=X.dtype.name, bias=self.has_bias,
                       intermediates=self.takes_network or bool(self.options.get("intermediates")))
        if self.returns == "update":
            grads = _from_update(grads, params, self.lr)
        return grads


def _fresh(a):
    """A copy of ``a`` the target may change at will (``ndarray.copy`` for an array, the cheaper call)."""
    return a.copy() if type(a) is np.ndarray else np.array(a, copy=True)


def _from_update(new: dict, old, lr: float) -> dict:
    """Gradients recovered from one plain SGD step: (old - new) / lr."""
    grads = {}
    for l, (W, b) in enumerate(old, start=1):
        for name, before in ((f"W{l}", W), (f"b{l}", b)):
            after = new.get(name)
            if isinstance(after, Rejected) or (b is None and name[0] == "b"):
                grads[name] = after  # compare() names what came back
                continue
            try:
                after_arr = np.asarray(after, dtype=np.float64)
                if after_arr.size == before.size:
                    after_arr = after_arr.reshape(before.shape)
                grads[name] = (before.astype(np.float64) - after_arr) / lr if after is not None else None
            except (TypeError, ValueError):
                grads[name] = after  # let compare() name what came back
    return grads


# -- the reference, a target that covers every family -------------------------------

def _reference_fn(X, Y, params, *, network):
    from crosscheck.reference import MLP
    net = MLP(network.sizes, network.activations, params)
    _, grads = net.gradients(X, Y, network.loss, network.reduction)
    return grads


def reference_target() -> Target:
    """The reference NumPy implementation, every tensor including intermediates."""
    return Target("reference", _reference_fn, Family(), takes_network=True, file="reference/network.py")


# -- the decorator users write --------------------------------------------------------

def audit_target(fn: Callable | None = None, *, activations: Sequence[str] | None = None, loss: str | None = None,
                 reduction: str = "mean", sizes: Sequence[int | None] | None = None, batch: int | None = None,
                 dtype: str = "float64", returns: str = "grads", lr: float | None = None, **options):
    """Declare a function ``(X, Y, params) -> grads`` as a target for ``crosscheck audit``.

    Arguments are checked here; a mistake raises ``TargetError`` saying which
    argument is wrong and what it accepts. The declaration is stored on the
    function as ``__crosscheck_target__``; the function itself is unchanged.

    Training code: with ``returns="update"``, ``optimizer`` (``sgd``, ``momentum``,
    ``adam``, ``adamw``), ``steps`` (default 1) and torch.optim's hyperparameters
    by torch.optim's names (``momentum``, ``dampening``, ``nesterov``, ``betas``,
    ``eps``, ``weight_decay``; ``lr`` as above) declare a function that returns the
    parameters after ``steps`` updates; ``crosscheck.judge.trajectory`` compares it with
    torch.optim. If the function takes a ``steps`` keyword it is called with 1..steps
    to find the first step that diverges. ``returns="update", lr=...`` alone stays
    one plain SGD step, checked as gradients.
    """
    if fn is not None:
        raise TargetError("use @audit_target(activations=[...], loss=...) with arguments, not bare @audit_target")
    family, extra = _check_declaration(activations, loss, reduction, sizes, batch, dtype, returns, lr, options)

    def mark(f: Callable) -> Callable:
        if not callable(f):
            raise TargetError(f"@audit_target decorates a function, got {type(f).__name__}")
        f.__crosscheck_target__ = dict(family=family, returns=returns, lr=lr, options=extra)
        return f

    return mark


def _check_declaration(activations, loss, reduction, sizes, batch, dtype, returns, lr, options):
    def fail(msg):
        raise TargetError(f"@audit_target: {msg}")

    if activations is None or isinstance(activations, str) or not isinstance(activations, Sequence) or not activations:
        fail("activations is required: a list with one name per dense layer, "
             f"from {', '.join(ACTIVATIONS)} (got {activations!r})")
    bad = [a for a in activations if a not in ACTIVATIONS]
    if bad:
        fail(f"unknown activation(s) {bad}; choose from {', '.join(ACTIVATIONS)}")
    if loss not in AUDIT_LOSSES and loss not in LOSSES:
        fail(f"loss is required and must be one of {', '.join(AUDIT_LOSSES)} (got {loss!r})")
    if activations[-1] not in OUTPUT_ACTIVATIONS[loss]:
        fail(f"loss {loss!r} needs the last activation to be one of {OUTPUT_ACTIVATIONS[loss]}, "
             f"got {activations[-1]!r}")
    if reduction not in REDUCTIONS:
        fail(f"reduction must be 'mean' or 'sum' (got {reduction!r})")
    if sizes is not None:
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or len(sizes) != len(activations) + 1:
            fail(f"sizes must be a list of len(activations)+1 = {len(activations) + 1} entries, "
                 f"each an int or None (got {sizes!r})")
        if any(s is not None and (not isinstance(s, int) or isinstance(s, bool) or s < 1) for s in sizes):
            fail(f"each entry of sizes must be a positive int or None (got {list(sizes)})")
        sizes = tuple(sizes)
    if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or batch < 1):
        fail(f"batch must be a positive int or None (got {batch!r})")
    if dtype not in DTYPES:
        fail(f"dtype must be 'float64' or 'float32' (got {dtype!r})")
    if returns not in RETURNS:
        fail(f"returns must be 'grads' or 'update' (got {returns!r})")
    if returns == "update":
        if lr is None or isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (lr > 0 and math.isfinite(lr)):
            fail(f"returns='update' needs lr, the positive learning rate of the update (got {lr!r})")
    elif lr is not None and (not isinstance(lr, (int, float)) or lr <= 0):
        fail(f"lr must be a positive number (got {lr!r})")
    unknown = sorted(set(options) - set(EXTRA_OPTIONS))
    if unknown:
        fail(f"unknown argument(s) {', '.join(unknown)}; it takes activations, loss, reduction, sizes, batch, "
             f"dtype, returns, lr" + (", " + ", ".join(EXTRA_OPTIONS) if EXTRA_OPTIONS else ""))
    if not isinstance(options.get("intermediates", False), bool):
        fail(f"intermediates must be True or False (got {options['intermediates']!r})")
    training = {k: v for k, v in options.items() if k in TRAINING_OPTIONS}
    if training:
        try:
            check_training_options(returns, lr, training)
        except SpecError as e:
            fail(str(e))
    family = Family(tuple(activations), loss, reduction, sizes, batch, dtype)
    return family, options
