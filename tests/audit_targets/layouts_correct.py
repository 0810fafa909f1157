"""Correct backprop in the layouts tutorials use; every target here must come out ``agree``."""
import numpy as np

from crosscheck import audit_target


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@audit_target(activations=["tanh", "sigmoid"], loss="bce")
def column_layout_dict(X, Y, params):
    """Examples in columns (n, m), column-vector biases, gradients in a dict keyed dW1, db1, ..."""
    (W1, b1), (W2, b2) = params
    X, Y = X.T, Y.T
    b1, b2 = b1.reshape(-1, 1), b2.reshape(-1, 1)
    A1 = np.tanh(W1 @ X + b1)
    A2 = sigmoid(W2 @ A1 + b2)
    dZ2 = (A2 - Y) / Y.size
    dZ1 = (W2.T @ dZ2) * (1 - A1 ** 2)
    g = {"dW1": dZ1 @ X.T, "db1": dZ1.sum(axis=1, keepdims=True),
         "dW2": dZ2 @ A1.T, "db2": dZ2.sum(axis=1, keepdims=True)}
    return [(g["dW1"], g["db1"]), (g["dW2"], g["db2"])]


@audit_target(activations=["relu", "identity"], loss="mse", reduction="sum", returns="update", lr=0.1)
def row_layout_update(X, Y, params):
    """Weights stored (in, out), biases (1, out); returns the weights after one SGD step."""
    (W1, b1), (W2, b2) = params
    W1, W2 = W1.T.copy(), W2.T.copy()
    b1, b2 = b1.reshape(1, -1).copy(), b2.reshape(1, -1).copy()
    z1 = X @ W1 + b1
    a1 = np.maximum(z1, 0)
    out = a1 @ W2 + b2
    d_out = 2 * (out - Y)
    d_z1 = (d_out @ W2.T) * (z1 > 0)
    W2 -= 0.1 * (a1.T @ d_out)
    b2 -= 0.1 * d_out.sum(axis=0, keepdims=True)
    W1 -= 0.1 * (X.T @ d_z1)
    b1 -= 0.1 * d_z1.sum(axis=0, keepdims=True)
    return [(W1.T, b1), (W2.T, b2)]


@audit_target(activations=["leaky_relu", "sigmoid"], loss="mse")
def per_sample_loop(X, Y, params):
    """One example at a time with outer products, summed and divided at the end."""
    (W1, b1), (W2, b2) = params
    dW1, db1, dW2, db2 = (np.zeros_like(p) for p in (W1, b1, W2, b2))
    for x, y in zip(X, Y):
        z1 = W1 @ x + b1
        a1 = np.where(z1 > 0, z1, 0.01 * z1)
        a2 = sigmoid(W2 @ a1 + b2)
        delta2 = 2 * (a2 - y) * a2 * (1 - a2)
        delta1 = (W2.T @ delta2) * np.where(z1 > 0, 1.0, 0.01)
        dW2 += np.outer(delta2, a1)
        db2 += delta2
        dW1 += np.outer(delta1, x)
        db1 += delta1
    n = Y.size
    return [(dW1 / n, db1 / n), (dW2 / n, db2 / n)]


@audit_target(activations=["relu", "tanh", "leaky_relu", "identity"], loss="mse")
def deep_named_dict(X, Y, params):
    """Four layers in torch's layout, gradients returned by crosscheck's names."""
    acts = ["relu", "tanh", "leaky_relu", "identity"]
    f = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh,
         "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z), "identity": lambda z: z}
    df = {"relu": lambda z, a: (z > 0) * 1.0, "tanh": lambda z, a: 1 - a ** 2,
          "leaky_relu": lambda z, a: np.where(z > 0, 1.0, 0.01), "identity": lambda z, a: np.ones_like(z)}
    A, cache = X, []
    for (W, b), act in zip(params, acts):
        Z = A @ W.T + b
        cache.append((A, Z, f[act](Z)))
        A = cache[-1][2]
    g = 2 * (A - Y) / Y.size
    grads = {}
    for l in range(len(params), 0, -1):
        A_prev, Z, A_out = cache[l - 1]
        dZ = g * df[acts[l - 1]](Z, A_out)
        grads[f"W{l}"], grads[f"b{l}"] = dZ.T @ A_prev, dZ.sum(axis=0)
        g = dZ @ params[l - 1][0]
    return grads


@audit_target(activations=["tanh", "identity"], loss="mse", dtype="float32")
def float32_rows(X, Y, params):
    """float32 throughout, as code that calls .astype(np.float32) on its data does."""
    (W1, b1), (W2, b2) = params
    assert X.dtype == np.float32 and W1.dtype == np.float32
    A1 = np.tanh(X @ W1.T + b1)
    out = A1 @ W2.T + b2
    dZ2 = 2 * (out - Y) / np.float32(Y.size)
    dZ1 = (dZ2 @ W2) * (1 - A1 * A1)
    return [(dZ1.T @ X, dZ1.sum(axis=0)), (dZ2.T @ A1, dZ2.sum(axis=0))]
