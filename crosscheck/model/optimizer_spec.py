"""Which optimizer a training trajectory uses, with which hyperparameters.

``OptimizerSpec`` names one of ``OPTIMIZERS`` and holds torch.optim's
hyperparameters under torch.optim's own names (``lr``, ``momentum``,
``dampening``, ``nesterov``, ``betas``, ``eps``, ``weight_decay``); it builds
the reference optimizer (``reference.optimizers``) and the ``torch.optim`` one
from the same numbers. ``momentum`` is ``torch.optim.SGD`` with momentum 0.9
unless told otherwise.

The same names are the training keywords of ``@audit_target``
(``TRAINING_OPTIONS``), checked by ``check_training_options``. Kept free of
heavy imports: the decorator and the CLI validate with it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
_SGD_HYPER = ("lr", "momentum", "dampening", "weight_decay", "nesterov")
_ADAM_HYPER = ("lr", "betas", "eps", "weight_decay")
#: The hyperparameters each optimizer takes, named as torch.optim names them.
HYPERPARAMETERS = {"sgd": _SGD_HYPER, "momentum": _SGD_HYPER, "adam": _ADAM_HYPER, "adamw": _ADAM_HYPER}
#: torch.optim's defaults (``momentum`` is SGD with momentum 0.9; AdamW decays by 1e-2).
DEFAULTS = {
    "sgd": {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False},
    "momentum": {"lr": 1e-3, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False},
    "adam": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
    "adamw": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2},
}
#: Keyword arguments of ``@audit_target`` for training code (``lr`` is its own argument).
TRAINING_OPTIONS = ("optimizer", "steps", "momentum", "dampening", "nesterov", "betas", "eps", "weight_decay")
#: Longest trajectory a declaration or the CLI may ask for (each step is a full forward and backward).
MAX_STEPS = 1000


class SpecError(ValueError):
    """An unknown optimizer, or a hyperparameter or step count out of range."""


def _number(name: str, value, low: float, high: float = math.inf, *, high_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SpecError(f"{name} must be a finite number, got {value!r}")
    if value < low or value > high or (high_open and value >= high):
        bound = f"[{low:g}, {high:g}{')' if high_open else ']'}" if high < math.inf else f"at least {low:g}"
        raise SpecError(f"{name} must be {'in ' if high < math.inf else ''}{bound}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer name and its hyperparameters (only those it takes, defaults filled in)."""

    name: str
    hyper: dict = field(default_factory=dict, hash=False)

    @classmethod
    def make(cls, name: str, **hyper) -> "OptimizerSpec":
        """Check ``hyper`` against torch.optim's rules for ``name`` and fill in its defaults."""
        if name not in OPTIMIZERS:
            raise SpecError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
        allowed = HYPERPARAMETERS[name]
        unknown = sorted(set(hyper) - set(allowed))
        if unknown:
            raise SpecError(f"{name} does not take {', '.join(unknown)}; it takes {', '.join(allowed)}")
        values = {**DEFAULTS[name], **{k: v for k, v in hyper.items() if v is not None}}
        values["lr"] = _number("lr", values["lr"], 0.0)
        values["weight_decay"] = _number("weight_decay", values["weight_decay"], 0.0)
        if name in ("sgd", "momentum"):
            values["momentum"] = _number("momentum", values["momentum"], 0.0)
            values["dampening"] = _number("dampening", values["dampening"], 0.0, 1.0)
            if not isinstance(values["nesterov"], bool):
                raise SpecError(f"nesterov must be True or False, got {values['nesterov']!r}")
            if name == "momentum" and values["momentum"] == 0:
                raise SpecError("optimizer 'momentum' needs momentum > 0 (use 'sgd' for plain gradient descent)")
            if values["nesterov"] and (values["momentum"] <= 0 or values["dampening"] != 0):
                raise SpecError("nesterov=True needs momentum > 0 and dampening 0, as in torch.optim.SGD")
        else:
            betas = values["betas"]
            if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
                raise SpecError(f"betas must be a pair (beta1, beta2), got {betas!r}")
            values["betas"] = (_number("betas[0]", betas[0], 0.0, 1.0, high_open=True),
                               _number("betas[1]", betas[1], 0.0, 1.0, high_open=True))
            values["eps"] = _number("eps", values["eps"], 0.0)
        return cls(name, {k: values[k] for k in allowed})

    @property
    def lr(self) -> float:
        return self.hyper["lr"]

    def describe(self) -> str:
        """``adam(lr=0.01, betas=(0.9, 0.999), eps=1e-08, weight_decay=0)``."""
        def show(v):
            if isinstance(v, tuple):
                return "(" + ", ".join(show(x) for x in v) + ")"
            return f"{v:g}" if isinstance(v, float) else repr(v)
        return f"{self.name}(" + ", ".join(f"{k}={show(v)}" for k, v in self.hyper.items()) + ")"

    def to_dict(self) -> dict:
        return {"optimizer": self.name, **{k: list(v) if isinstance(v, tuple) else v for k, v in self.hyper.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> "OptimizerSpec":
        d = dict(d)
        name = d.pop("optimizer", "sgd")
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls.make(name, **d)

    def reference(self):
        """A fresh ``reference.optimizers`` instance with these hyperparameters."""
        from crosscheck.reference import optimizers

        cls = optimizers.OPTIMIZERS["sgd" if self.name == "momentum" else self.name]
        return cls(**self.hyper)

    def torch(self, params):
        """A fresh ``torch.optim`` instance over ``params`` (the single-tensor code path, as on CPU)."""
        import torch

        cls = {"sgd": torch.optim.SGD, "momentum": torch.optim.SGD,
               "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[self.name]
        return cls(params, foreach=False, **self.hyper)


def check_training_options(returns: str, lr, options: dict) -> tuple[OptimizerSpec, int]:
    """Validate the training keywords of ``@audit_target`` (``optimizer``, ``steps`` and
    hyperparameters) and return the optimizer and step count they declare."""
    if returns != "update":
        names = ", ".join(f"{k}=" for k in sorted(options))
        raise SpecError(f"{names} {'declares' if len(options) == 1 else 'declare'} training code: add "
                        f"returns='update' (the function then returns the parameters after its updates)")
    options = dict(options)
    name = options.pop("optimizer", "sgd")
    steps = options.pop("steps", 1)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise SpecError(f"steps must be an int from 1 to {MAX_STEPS}, the number of updates the function "
                        f"makes (got {steps!r})")
    if name not in OPTIMIZERS:
        raise SpecError(f"optimizer must be one of {', '.join(OPTIMIZERS)} (got {name!r})")
    return OptimizerSpec.make(name, lr=lr, **options), steps


def training_declaration(target) -> tuple[OptimizerSpec, int] | None:
    """The optimizer and step count a ``Target`` declares, or ``None`` for a target that is
    not training code (gradients, or the one plain SGD step of ``returns='update', lr=...``)."""
    if target.returns != "update" or not any(k in target.options for k in TRAINING_OPTIONS):
        return None
    options = {k: v for k, v in target.options.items() if k in TRAINING_OPTIONS}
    return check_training_options(target.returns, target.lr, options)
