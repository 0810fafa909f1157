"""Broken backprop in the same layouts; each target's comment says which tensors are wrong and when."""
import numpy as np

from crosscheck import audit_target


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@audit_target(activations=["sigmoid", "sigmoid"], loss="bce")
def column_layout_no_mean(X, Y, params):
    """Forgets to divide by the number of elements: every tensor off by that factor, only when batch > 1."""
    (W1, b1), (W2, b2) = params
    X, Y = X.T, Y.T
    A1 = sigmoid(W1 @ X + b1.reshape(-1, 1))
    A2 = sigmoid(W2 @ A1 + b2.reshape(-1, 1))
    dZ2 = (A2 - Y) / Y.shape[0]  # divides by out_features, not by out_features * batch
    dZ1 = (W2.T @ dZ2) * A1 * (1 - A1)
    return [(dZ1 @ X.T, dZ1.sum(axis=1)), (dZ2 @ A1.T, dZ2.sum(axis=1))]


@audit_target(activations=["relu", "identity"], loss="mse")
def row_layout_bias_not_summed(X, Y, params):
    """db2 = dZ2 without the sum over the batch: the wrong shape, only when batch > 1."""
    (W1, b1), (W2, b2) = params
    z1 = X @ W1.T + b1
    a1 = np.maximum(z1, 0)
    dZ2 = 2 * (a1 @ W2.T + b2 - Y) / Y.size
    dZ1 = (dZ2 @ W2) * (z1 > 0)
    return [(dZ1.T @ X, dZ1.sum(axis=0)), (dZ2.T @ a1, dZ2)]


@audit_target(activations=["relu", "identity"], loss="mse")
def relu_mask_from_input(X, Y, params):
    """The hidden ReLU mask from X instead of z1: W1, b1 wrong when in == hidden, a crash otherwise."""
    (W1, b1), (W2, b2) = params
    z1 = X @ W1.T + b1
    a1 = np.maximum(z1, 0)
    dZ2 = 2 * (a1 @ W2.T + b2 - Y) / Y.size
    dZ1 = (dZ2 @ W2) * (X > 0)
    return [(dZ1.T @ X, dZ1.sum(axis=0)), (dZ2.T @ a1, dZ2.sum(axis=0))]


@audit_target(activations=["tanh", "identity"], loss="mse", returns="update", lr=0.5)
def tanh_derivative_on_z(X, Y, params):
    """1 - z^2 instead of 1 - tanh(z)^2: W1 and b1 wrong; returns updated parameters."""
    (W1, b1), (W2, b2) = params
    z1 = X @ W1.T + b1
    a1 = np.tanh(z1)
    dZ2 = 2 * (a1 @ W2.T + b2 - Y) / Y.size
    dZ1 = (dZ2 @ W2) * (1 - z1 ** 2)
    return [(W1 - 0.5 * dZ1.T @ X, b1 - 0.5 * dZ1.sum(axis=0)), (W2 - 0.5 * dZ2.T @ a1, b2 - 0.5 * dZ2.sum(axis=0))]
