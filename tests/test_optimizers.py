"""The reference optimizers against torch.optim: same arrays, same gradients, k steps."""
import inspect

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import crosscheck.reference as r
from crosscheck.model.optimizer_spec import OptimizerSpec
from crosscheck.drawing.optimizer_strategies import optimizers, step_counts


def run_both(spec: OptimizerSpec, params, grads_per_step, dtype=np.float64):
    """k steps of the reference and of torch.optim from the same arrays with the same gradients."""
    ours = [p.astype(dtype).copy() for p in params]
    theirs = [torch.tensor(p.astype(dtype)) for p in params]
    opt_ours, opt_theirs = spec.reference(), spec.torch(theirs)
    trail = []
    for grads in grads_per_step:
        opt_ours.step(ours, [g.astype(dtype) for g in grads])
        for t, g in zip(theirs, grads):
            t.grad = torch.tensor(g.astype(dtype))
        opt_theirs.step()
        trail.append(([p.copy() for p in ours], [t.numpy().copy() for t in theirs]))
    return trail


@settings(max_examples=25, deadline=None)
@given(spec=optimizers(), steps=step_counts(max_steps=8), seed=st.integers(0, 2**16))
def test_every_step_matches_torch_optim(spec, steps, seed):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((3, 2)), rng.standard_normal(3)]
    grads = [[rng.standard_normal(p.shape) * 10.0 ** rng.integers(-6, 2) for p in params] for _ in range(steps)]
    for step, (ours, theirs) in enumerate(run_both(spec, params, grads), start=1):
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14,
                                       err_msg=f"{spec.describe()} after step {step}")


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "adamw"])
def test_float32_parameters_stay_float32_and_match_torch(name):
    spec = OptimizerSpec.make(name, lr=0.01)
    rng = np.random.default_rng(0)
    params = [rng.standard_normal((4, 3)).astype(np.float32)]
    grads = [[rng.standard_normal((4, 3)).astype(np.float32)] for _ in range(5)]
    for ours, theirs in run_both(spec, params, grads, dtype=np.float32):
        assert ours[0].dtype == np.float32
        np.testing.assert_allclose(ours[0], theirs[0], rtol=2e-6, atol=1e-6)


def _defaults(cls, *names):
    sig = inspect.signature(cls.__init__)
    return {n: sig.parameters[n].default for n in names}


def test_defaults_are_torch_optims():
    sgd = ("lr", "momentum", "dampening", "weight_decay", "nesterov")
    adam = ("lr", "betas", "eps", "weight_decay")
    assert r.SGD().hyperparameters() == pytest.approx(_defaults(torch.optim.SGD, *sgd))
    assert r.Adam().hyperparameters() == _defaults(torch.optim.Adam, *adam)
    assert r.AdamW().hyperparameters() == _defaults(torch.optim.AdamW, *adam)
    assert r.AdamW().weight_decay == 1e-2 and r.Adam().weight_decay == 0


def test_sgd_first_momentum_step_is_not_dampened():
    opt = r.SGD(lr=1.0, momentum=0.9, dampening=0.5)
    p, g = np.zeros(2), np.array([1.0, -2.0])
    opt.step([p], [g])
    np.testing.assert_array_equal(p, -g)  # buffer = g at the first step, as torch
    opt.step([p], [g])
    np.testing.assert_allclose(p, -g - (0.9 * g + 0.5 * g))


def test_adam_first_step_moves_each_parameter_by_lr():
    # with bias correction the first update is lr * g / (|g| + eps') ≈ lr * sign(g)
    opt = r.Adam(lr=0.1)
    p = np.zeros(3)
    opt.step([p], [np.array([3.0, -0.5, 1e-3])])
    np.testing.assert_allclose(p, [-0.1, 0.1, -0.1], rtol=1e-4)


def test_adamw_decays_the_parameter_not_the_gradient():
    p_w, p_a = np.ones(1), np.ones(1)
    r.AdamW(lr=0.1, weight_decay=0.5).step([p_w], [np.zeros(1)])
    r.Adam(lr=0.1, weight_decay=0.5).step([p_a], [np.zeros(1)])
    np.testing.assert_allclose(p_w, [1 - 0.1 * 0.5])  # zero gradient: only the decay moves it
    np.testing.assert_allclose(p_a, [1 - 0.1], rtol=1e-6)  # L2 term 0.5 is the gradient; Adam normalizes it


@pytest.mark.parametrize("make, message", [
    (lambda: r.SGD(lr=-1), "learning rate"),
    (lambda: r.SGD(momentum=-0.1), "momentum"),
    (lambda: r.SGD(momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    (lambda: r.SGD(nesterov=True), "Nesterov"),
    (lambda: r.Adam(betas=(1.0, 0.999)), "index 0"),
    (lambda: r.Adam(betas=(0.9,)), "pair"),
    (lambda: r.AdamW(eps=-1e-8), "eps"),
    (lambda: r.Adam(weight_decay=-1), "weight"),
])
def test_bad_hyperparameters_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_state_is_bound_to_the_parameters_it_started_with():
    opt = r.Adam()
    opt.step([np.zeros(3)], [np.ones(3)])
    with pytest.raises(ValueError, match="same parameters in the same order"):
        opt.step([np.zeros(4)], [np.ones(4)])
    with pytest.raises(ValueError, match="gradient 0 has shape"):
        r.SGD().step([np.zeros(3)], [np.ones(2)])
