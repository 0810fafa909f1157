"""Targets that misbehave in every way a process can: each must become a finding, never our crash."""
import ctypes
import os
import sys

import numpy as np

from crosscheck import audit_target

FAMILY = dict(activations=["relu", "identity"], loss="mse")


def _grads(X, Y, params):
    (W1, b1), (W2, b2) = params
    z1 = X @ W1.T + b1
    a1 = np.maximum(z1, 0)
    dZ2 = 2 * (a1 @ W2.T + b2 - Y) / Y.size
    dZ1 = (dZ2 @ W2) * (z1 > 0)
    return [(dZ1.T @ X, dZ1.sum(axis=0)), (dZ2.T @ a1, dZ2.sum(axis=0))]


@audit_target(**FAMILY)
def raises(X, Y, params):
    raise RuntimeError("the tutorial gave up")


@audit_target(**FAMILY)
def calls_sys_exit(X, Y, params):
    sys.exit(3)


@audit_target(**FAMILY)
def calls_os_exit(X, Y, params):
    os._exit(7)


@audit_target(**FAMILY)
def segfaults(X, Y, params):
    ctypes.string_at(0)


@audit_target(**FAMILY)
def allocates_too_much(X, Y, params):
    return [np.ones(2**27), None]  # 1 GiB: fails only under the audit's memory limit


@audit_target(**FAMILY)
def returns_nan(X, Y, params):
    (dW1, db1), layer2 = _grads(X, Y, params)
    dW1 = dW1.copy()
    dW1.flat[0] = np.nan
    return [(dW1, db1), layer2]


@audit_target(**FAMILY)
def returns_strings(X, Y, params):
    return [("dW1", "db1"), ("dW2", "db2")]


@audit_target(**FAMILY)
def returns_wrong_shape(X, Y, params):
    (dW1, db1), (dW2, db2) = _grads(X, Y, params)
    return [(dW1, db1), (np.zeros((dW2.shape[0], dW2.shape[1] + 1)), db2)]


@audit_target(**FAMILY)
def returns_a_number(X, Y, params):
    return 42.0
