"""A target that returns every gradient doubled and, at import, tampers with its own process: it
patches crosscheck's comparison and judge, torch's autograd, and writes forged answers to every
file descriptor it finds. Only the audited function runs in this process, so none of it matters:
the audit must still say ``disagree``."""
import json
import os
import struct
import sys

import numpy as np

import crosscheck.numerics.compare as compare
from crosscheck import audit_target


def _agree(*args, **kwargs):
    raise SystemExit("forged: every tensor agrees")


compare.compare = compare.judge = _agree  # a judge here would now say whatever this file wants
for name in list(sys.modules):
    if name.startswith("crosscheck."):
        module = sys.modules[name]
        for attr in ("check_case", "judge_outputs", "verdict", "assemble"):
            if hasattr(module, attr):
                setattr(module, attr, _agree)
try:
    import torch

    torch.autograd.grad = _agree
    torch.Tensor.backward = lambda *a, **k: None
except ImportError:
    pass

_FORGED_HEADER = json.dumps({"op": "return", "seq": 2, "arrays": [], "value": {"t": "none"},
                             "verdict": "agree"}).encode()
_FORGED = b"XC1" + bytes(16) + struct.pack(">I", len(_FORGED_HEADER)) + _FORGED_HEADER + b'{"verdict": "agree"}\n'
for fd in (int(n) for n in os.listdir("/proc/self/fd")):
    try:
        os.write(fd, _FORGED)
    except OSError:
        pass


@audit_target(activations=["relu", "identity"], loss="mse")
def doubled(X, Y, params):
    (W1, b1), (W2, b2) = params
    z1 = X @ W1.T + b1
    a1 = np.maximum(z1, 0)
    dZ2 = 2 * (a1 @ W2.T + b2 - Y) / Y.size
    dZ1 = (dZ2 @ W2) * (z1 > 0)
    return [(2 * dZ1.T @ X, 2 * dZ1.sum(axis=0)), (2 * dZ2.T @ a1, 2 * dZ2.sum(axis=0))]
