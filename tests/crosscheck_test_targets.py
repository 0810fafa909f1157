"""Target files for the plugin, replay and HTML tests: one correct target, one with a wrong factor.

``half_w1`` returns half the true dW1 (the half-MSE pattern) and nothing else
wrong, so every case fails the same way and Hypothesis shrinks it in a few
dozen cases. Both take a ReLU-identity network with the MSE loss; the
gradients come from the reference implementation.

``crosscheck_test_fixtures`` makes one report of them for all the tests.
"""
from pathlib import Path

SOURCE = '''
from crosscheck import audit_target
from crosscheck.reference import MLP


def _grads(X, Y, params):
    sizes = [X.shape[1]] + [W.shape[0] for W, _ in params]
    _, g = MLP(sizes, ["relu", "identity"], params).gradients(X, Y, "mse", "mean")
    return [(g["W1"], g["b1"]), (g["W2"], g["b2"])]


@audit_target(activations=["relu", "identity"], loss="mse")
def good(X, Y, params):
    return _grads(X, Y, params)


@audit_target(activations=["relu", "identity"], loss="mse")
def half_w1(X, Y, params):
    (dW1, db1), second = _grads(X, Y, params)
    return [(0.5 * dW1, db1), second]
'''


def write_targets(folder: Path, name: str = "my_targets.py") -> Path:
    path = Path(folder) / name
    path.write_text(SOURCE)
    return path



# -- an in-process target with findings of two kinds, for the campaign report tests --

def _some_wrong(X, Y, params, *, network):
    """Right on float64 cases, a wrong factor on W1 of float32 cases, a crash at depth 2 with width 5 input."""
    from crosscheck.reference import MLP
    if network.depth == 2 and network.sizes[0] == 5:
        raise RuntimeError("a bug of the target")
    grads = MLP(network.sizes, network.activations, params).gradients(X, Y, network.loss, network.reduction)[1]
    return {**grads, "W1": grads["W1"] * (0.5 if X.dtype.name == "float32" else 1.0)}


def some_wrong_target():
    from crosscheck.model.target import Family, Target
    return Target("some_wrong", _some_wrong, Family(), takes_network=True)
