"""The half squared error ½ Σ (a - y)², whose gradient is a - y: declared as scale=0.5, no hand factor."""
import numpy as np

from crosscheck import audit_target


def gradients(X, Y, W1, b1, W2, b2):
    h = np.tanh(X @ W1.T + b1)
    out = h @ W2.T + b2
    delta = out - Y  # d/d out of ½ Σ (out - Y)²
    dh = (delta @ W2) * (1 - h * h)
    return dh.T @ X, dh.sum(0), delta.T @ h, delta.sum(0)


@audit_target(activations=["tanh", "identity"], loss="mse", reduction="sum", scale=0.5)
def half_squared_error(X, Y, params):
    (W1, b1), (W2, b2) = params
    dW1, db1, dW2, db2 = gradients(X, Y, W1, b1, W2, b2)
    return [(dW1, db1), (dW2, db2)]
