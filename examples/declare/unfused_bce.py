"""BCE differentiated unfused, dL/da = -(y / a - (1 - y) / (1 - a)): correct wherever it is finite,
but an output that rounds to exactly 0 or 1 divides by zero (sigmoid outputs round to 1 in
float64 once z > 36.7): a fragile target."""
import numpy as np

from crosscheck import audit_target


def gradients(X, Y, W1, b1, W2, b2):
    a1 = np.tanh(X @ W1.T + b1)
    a2 = 1 / (1 + np.exp(-(a1 @ W2.T + b2)))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        da2 = -(Y / a2 - (1 - Y) / (1 - a2)) / Y.size
    dz2 = da2 * a2 * (1 - a2)
    dz1 = (dz2 @ W2) * (1 - a1 ** 2)
    return dz1.T @ X, dz1.sum(0), dz2.T @ a1, dz2.sum(0)


@audit_target(activations=["tanh", "sigmoid"], loss="bce")
def unfused_bce(X, Y, params):
    (W1, b1), (W2, b2) = params
    dW1, db1, dW2, db2 = gradients(X, Y, W1, b1, W2, b2)
    return [(dW1, db1), (dW2, db2)]
