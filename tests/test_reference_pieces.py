"""Each activation, loss and the dense layer against torch float64, backpropagating
a random upstream gradient (an all-ones gradient could hide a bug)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import crosscheck.reference as r

TORCH_ACTIVATIONS = {
    "identity": lambda z: z,
    "sigmoid": torch.sigmoid,
    "relu": F.relu,
    "tanh": torch.tanh,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
    "softmax": lambda z: torch.softmax(z, dim=1),
}


def torch_backward(fn, *inputs, upstream):
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
    out = fn(*ts)
    out.backward(torch.tensor(upstream))
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("name", r.ACTIVATIONS)
@pytest.mark.parametrize("scale", [1.0, 50.0])  # 50: saturated sigmoid and tanh
def test_activation_forward_and_backward_match_torch(name, scale, rng):
    z = rng.standard_normal((7, 5)) * scale
    z[0, 0] = 0.0  # the kink: torch's relu'(0) = 0, leaky_relu'(0) = 0.01
    upstream = rng.standard_normal(z.shape)
    act = r.activation(name)
    a = act.forward(z)
    dz = act.backward(upstream)
    ta, (tdz,) = torch_backward(TORCH_ACTIVATIONS[name], z, upstream=upstream)
    # NOTE: softmax as exp(log a): a tiny probability's log is large, and one ulp of it is
    # |log a| ulps of a (about 1e-14 relative at a = 1e-64)
    np.testing.assert_allclose(a, ta, rtol=1e-12 if name == "softmax" else 1e-14, atol=1e-300)
    # NOTE: at saturation 1 - a² and a (1 - a) cancel: one ulp of a moves them by
    # eps relative to the upstream gradient, not to their own tiny value.
    np.testing.assert_allclose(dz, tdz, rtol=1e-13, atol=4 * np.finfo(float).eps * np.abs(upstream).max())


def test_sigmoid_is_stable_far_from_zero():
    z = np.array([[-800.0, -40.0, 0.0, 40.0, 800.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is the right answer
        a = r.Sigmoid().forward(z)
    assert np.all(np.isfinite(a)) and a[0, 0] == 0.0 and a[0, -1] == 1.0


TORCH_LOSSES = {"mse": F.mse_loss, "bce": F.binary_cross_entropy,
                "bce_with_logits": F.binary_cross_entropy_with_logits}


@pytest.mark.parametrize("name", sorted(TORCH_LOSSES))
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_loss_value_and_gradient_match_torch(name, reduction, rng):
    a = rng.standard_normal((6, 3))
    if name == "bce":
        a = 1 / (1 + np.exp(-a))
    y = rng.uniform(0, 1, a.shape) if name != "mse" else rng.standard_normal(a.shape)
    loss = r.loss(name, reduction)
    value = loss.forward(a, y)
    grad = loss.backward()
    ta = torch.tensor(a, requires_grad=True)
    tv = TORCH_LOSSES[name](ta, torch.tensor(y), reduction=reduction)
    tv.backward()
    np.testing.assert_allclose(value, tv.item(), rtol=1e-14)
    np.testing.assert_allclose(grad, ta.grad.numpy(), rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_bce_matches_torch_clamps_at_saturated_probabilities(reduction):
    """torch clamps each log at -100 and the backward's denominator at 1e-12 (a float32 constant)."""
    a = np.array([[0.0, 1.0, 1e-300, 1 - 1e-16, 0.5]])
    y = np.array([[1.0, 0.0, 1.0, 0.0, 1.0]])
    loss = r.loss("bce", reduction)
    value, grad = loss.forward(a, y), loss.backward()
    ta = torch.tensor(a, requires_grad=True)
    tv = F.binary_cross_entropy(ta, torch.tensor(y), reduction=reduction)
    tv.backward()
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    np.testing.assert_array_equal(value, tv.item())
    np.testing.assert_array_equal(grad, ta.grad.numpy())


def test_dense_layer_matches_torch_linear(rng):
    X = rng.standard_normal((5, 4))
    W, b = rng.standard_normal((3, 4)), rng.standard_normal(3)
    upstream = rng.standard_normal((5, 3))
    layer = r.Dense(W, b)
    Z = layer.forward(X)
    dW, db, dX = layer.backward(upstream)
    tZ, (tdX, tdW, tdb) = torch_backward(F.linear, X, W, b, upstream=upstream)
    np.testing.assert_allclose(Z, tZ, rtol=1e-13)
    for got, want in ((dW, tdW), (db, tdb), (dX, tdX)):
        np.testing.assert_allclose(got, want, rtol=1e-13)


def test_dense_rejects_wrong_layouts():
    with pytest.raises(ValueError, match=r"W of shape \(out, in\)"):
        r.Dense(np.zeros((3, 4)), np.zeros(4))


def test_mlp_rejects_mismatched_parameters():
    with pytest.raises(ValueError, match="layer 1: expected W1 \\(3, 2\\)"):
        r.MLP([2, 3, 1], ["relu", "sigmoid"], [(np.zeros((2, 3)), np.zeros(3)), (np.zeros((1, 3)), np.zeros(1))])


def test_mlp_backward_names_every_gradient(rng):
    net = r.MLP([3, 4, 2], ["tanh", "sigmoid"], rng=rng)
    _, grads = net.gradients(rng.standard_normal((5, 3)), rng.uniform(0, 1, (5, 2)), "bce")
    assert set(grads) == {"W1", "b1", "W2", "b2", "dZ1", "dA1", "dZ2", "dA2", "dX"}
    assert grads["W1"].shape == (4, 3) and grads["b2"].shape == (2,) and grads["dX"].shape == (5, 3)


def test_xor_trains_with_sgd():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    Y = np.array([[0], [1], [1], [0]], dtype=float)
    net = r.MLP([2, 4, 1], ["sigmoid", "sigmoid"], rng=np.random.default_rng(1))
    history = r.train(net, X, Y, loss="bce", optimizer=r.SGD(lr=2.0), steps=3000)
    assert history[-1] < history[0] / 10
    assert np.all(np.abs(net(X) - Y) < 0.1)
