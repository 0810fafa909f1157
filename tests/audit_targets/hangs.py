"""A target that never returns: a timeout finding, and the audit goes on."""
from crosscheck import audit_target


@audit_target(activations=["identity"], loss="mse")
def spins_forever(X, Y, params):
    while True:
        pass

CALLS = [0]


@audit_target(activations=["identity"], loss="mse")
def spins_after_five_cases(X, Y, params):
    """Right for five calls, then stuck: the five results must survive the kill."""
    CALLS[0] += 1
    while CALLS[0] > 5:
        pass
    [(W, b)] = params
    dZ = 2 * (X @ W.T + b - Y) / Y.size
    return [(dZ.T @ X, dZ.sum(axis=0))]
