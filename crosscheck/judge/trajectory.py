"""Training trajectories: k optimizer steps of a candidate against k steps of torch.optim.

Both sides start from the same parameters and see the same full batch at every
step. The torch side is the mirror (``oracle.mirror``, autograd through
``torch.nn.functional``) feeding ``torch.optim``; the candidate is a target
that returns parameters after its updates. After every step t = 1..K the
parameters and the loss are compared with ``compare.compare`` under the spine's
tolerance rule (``tolerance.budget``: a floor of F ulps of the layer's scale
plus K times the measured noise), the noise measured the way
``check.truth_and_noise`` measures it, now along the whole trajectory:

- truth: the torch trajectory in float64;
- noise for a float32 candidate: the larger deviation from the truth of a torch
  float32 trajectory and of a torch float32 trajectory with nudged gradients;
- noise for a float64 candidate: the larger deviation of two torch float64
  trajectories (two seeds) whose every step takes the nudged mirror's gradients,
  each element moved by its rounding allowance (``gradient_allowance``).

So a step that amplifies rounding (Adam near a small gradient, a ReLU kink, a
large learning rate) gets room in proportion. As in ``check.Judge`` the floor
comes first: the noise runs are computed only when something is outside it.
A trajectory whose torch runs drift apart by more than ``CHAOTIC`` of the
parameters' norm is chaotic at that precision and not judged from there on. The
loss may differ by what the parameters' budgets carry to it (first order).

The result reports the first step at which the candidate diverges and by how much.

How the candidate is run (``candidate_trajectory``):

- ``Target.options["trajectory"]`` true: ``fn(X, Y, params)`` returns a list of K
  parameter structures, one after each step (the reference training target);
- ``fn`` takes a ``steps`` keyword: it is called with steps=1, ..., K, so a
  divergence is pinned to the first step that shows it;
- otherwise it is called once and compared after step K only.
"""
from __future__ import annotations

import inspect
import math
import traceback
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from crosscheck.numerics import tolerance
from crosscheck.model.cases import Case
from crosscheck.judge.check import CaseResult, check_case
from crosscheck.numerics.compare import TensorComparison, as_array, compare
from crosscheck.model.optimizer_spec import OptimizerSpec, training_declaration
from crosscheck.model.target import Family, ReturnError, Target, unpack
from crosscheck.model.vocabulary import param_names, tensor_layer

LOSS = "loss"  # the tensor name of the loss in trajectory comparisons and reports


@dataclass(frozen=True)
class TrainingCase:
    """A case plus the optimizer and the number of steps: everything to replay a trajectory."""

    case: Case
    optimizer: OptimizerSpec
    steps: int

    def to_dict(self) -> dict:
        return {**self.case.to_dict(), **self.optimizer.to_dict(), "steps": self.steps}

    @classmethod
    def from_dict(cls, d: dict) -> "TrainingCase":
        from crosscheck.model.optimizer_spec import HYPERPARAMETERS

        name = d.get("optimizer", "sgd")
        hyper = {k: d[k] for k in HYPERPARAMETERS.get(name, ()) if k in d}
        return cls(Case.from_dict(d), OptimizerSpec.from_dict({"optimizer": name, **hyper}), int(d.get("steps", 1)))

    def describe(self) -> str:
        steps = f"{self.steps} step{'s' if self.steps != 1 else ''}"
        return f"{self.case.describe()}, {steps} of {self.optimizer.describe()}"


#: Independent noise runs: where rounding is amplified step after step (a large learning
#: rate), one run's error can be small by chance; the largest of two rarely is.
NOISE_RUNS = 2


