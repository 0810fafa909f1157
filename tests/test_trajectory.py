"""k steps of the reference against k steps of torch.optim, and wrong optimizers caught at the right step."""
import re
import numpy as np
import pytest

import crosscheck.reference as r
from crosscheck.model.cases import Case, Network
from crosscheck.model.optimizer_spec import OPTIMIZERS, OptimizerSpec
from crosscheck.judge.trajectory import LOSS, TrainingCase, TrajectoryResult, check_reference, check_trajectory
from crosscheck.engine.training import fuzz_reference

NET = Network((3, 4, 2), ("tanh", "sigmoid"), "bce")
SPECS = {"sgd": OptimizerSpec.make("sgd", lr=0.5, weight_decay=0.01),
         "momentum": OptimizerSpec.make("momentum", lr=0.1, momentum=0.9, weight_decay=0.01),
         "adam": OptimizerSpec.make("adam", lr=0.01),
         "adamw": OptimizerSpec.make("adamw", lr=0.01, weight_decay=0.1)}


def case(dtype="float64", net=NET, seed=3):
    return Case(net, 5, dtype, "normal", seed)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_reference_follows_torch_optim_at_every_step(name, dtype):
    res = check_reference(TrainingCase(case(dtype), SPECS[name], 6))
    assert res.agree, res.message()
    assert res.diverged_at is None and sorted(res.per_step) == [1, 2, 3, 4, 5, 6]
    assert all({c.tensor for c in cs} == {"W1", "b1", "W2", "b2", LOSS} for cs in res.per_step.values())
    np.testing.assert_allclose(res.losses, res.torch_losses, rtol=1e-5 if dtype == "float32" else 1e-12)
    assert res.torch_losses[-1] < res.torch_losses[0]  # it trains


# -- wrong optimizers: each must be caught, and at the step where it first differs -----

class AdamBiasOffByOne(r.Adam):
    """Bias corrections with t + 1 instead of t (the counter incremented twice)."""

    def step(self, params, grads):
        self.t += 1
        super().step(params, grads)
        self.t -= 1


class AdamBiasFrozen(r.Adam):
    """Bias corrections computed with t = 1 at every step: right at the first step only."""

    def step(self, params, grads):
        t, self.t = self.t, 0
        super().step(params, grads)
        self.t = t + 1


class MomentumAfterUse(r.SGD):
    """The parameter moves with last step's buffer, then the buffer is updated: right at step 1."""

    def step(self, params, grads):
        self._begin(params, grads)
        self.buffers = self.buffers or [None] * len(params)
        for i, (p, g) in enumerate(zip(params, grads)):
            if self.buffers[i] is None:
                self.buffers[i] = g.copy()
            p -= self.lr * self.buffers[i]
            self.buffers[i] = self.momentum * self.buffers[i] + g


class DecayAfterMomentum(r.SGD):
    """Weight decay added after the momentum buffer instead of before: equal at step 1."""

    def step(self, params, grads):
        self._begin(params, grads)
        self.buffers = self.buffers or [None] * len(params)
        for i, (p, g) in enumerate(zip(params, grads)):
            buf = self.buffers[i]
            self.buffers[i] = g.copy() if buf is None else self.momentum * buf + g
            p -= self.lr * (self.buffers[i] + self.weight_decay * p)


class AdamWCoupled(r.AdamW):
    """AdamW's decay folded into the gradient (that is Adam's L2, not AdamW)."""

    decoupled = False


