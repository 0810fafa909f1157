"""Optimizer specs (names, hyperparameters, defaults) and the strategies that draw them."""
import pytest
from hypothesis import given, settings
from hypothesis.errors import InvalidArgument

from crosscheck.model.optimizer_spec import DEFAULTS, OPTIMIZERS, OptimizerSpec, SpecError, check_training_options, training_declaration
from crosscheck.drawing.optimizer_strategies import betas, learning_rates, momenta, optimizers, step_counts, weight_decays
from crosscheck.model.target import Target


def test_defaults_are_filled_in_and_only_the_optimizers_own_names_kept():
    spec = OptimizerSpec.make("adamw", lr=0.01)
    assert spec.hyper == {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2}
    assert OptimizerSpec.make("momentum").hyper["momentum"] == 0.9
    assert set(OptimizerSpec.make("sgd").hyper) == set(DEFAULTS["sgd"])


@pytest.mark.parametrize("name, hyper, message", [
    ("rmsprop", {}, "unknown optimizer 'rmsprop'"),
    ("adam", {"momentum": 0.9}, "adam does not take momentum"),
    ("sgd", {"betas": (0.9, 0.99)}, "sgd does not take betas"),
    ("momentum", {"momentum": 0.0}, "needs momentum > 0"),
    ("sgd", {"momentum": 0.9, "nesterov": True, "dampening": 0.1}, "nesterov=True needs"),
    ("sgd", {"nesterov": "yes"}, "nesterov must be True or False"),
    ("adam", {"betas": (0.9, 1.0)}, r"betas\[1\] must be in \[0, 1\)"),
    ("adam", {"betas": 0.9}, "betas must be a pair"),
    ("adam", {"lr": -0.1}, "lr must be at least 0"),
    ("adam", {"eps": float("nan")}, "eps must be a finite number"),
])
def test_bad_specs_say_what_is_wrong(name, hyper, message):
    with pytest.raises(SpecError, match=message):
        OptimizerSpec.make(name, **hyper)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_specs_round_trip_through_dicts(name):
    spec = OptimizerSpec.make(name, lr=0.05)
    assert OptimizerSpec.from_dict(spec.to_dict()) == spec
    assert spec.describe().startswith(f"{name}(lr=0.05")


def test_training_options_of_a_declaration():
    spec, steps = check_training_options("update", 0.1, {"optimizer": "adam", "betas": (0.8, 0.99), "steps": 4})
    assert spec.describe() == "adam(lr=0.1, betas=(0.8, 0.99), eps=1e-08, weight_decay=0)" and steps == 4
    with pytest.raises(SpecError, match="add returns='update'"):
        check_training_options("grads", None, {"optimizer": "adam"})
    with pytest.raises(SpecError, match="steps must be an int from 1"):
        check_training_options("update", 0.1, {"steps": 2.5})


def test_plain_update_targets_are_not_training_code():
    plain = Target("t", lambda X, Y, p: p, returns="update", lr=0.1)
    assert training_declaration(plain) is None
    loop = Target("t", lambda X, Y, p: p, returns="update", lr=0.1, options={"steps": 3})
    assert training_declaration(loop) == (OptimizerSpec.make("sgd", lr=0.1), 3)


@settings(max_examples=30, deadline=None)
@given(spec=optimizers())
def test_drawn_specs_are_valid_torch_optimizers(spec):
    import torch

    spec.torch([torch.zeros(2)])  # torch accepts every drawn combination
    assert 1e-4 <= spec.lr <= 1.0


@pytest.mark.parametrize("make, message", [
    (lambda: learning_rates(min_value=1.0, max_value=0.1), "larger than"),
    (lambda: learning_rates(min_value=0.0), "min_value=0.0"),
    (lambda: momenta(max_value=float("inf")), "max_value"),
    (lambda: betas(max_beta1=1.0), "max_beta1=1.0"),
    (lambda: weight_decays(max_value=-1), "max_value=-1"),
    (lambda: step_counts(min_steps=0), "min_steps=0"),
    (lambda: step_counts(min_steps=5, max_steps=2), "larger than"),
    (lambda: optimizers(names=["sgd", "lbfgs"]), "names="),
])
def test_strategy_arguments_are_checked(make, message):
    with pytest.raises(InvalidArgument, match=message):
        make()
