"""Training loops declared with @audit_target and checked step by step against torch.optim."""
import numpy as np
import pytest

from crosscheck.model.cases import Case, Network
from crosscheck.judge.check import CaseResult
from crosscheck.model.target import Target, TargetError, audit_target
from crosscheck.judge.trajectory import TrajectoryResult, check_target_case, is_training_target

NET = Network((2, 3, 1), ("sigmoid", "sigmoid"), "bce")


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def grads(X, Y, W1, b1, W2, b2):
    """A tutorial's backward for 2-3-1 sigmoid/sigmoid with mean BCE (correct)."""
    A1 = sigmoid(X @ W1.T + b1)
    A2 = sigmoid(A1 @ W2.T + b2)
    dZ2 = (A2 - Y) / Y.size
    dZ1 = (dZ2 @ W2) * A1 * (1 - A1)
    return [dZ1.T @ X, dZ1.sum(0), dZ2.T @ A1, dZ2.sum(0)]


DECL = dict(activations=["sigmoid", "sigmoid"], loss="bce", sizes=[2, 3, 1])


@audit_target(**DECL, returns="update", optimizer="adam", lr=0.05, betas=(0.8, 0.99), steps=6)
def adam_loop(X, Y, params, steps=6):
    ps = [a for pair in params for a in pair]
    m, v = [np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps]
    for t in range(1, steps + 1):
        for p, mi, vi, g in zip(ps, m, v, grads(X, Y, *ps)):
            mi[:] = 0.8 * mi + 0.2 * g
            vi[:] = 0.99 * vi + 0.01 * g * g
            p -= 0.05 * (mi / (1 - 0.8 ** t)) / (np.sqrt(vi / (1 - 0.99 ** t)) + 1e-8)
    return [(ps[0], ps[1]), (ps[2], ps[3])]


@audit_target(**DECL, returns="update", optimizer="adam", lr=0.05, betas=(0.8, 0.99), steps=6)
def adam_loop_bias_from_zero(X, Y, params, steps=6):
    """The step counter starts at 0 and is used before it is incremented, except at the first step."""
    ps = [a for pair in params for a in pair]
    m, v = [np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps]
    for t in range(steps):
        for p, mi, vi, g in zip(ps, m, v, grads(X, Y, *ps)):
            mi[:] = 0.8 * mi + 0.2 * g
            vi[:] = 0.99 * vi + 0.01 * g * g
            k = max(t, 1)
            p -= 0.05 * (mi / (1 - 0.8 ** k)) / (np.sqrt(vi / (1 - 0.99 ** k)) + 1e-8)
    return [(ps[0], ps[1]), (ps[2], ps[3])]


@audit_target(**DECL, returns="update", lr=0.5)
def one_sgd_step(X, Y, params):
    ps = [a for pair in params for a in pair]
    for p, g in zip(ps, grads(X, Y, *ps)):
        p -= 0.5 * g
    return [(ps[0], ps[1]), (ps[2], ps[3])]


def as_target(fn) -> Target:
    """The Target the audit loader builds from a decorated function."""
    d = fn.__crosscheck_target__
    return Target(fn.__name__, fn, d["family"], d["returns"], d["lr"], options=dict(d["options"]))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_correct_adam_loop_agrees_at_every_step(dtype):
    res = check_target_case(as_target(adam_loop), Case(NET, 4, dtype, "normal", 7))
    assert isinstance(res, TrajectoryResult) and res.agree, res.message()
    assert sorted(res.per_step) == [1, 2, 3, 4, 5, 6]
    assert res.optimizer.hyper["betas"] == (0.8, 0.99)


def test_an_adam_loop_with_a_late_step_counter_diverges_at_step_2():
    res = check_target_case(as_target(adam_loop_bias_from_zero), Case(NET, 4, "float64", "normal", 7))
    assert res.kind == "mismatch" and res.diverged_at == 2, res.message()
    assert res.failing_parameters() == ["W1", "b1", "W2", "b2"]


def test_one_plain_sgd_step_is_still_checked_as_gradients():
    target = as_target(one_sgd_step)
    assert not is_training_target(target)
    res = check_target_case(target, Case(NET, 4, "float64", "normal", 7))
    assert type(res) is CaseResult and res.agree


@pytest.mark.parametrize("kwargs, message", [
    (dict(returns="grads", optimizer="adam"), "optimizer= declares training code: add returns='update'"),
    (dict(returns="update", lr=0.1, optimizer="adam", momentum=0.9), "adam does not take momentum"),
    (dict(returns="update", lr=0.1, optimizer="rmsprop"), "optimizer must be one of sgd, momentum, adam, adamw"),
    (dict(returns="update", lr=0.1, steps=0), "steps must be an int from 1 to 1000"),
    (dict(returns="update", optimizer="adam", steps=3), "returns='update' needs lr"),
    (dict(returns="update", lr=0.1, optimizer="adam", betas=(0.9, 1.5)), r"betas\[1\] must be in \[0, 1\)"),
    (dict(returns="update", lr=0.1, optimiser="adam"), "unknown argument"),
])
def test_bad_training_declarations_say_what_to_fix(kwargs, message):
    with pytest.raises(TargetError, match=message):
        audit_target(**DECL, **kwargs)