@dataclass
class TorchTrajectory:
    """``params[t]``: parameters by name after step t + 1; ``losses[t]``: the loss after t steps
    (t = 0..K); ``allowances[t]``: each gradient's rounding allowance at step t + 1 (when asked)."""

    params: list[dict[str, np.ndarray]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    allowances: list[dict[str, np.ndarray]] = field(default_factory=list)
    #: ``grads[t]``: the parameters' gradients after t steps (t = 0..K), by name
    grads: list[dict[str, np.ndarray]] = field(default_factory=list)


def gradient_allowance(case: Case, X, Y, params, truth) -> dict[str, np.ndarray]:
    """How far a correct gradient of ``case`` (computed at its dtype) may be from torch, element
    by element: the spine's rounding bound (``rounding.bounds``, times ``tolerance.BOUND_MULTIPLE``)
    plus ``tolerance.FLOOR_ULPS`` ulps of the element itself. Per element, not per layer: a
    gradient that is exactly 0 (a dead unit) stays 0, where Adam would turn any room into
    a step of lr."""
    from crosscheck.numerics.rounding import bounds

    eps = tolerance.EPS[case.dtype]
    B = bounds(case.network, X, Y, params, truth.grads, case.dtype).bounds
    out = {}
    for name in param_names(case.network.depth):
        g = np.abs(np.asarray(truth.grads[name], dtype=np.float64))
        b = np.asarray(B[name], dtype=np.float64)
        b = np.where(np.isfinite(b), b, g)  # no bound: as uncertain as the value itself
        out[name] = tolerance.BOUND_MULTIPLE * b + tolerance.FLOOR_ULPS * eps * g
    return out


@np.errstate(all="ignore")
def torch_trajectory(network, X, Y, params, optimizer: OptimizerSpec, steps: int, dtype: str = "float64", *,
                     nudge_ulps: float = 0.0, seed: int = 0, shifts: list[dict] | None = None,
                     allowance_case: Case | None = None) -> TorchTrajectory:
    """``steps`` full-batch steps of ``torch.optim`` on the mirror of ``network`` at ``dtype``.

    Each step's gradients come from ``oracle.mirror`` (nudged by ``nudge_ulps``
    with seed ``seed + t`` if given) and are handed to the optimizer as ``.grad``.
    ``shifts[t]`` moves every gradient element of step t + 1 by that amount, with
    random signs. With ``allowance_case``, each step also records the spine's
    gradient allowance for that case (``gradient_allowance``).
    """
    import torch

    from crosscheck.judge.oracle import TORCH_DTYPES, mirror

    tdt = TORCH_DTYPES[dtype]
    names = param_names(network.depth)
    leaves = [torch.tensor(np.asarray(a), dtype=tdt) for W, b in params for a in (W, b)]
    opt = optimizer.torch(leaves)
    rng = np.random.default_rng([seed, 7])
    out = TorchTrajectory()
    for t in range(steps + 1):
        current = [(leaves[2 * i].numpy().copy(), leaves[2 * i + 1].numpy().copy()) for i in range(network.depth)]
        try:
            m = mirror(network, X, Y, current, dtype, intermediates=allowance_case is not None,
                       nudge_ulps=nudge_ulps, seed=seed + t)
        except RuntimeError as e:
            # NOTE: torch's BCE refuses a NaN probability; once the trajectory has blown up
            # (an overflowing output), every later value is NaN: undefined, not an error.
            if "between 0 and 1" not in str(e) and not _blown_up(network, X, current, dtype):
                raise
            _fill_nan(out, names, current, steps - t)
            break
        grads = {name: m.grads[name] for name in names}
        out.losses.append(m.loss)
        out.grads.append(grads)
        if t == steps:
            break
        if allowance_case is not None:
            out.allowances.append(gradient_allowance(allowance_case, X, Y, current, m))
        if shifts is not None:
            for name in names:
                signs = rng.choice(np.array([-1.0, 1.0]), size=grads[name].shape)
                grads[name] = grads[name] + (shifts[t][name] * signs).astype(grads[name].dtype)
        for leaf, name in zip(leaves, names):
            leaf.grad = torch.as_tensor(grads[name]).to(tdt)
        with torch.no_grad():
            opt.step()
        out.params.append({name: leaf.numpy().copy() for leaf, name in zip(leaves, names)})
    return out


def _blown_up(network, X, params, dtype: str) -> bool:
    """True when the network's output at ``params`` is NaN or inf at ``dtype``."""
    from crosscheck.reference import MLP

    with np.errstate(all="ignore"):
        P = [(np.asarray(W, dtype), np.asarray(b, dtype)) for W, b in params]
        out = MLP(network.sizes, network.activations, P).forward(np.asarray(X, dtype))
    return not np.isfinite(out).all()


def _fill_nan(out: TorchTrajectory, names, current, remaining: int) -> None:
    """The rest of a blown-up trajectory: NaN parameters, gradients and losses."""
    nan = {name: np.full(np.shape(a), np.nan) for name, a in zip(names, (a for pair in current for a in pair))}
    out.losses += [math.nan] * (remaining + 1)
    out.grads += [dict(nan) for _ in range(remaining + 1)]
    out.params += [dict(nan) for _ in range(remaining)]
    out.allowances += [dict(nan) for _ in range(remaining)]


def truth_and_noise(tc: TrainingCase, X, Y, params) -> tuple[TorchTrajectory, list[TorchTrajectory]]:
    """The float64 torch trajectory (the truth) and the runs that measure its noise at the
    case's dtype: the rule of ``check.truth_and_noise`` carried along the trajectory.

    A correct gradient may be off by its rounding allowance (``gradient_allowance``),
    which the nudged mirror does not reproduce (sums over the batch, a saturated unit's
    ``1 - a²``). So every noise run also moves each gradient element by its allowance
    divided by the noise multiple, with random signs, and the comparison's multiple turns
    that back into the allowance, carried through the optimizer (Adam near a small
    gradient scales it by up to lr / eps). Runs: float32: torch float32, then torch float32 nudged; float64: torch
    float64 nudged, ``NOISE_RUNS`` seeds.
    """
    case = tc.case
    run = lambda dtype, **kw: torch_trajectory(case.network, X, Y, params, tc.optimizer, tc.steps, dtype, **kw)
    truth = run("float64", allowance_case=case)
    shifts = [{k: v / tolerance.NOISE_MULTIPLE for k, v in a.items()} for a in truth.allowances]
    runs = [run(case.dtype, nudge_ulps=tolerance.NUDGE_ULPS, seed=case.seed + k, shifts=shifts)
            for k in range(NOISE_RUNS)]
    if case.dtype == "float32":
        runs[0] = run("float32", shifts=shifts)
    return truth, runs


def noise_of(truth, runs) -> tuple[np.ndarray, np.ndarray]:
    """(truth to judge against, noise): the largest |run - truth| over the runs. Where a run
    is NaN or inf but the truth is finite, the value is not defined at this precision: the
    truth becomes NaN there, which ``compare`` reports as undefined rather than a mismatch."""
    truth = np.asarray(truth, dtype=np.float64)
    noise = np.zeros(truth.shape)
    blown = np.zeros(truth.shape, dtype=bool)
    with np.errstate(invalid="ignore", over="ignore"):
        for r in runs:
            r = np.asarray(r, dtype=np.float64)
            blown |= ~np.isfinite(r) & np.isfinite(truth)
            noise = np.maximum(noise, np.where(np.isfinite(r), np.abs(r - truth), 0.0))
    return np.where(blown, np.nan, truth), noise


@dataclass
class TrajectoryResult(CaseResult):
    """A ``CaseResult`` for a whole trajectory.

    ``comparisons`` are the parameters' comparisons at the reported step: the
    first that diverges, else the last compared (tensor names W1, b1, ... as
    everywhere). ``per_step[t]`` holds every step's comparisons, parameters and
    ``loss``; a step whose loss alone disagrees diverges too. ``losses`` and
    ``torch_losses[t]`` are the loss after t steps of each side (t = 0..K; ``None``
    where the candidate's parameters are unknown).
    """

    optimizer: OptimizerSpec | None = None
    steps: int = 0
    per_step: dict[int, list[TensorComparison]] = field(default_factory=dict)
    losses: list[float | None] = field(default_factory=list)
    torch_losses: list[float] = field(default_factory=list)
    diverged_at: int | None = None
    reported_step: int | None = None
    note: str = ""

    @property
    def agree(self) -> bool:
        return self.crash is None and self.diverged_at is None

    @property
    def kind(self) -> str | None:
        return super().kind or (None if self.agree else "mismatch")

    @property
    def training_case(self) -> TrainingCase:
        return TrainingCase(self.case, self.optimizer, self.steps)

    @property
    def divergence(self) -> TensorComparison | None:
        """The worst comparison at the first diverging step (largest relative error)."""
        if self.diverged_at is None or self.crash is not None:
            return None
        bad = [c for c in self.per_step.get(self.diverged_at, []) if not c.agree]
        return max(bad, key=lambda c: (c.max_rel_err, c.max_abs_err)) if bad else None

    def message(self) -> str:
        if self.agree:
            return ""
        where = f"step {self.diverged_at} of {self.steps} of {self.optimizer.describe()}"
        if self.crash is not None:
            before = (f" (its parameters had diverged at step {self.diverged_at})"
                      if self.diverged_at < self.crash["step"] else "")
            return (f"crashed at step {self.crash['step']} of {self.steps} of {self.optimizer.describe()}{before}: "
                    f"{self.crash['type']}: {self.crash['message']}")
        worst = self.divergence
        head = (f"diverged at {where}" + (f" (worst: {worst.tensor}, relative error {worst.max_rel_err:.3g})"
                                          if worst is not None else ""))
        failing = [c.message for c in self.per_step.get(self.diverged_at, []) if not c.agree]
        return "\n".join([head + (f"; {self.note}" if self.note else "")] + failing)


# -- the candidate side -------------------------------------------------------------

def _call(target: Target, network, X, Y, params, **kwargs):
    fresh = [(np.array(W, copy=True), np.array(b, copy=True)) for W, b in params]
    args = (np.array(X, copy=True), np.array(Y, copy=True), fresh)
    if target.takes_network:
        kwargs["network"] = network
    return target.fn(*args, **kwargs)


def takes_steps(fn) -> bool:
    """True when ``fn`` has a parameter named ``steps`` (so it can be asked for a prefix of its loop)."""
    try:
        return "steps" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def candidate_trajectory(target: Target, network, X, Y, params, steps: int) -> list[tuple[int, Callable]]:
    """The steps the candidate can be compared at, each as ``(t, get)``: ``get()`` runs the
    candidate (lazily, so a failure is pinned to its step) and returns its parameters by name."""
    depth = network.depth
    if target.options.get("trajectory"):
        cache: list = []

        def after(t):
            if not cache:
                out = _call(target, network, X, Y, params)
                if not isinstance(out, (list, tuple)) or len(out) != steps:
                    length = f" of length {len(out)}" if hasattr(out, "__len__") else ""
                    raise ReturnError(f"returned a {type(out).__name__}{length}, expected a list of the "
                                      f"parameters after each of the {steps} steps")
                cache.append(out)
            return unpack(cache[0][t - 1], depth, what="parameters")

        return [(t, lambda t=t: after(t)) for t in range(1, steps + 1)]
    if takes_steps(target.fn):
        return [(t, lambda t=t: unpack(_call(target, network, X, Y, params, steps=t), depth, what="parameters"))
                for t in range(1, steps + 1)]
    return [(steps, lambda: unpack(_call(target, network, X, Y, params), depth, what="parameters"))]


def _by_name(params) -> dict[str, np.ndarray]:
    return {name: a for l, (W, b) in enumerate(params, start=1) for name, a in ((f"W{l}", W), (f"b{l}", b))}


def _loss_at(network, X, Y, got: dict, dtype: str) -> float | None:
    """The loss the reference network reaches with the candidate's parameters (None if they are unusable)."""
    from crosscheck.reference import MLP, loss

    params = []
    for l, (n_in, n_out) in enumerate(zip(network.sizes, network.sizes[1:]), start=1):
        W, _ = as_array(got.get(f"W{l}"), f"W{l}")
        b, _ = as_array(got.get(f"b{l}"), f"b{l}")
        if W is None or b is None or W.size != n_out * n_in or b.size != n_out:
            return None
        params.append((W.reshape(n_out, n_in).astype(dtype), b.reshape(n_out).astype(dtype)))
    with np.errstate(all="ignore"):
        if network.loss == "cross_entropy":
            # NOTE: log of an underflowed softmax probability is -inf where torch's log-softmax of the
            # logits is finite: the loss is taken as torch takes it, from the logits (numerics.forward64)
            from crosscheck.numerics import forward64

            Z, A = forward64.forward(network, X, params)
            return forward64.loss(network, A[-1], Y, logits=Z[-1])
        return float(loss(network.loss, network.reduction).forward(MLP(network.sizes, network.activations,
                                                                       params).forward(X), Y))


def _loss_scale(network, X, truth_params: dict, truth_loss: float) -> float:
    """S for the loss comparison: |L|, except for cross_entropy (see below) and bce_with_logits, where torch 2.13 computes
    each term as (1 - y) z + m + log(e^(-m) + e^(-z-m)), m = max(-z, 0), which loses
    eps · (1 + |z|) per element (the reference's log1p does not); S = reduce(1 + |z|)."""
    if not np.isfinite(truth_loss):
        return 0.0
    if network.loss == "cross_entropy":
        # NOTE: the reference takes log of a rounded softmax probability, which loses eps in absolute
        # terms per example however small the loss (torch's log_softmax does not): S = reduce(1).
        return max(abs(truth_loss), float(len(X)) if network.reduction == "sum" else 1.0)
    if network.loss != "bce_with_logits":
        return abs(truth_loss)
    from crosscheck.reference import MLP

    with np.errstate(all="ignore"):
        z = MLP(network.sizes, network.activations,
                [(truth_params[f"W{l}"], truth_params[f"b{l}"]) for l in range(1, network.depth + 1)]).forward(
            np.asarray(X, dtype=np.float64))
        terms = 1 + np.abs(z)
        scale = float(terms.mean() if network.reduction == "mean" else terms.sum())
    return max(abs(truth_loss), scale) if np.isfinite(scale) else abs(truth_loss)


#: Where torch's own runs at the candidate's precision differ from the float64 truth by
#: more than this fraction of the parameters' norm, the trajectory is chaotic (a
#: learning rate past stability): rounding decides where it goes, so it is not judged
#: from that step on. A candidate's bug that shows before is still caught.
CHAOTIC = 1e-2


def _norm(arrays) -> float:
    """The 2-norm of several arrays together, without overflow (scaled by the largest entry)."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    top = max((tolerance.magnitude(a) for a in arrays), default=0.0)
    if top == 0 or not math.isfinite(top):
        return top
    return top * math.sqrt(sum(float(np.sum(np.square(np.where(np.isfinite(a), a, 0.0) / top))) for a in arrays))


def _chaotic_from(truth: TorchTrajectory, runs: list[TorchTrajectory], steps: int) -> tuple[int, str] | None:
    """The first step at which the trajectory is chaotic at this precision, with the reason:
    torch's own runs differ from the truth by more than ``CHAOTIC`` of the parameters' norm."""
    for t in range(1, steps + 1) if runs else ():
        values = truth.params[t - 1]
        if not all(np.isfinite(v).all() for v in values.values()):
            return t, f"torch's own trajectory blows up at step {t}: not judged from there on"
        if not all(np.isfinite(r.params[t - 1][n]).all() for r in runs for n in values):
            return t, (f"torch's own trajectory overflows at this precision at step {t} (float64 stays finite): "
                       f"not judged from there on")
        size = _norm(values.values())
        spread = _norm(noise_of(v, [r.params[t - 1][n] for r in runs])[1] for n, v in values.items())
        if spread > CHAOTIC * size:
            return t, (f"chaotic from step {t}: torch's own runs at this precision differ from float64 by "
                       f"{spread / size if size else math.inf:.2g} of the parameters' norm, so rounding "
                       f"decides the trajectory; not judged from there on")
    return None


def _compare_step(got: dict, cand_loss, truth: dict, runs: list[dict], truth_loss, run_losses, loss_grads: dict,
                  dtype: str, loss_scale: float) -> list[TensorComparison]:
    """Compare one step's parameters, then its loss.

    The loss may differ by what the parameters' budgets allow, to first order,
    Σ |∂L/∂θ| · budget_θ, as well as by its own measured noise: parameters that
    agree never make a disagreeing loss (the loss is a function of them)."""
    scales: dict[int, float] = {}
    for name, value in truth.items():
        l = tensor_layer(name)
        scales[l] = max(scales.get(l, 0.0), tolerance.magnitude(value))
    out, carried = [], 0.0
    for name in truth:
        judged, noise = noise_of(truth[name], [r[name] for r in runs]) if runs else (truth[name], None)
        scale = scales[tensor_layer(name)]
        out.append(compare(name, got.get(name), judged, dtype=dtype, noise=noise, scale=scale))
        with np.errstate(invalid="ignore", over="ignore"):
            spread = np.abs(loss_grads[name]) * tolerance.budget(judged, noise, dtype, scale)
            carried += float(np.sum(np.where(np.isfinite(spread), spread, 0.0)))
    if cand_loss is not None:
        judged, noise = noise_of(truth_loss, run_losses) if runs else (np.float64(truth_loss), 0.0)
        noise = np.maximum(noise, carried / tolerance.NOISE_MULTIPLE)
        out.append(compare(LOSS, np.float64(cand_loss), judged, dtype=dtype, noise=noise, scale=loss_scale))
    return out


def check_trajectory(target: Target, case: Case, optimizer: OptimizerSpec | None = None,
                     steps: int | None = None) -> TrajectoryResult:
    """Run ``target``'s training on ``case`` and compare it with torch.optim after every step.

    ``optimizer`` and ``steps`` default to what the target declares
    (``@audit_target(returns="update", optimizer=..., steps=..., lr=...)``).
    """
    if optimizer is None or steps is None:
        declared = training_declaration(target) or (OptimizerSpec.make("sgd", lr=target.lr or 1e-3), 1)
        optimizer = optimizer or declared[0]
        steps = steps or declared[1]
    tc = TrainingCase(case, optimizer, steps)
    X, Y, params = case.arrays()
    truth = torch_trajectory(case.network, X, Y, params, optimizer, steps, "float64")
    result = TrajectoryResult(case, target.name, optimizer=optimizer, steps=steps, loss=truth.losses[0],
                              torch_losses=list(truth.losses), losses=[None] * (steps + 1))
    result.undefined = not np.isfinite(truth.losses[0])
    result.losses[0] = _loss_at(case.network, X, Y, _by_name(params), case.dtype)
    plan = candidate_trajectory(target, case.network, X, Y, params, steps)
    if len(plan) < steps:
        result.note = (f"compared after step {steps} only: give the function a `steps` keyword argument "
                       f"to find the first step that diverges")
    candidates: dict[int, dict] = {}
    for t, get in plan:
        try:
            candidates[t] = get()
        except ReturnError as e:
            result.per_step[t] = [compare(n, object(), truth.params[t - 1][n], dtype=case.dtype)
                                  for n in param_names(case.network.depth)]
            for c in result.per_step[t]:
                c.note = str(e)
            break
        except BaseException as e:  # the target's own failure is a finding, never ours
            if isinstance(e, KeyboardInterrupt):
                raise
            result.crash = {"type": type(e).__name__, "message": str(e)[:500], "step": t,
                            "traceback": "".join(traceback.format_exception(e))[-4000:]}
            break
        result.losses[t] = _loss_at(case.network, X, Y, candidates[t], case.dtype)

    @np.errstate(all="ignore")  # blown-up values are judged (undefined, nonfinite), not warned about
    def judge_all(runs):
        chaotic = _chaotic_from(truth, runs, steps)
        for t, got in candidates.items():
            if chaotic is not None and t >= chaotic[0]:
                result.per_step[t] = [compare(n, got.get(n), np.full(np.shape(a), np.nan), dtype=case.dtype)
                                      for n, a in truth.params[t - 1].items()]
                for c in result.per_step[t]:
                    c.note = chaotic[1]
                result.note = chaotic[1]
                continue
            result.per_step[t] = _compare_step(
                got, result.losses[t], truth.params[t - 1], [r.params[t - 1] for r in runs], truth.losses[t],
                [r.losses[t] for r in runs], truth.grads[t], case.dtype,
                _loss_scale(case.network, X, truth.params[t - 1], truth.losses[t]))

    # Like the spine's Judge: the floor first; the noise runs (three more torch trajectories)
    # only when something is outside it. Noise only widens the budget, so the verdict is the same.
    judge_all([])
    if any(not c.agree for t in candidates for c in result.per_step[t]):
        judge_all(truth_and_noise(tc, X, Y, params)[1])
    compared = sorted(result.per_step)
    bad = [s for s in compared if any(not c.agree for c in result.per_step[s])]
    if result.crash is not None:
        bad.append(result.crash["step"])
    result.diverged_at = min(bad) if bad else None
    result.reported_step = result.diverged_at or (compared[-1] if compared else None)
    reported = result.per_step.get(result.reported_step, [])
    result.comparisons = [c for c in reported if c.tensor != LOSS]
    for c in reported:
        if not c.agree:
            c.note = "; ".join(x for x in (c.note, f"after step {result.reported_step} of {steps}") if x)
    return result


# -- targets ------------------------------------------------------------------------

def is_training_target(target: Target) -> bool:
    """True for targets that declare an optimizer or a number of steps (checked by trajectory)."""
    return training_declaration(target) is not None


def check_target_case(target: Target, case: Case) -> CaseResult:
    """The one call for any target: the trajectory check for training code, else ``check.check_case``."""
    return check_trajectory(target, case) if is_training_target(target) else check_case(target, case)


def reference_training_target(optimizer: OptimizerSpec, steps: int, *,
                              make_optimizer: Callable[[OptimizerSpec], object] | None = None,
                              name: str | None = None) -> Target:
    """The reference (``reference.train_step`` with ``reference.optimizers``) as a training target
    covering every family; it returns the parameters after each step.

    ``make_optimizer(spec)`` replaces the reference optimizer (tests pass deliberately wrong ones).
    """
    def train(X, Y, params, *, network):
        from crosscheck.reference import MLP, loss, train_step

        net = MLP(network.sizes, network.activations, params)
        opt = make_optimizer(optimizer) if make_optimizer is not None else optimizer.reference()
        loss_fn, out = loss(network.loss, network.reduction), []
        with np.errstate(all="ignore"):  # a blown-up trajectory is judged, not warned about
            for _ in range(steps):
                train_step(net, X, Y, loss_fn, opt)
                out.append([(W.copy(), b.copy()) for W, b in net.params])
        return out

    options = {k: tuple(v) if isinstance(v, list) else v for k, v in optimizer.to_dict().items() if k != "lr"}
    return Target(name or "reference", train, Family(), returns="update", lr=optimizer.lr,
                  file="reference/optimizers.py", takes_network=True,
                  options={**options, "steps": steps, "trajectory": True})


def check_reference(tc: TrainingCase, make_optimizer: Callable[[OptimizerSpec], object] | None = None,
                    ) -> TrajectoryResult:
    """The reference's trajectory on one training case against torch.optim's."""
    target = reference_training_target(tc.optimizer, tc.steps, make_optimizer=make_optimizer)
    return check_trajectory(target, tc.case, tc.optimizer, tc.steps)
