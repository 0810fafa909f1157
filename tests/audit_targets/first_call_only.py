"""Right on its first call only (it keeps state between calls): never replayed as agreeing."""
import numpy as np

from crosscheck import audit_target

CALLS = [0]


@audit_target(activations=["identity"], loss="mse", reduction="sum")
def right_once(X, Y, params):
    CALLS[0] += 1
    [(W, b)] = params
    dZ = 2 * (X @ W.T + b - Y) * (1 if CALLS[0] == 1 else 3)
    return [(dZ.T @ X, dZ.sum(axis=0))]


@audit_target(activations=["identity"], loss="mse", reduction="sum")
def noisy(X, Y, params):
    """Within rounding of the truth every time, but never the same bits twice in a row."""
    CALLS[0] += 1
    [(W, b)] = params
    dZ = 2 * (X @ W.T + b - Y)
    return [(np.nextafter(dZ.T @ X, np.inf) if CALLS[0] % 2 else dZ.T @ X, dZ.sum(axis=0))]
