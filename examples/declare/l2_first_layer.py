"""Book code that regularizes its first layer only, L2 written as (lambda / (2 m)) ||W1||², and its adapter."""
import numpy as np

from crosscheck import audit_target

LAMBDA = 0.7


def gradients(X, Y, W1, b1, W2, b2, lam=LAMBDA):
    """ReLU hidden layer, linear output, cost (1/m) Σ_examples Σ_outputs (a - y)² + (lam / 2m) ||W1||²."""
    m = X.shape[0]
    z1 = X @ W1.T + b1
    a1 = np.maximum(z1, 0)
    a2 = a1 @ W2.T + b2
    dz2 = 2 * (a2 - Y) / m
    dz1 = (dz2 @ W2) * (z1 > 0)
    dW1 = dz1.T @ X + (lam / m) * W1
    return dW1, dz1.sum(axis=0), dz2.T @ a1, dz2.sum(axis=0)


@audit_target(activations=["relu", "identity"], loss="mse", reduction="batch_mean",
              l2=[LAMBDA, 0.0], l2_by_batch=True)
def l2_first_layer(X, Y, params):
    (W1, b1), (W2, b2) = params
    dW1, db1, dW2, db2 = gradients(X, Y, W1, b1, W2, b2)
    return [(dW1, db1), (dW2, db2)]