MUTANTS = [  # (optimizer class, spec, first step that must diverge)
    (AdamBiasOffByOne, SPECS["adam"], 1),
    (AdamBiasFrozen, SPECS["adam"], 2),
    (MomentumAfterUse, OptimizerSpec.make("momentum", lr=0.1), 2),
    (DecayAfterMomentum, SPECS["momentum"], 2),
    (AdamWCoupled, SPECS["adamw"], 1),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("mutant, spec, first", MUTANTS, ids=[m[0].__name__ for m in MUTANTS])
def test_a_wrong_optimizer_is_caught_at_the_step_it_first_differs(mutant, spec, first, dtype):
    res = check_reference(TrainingCase(case(dtype), spec, 5), make_optimizer=lambda s: mutant(**s.hyper))
    assert not res.agree and res.kind == "mismatch"
    assert res.diverged_at == first, res.message()
    assert all(c.agree for t in range(1, first) for c in res.per_step[t])  # right before it
    assert {c.tensor for c in res.failing} >= {"W2", "b2"}  # every layer's update is wrong
    assert res.message().startswith(f"diverged at step {first} of 5 of {spec.name}(")
    assert f"after step {first} of 5" in res.failing[0].message
    worst = res.divergence
    assert worst is not None and worst.max_rel_err > 1e-5


# -- user training code: how it is called -------------------------------------------------

def _grads(X, Y, params):
    net = r.MLP(NET.sizes, NET.activations, params)
    _, g = net.gradients(X, Y, "bce")
    return [g["W1"], g["b1"], g["W2"], g["b2"]]


def momentum_loop(X, Y, params, steps=4):
    """A tutorial loop with the update-before-buffer bug, taking ``steps``."""
    ps = [params[0][0], params[0][1], params[1][0], params[1][1]]
    vel = [None] * 4
    for _ in range(steps):
        for i, g in enumerate(_grads(X, Y, [(ps[0], ps[1]), (ps[2], ps[3])])):
            vel[i] = g if vel[i] is None else vel[i]
            ps[i] -= 0.1 * vel[i]
            vel[i] = 0.9 * vel[i] + g
    return [(ps[0], ps[1]), (ps[2], ps[3])]


def _target(fn, **options):
    from crosscheck.model.target import Family, Target

    return Target(fn.__name__, fn, Family(("tanh", "sigmoid"), "bce"), returns="update", lr=0.1,
                  options={"optimizer": "momentum", "steps": 4, **options})


def test_a_target_taking_steps_is_called_for_each_prefix_and_pinned_to_its_step():
    res = check_trajectory(_target(momentum_loop), case())
    assert isinstance(res, TrajectoryResult)
    assert res.diverged_at == 2 and sorted(res.per_step) == [1, 2, 3, 4] and not res.note


def test_a_target_without_steps_is_compared_after_the_last_step_only():
    def four_steps(X, Y, params):
        return momentum_loop(X, Y, params, steps=4)

    res = check_trajectory(_target(four_steps), case())
    assert sorted(res.per_step) == [4] and res.diverged_at == 4
    assert "give the function a `steps` keyword" in res.message()


def test_a_crash_is_reported_at_its_step():
    def breaks_at_three(X, Y, params, steps=4):
        if steps >= 3:
            raise FloatingPointError("overflow in exp")
        return momentum_loop(X, Y, params, steps)

    res = check_trajectory(_target(breaks_at_three), case())
    assert res.kind == "crash" and res.crash["step"] == 3
    assert res.diverged_at == 2 and sorted(res.per_step) == [1, 2]  # the steps before it are still judged
    assert res.message().startswith("crashed at step 3 of 4 of momentum(")
    assert "had diverged at step 2" in res.message() and "FloatingPointError: overflow in exp" in res.message()


def test_a_return_that_is_not_parameters_is_a_shape_finding():
    def returns_a_number(X, Y, params, steps=4):
        return 3.0

    res = check_trajectory(_target(returns_a_number), case())
    assert res.kind == "shape" and res.diverged_at == 1
    assert "expected a list of 2 (dW, db) pairs" in res.failing[0].message


def test_check_target_case_sends_training_code_to_the_trajectory_and_gradients_to_check_case():
    from crosscheck.judge.check import CaseResult
    from crosscheck.model.target import reference_target
    from crosscheck.judge.trajectory import check_target_case

    assert isinstance(check_target_case(_target(momentum_loop), case()), TrajectoryResult)
    plain = check_target_case(reference_target(), case())
    assert type(plain) is CaseResult and plain.agree


def test_a_blown_up_trajectory_is_undefined_not_a_finding():
    # MSE on huge targets with lr 1: torch itself overflows within a few steps
    net = Network((2, 3, 1), ("identity", "identity"), "mse", "sum")
    tc = TrainingCase(Case(net, 8, "float32", "large", 1), OptimizerSpec.make("momentum", lr=1.0), 12)
    res = check_reference(tc)
    assert res.agree, res.message()
    assert not np.isfinite(res.torch_losses[-1]) or "not judged" in res.note


def test_float32_overflow_of_torch_itself_is_not_a_finding():
    # found by `crosscheck train`: torch float32 overflows at some step while float64 stays finite;
    # the reference's relu backward then gives 0 * inf = NaN where torch's gives 0
    tc = TrainingCase.from_dict({"sizes": [1, 1, 1, 1], "activations": ["relu", "identity", "identity"],
                                 "loss": "mse", "batch": 1, "dtype": "float32", "regime": "saturated", "seed": 0,
                                 "optimizer": "sgd", "lr": 0.1, "steps": 4})
    res = check_reference(tc)
    step = re.search(r"overflows at this precision at step (\d+)", res.note)
    assert res.agree and step, res.note
    assert all(c.status == "undefined" for c in res.per_step[int(step.group(1))])


def test_a_saturated_softmax_loss_is_judged_within_the_rounding_of_its_log():
    # found by `crosscheck train`: the loss is about 7e-7, and the reference's log of a rounded softmax
    # probability loses eps in absolute terms (torch's log_softmax does not); that is rounding, not a bug
    tc = TrainingCase.from_dict({"sizes": [1, 2], "activations": ["softmax"], "loss": "cross_entropy",
                                 "reduction": "mean", "batch": 1, "dtype": "float64", "regime": "saturated",
                                 "seed": 0, "optimizer": "momentum", "lr": 0.1, "momentum": 0.9, "steps": 1})
    res = check_reference(tc)
    assert res.agree, res.message()
    assert 0 < res.torch_losses[0] < 1e-5  # the saturated case it was found on


def test_an_underflowed_softmax_probability_does_not_make_the_loss_infinite():
    # found by `crosscheck train`: with large data a softmax probability underflows to 0 and its log is -inf,
    # where torch's log-softmax of the logits is finite; the loss is taken from the logits
    tc = TrainingCase.from_dict({"sizes": [1, 2], "activations": ["softmax"], "loss": "cross_entropy",
                                 "reduction": "mean", "batch": 1, "dtype": "float64", "regime": "large",
                                 "seed": 1, "optimizer": "adam", "lr": 0.1, "steps": 1})
    res = check_reference(tc)
    assert res.agree, res.message()
    assert all(np.isfinite(x) for x in res.losses)


def test_training_cases_replay_from_their_dict():
    tc = TrainingCase(case("float32"), SPECS["adamw"], 7)
    assert TrainingCase.from_dict(tc.to_dict()) == tc


def test_hypothesis_finds_a_wrong_adam_at_its_step():
    from hypothesis import Phase

    run = fuzz_reference(database="none", optimizers=["adam"], steps=3, examples=5, seed=1,
                         settings={"phases": [Phase.generate]},  # shrinking is the fuzz runner's, tested there
                         make_optimizer=lambda s: AdamBiasFrozen(**s.hyper))
    assert run.findings, "the frozen bias correction went unnoticed"
    assert all(f.result.diverged_at == 2 for f in run.findings)


def test_hypothesis_fuzz_of_the_reference_agrees():
    for name in OPTIMIZERS:
        run = fuzz_reference(database="none", optimizers=[name], examples=6, seed=2)
        assert not run.findings, run.findings[0].result.message()
        assert all(isinstance(x, TrajectoryResult) for x in run.results)
