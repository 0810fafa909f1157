"""A softmax classifier written the way course code writes it, and its adapter.

The code takes integer labels, as most classifiers do; crosscheck passes one-hot rows
(batch, classes), and the adapter converts them back with one line: ``labels = Y.argmax(axis=1)``
(the other way round: ``Y = np.eye(classes)[labels]``).
"""
import numpy as np

from crosscheck import audit_target


def softmax_gradients(X, labels, W1, b1, W2, b2):
    """tanh hidden layer, softmax output, mean cross-entropy; the fused gradient p - y."""
    m = X.shape[0]
    h = np.tanh(X @ W1.T + b1)
    z = h @ W2.T + b2
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dz = p.copy()
    dz[np.arange(m), labels] -= 1  # p - y with integer labels
    dz /= m
    dh = (dz @ W2) * (1 - h ** 2)
    return dh.T @ X, dh.sum(axis=0), dz.T @ h, dz.sum(axis=0)


@audit_target(activations=["tanh", "softmax"], loss="cross_entropy", reduction="mean")
def softmax_classifier(X, Y, params):
    (W1, b1), (W2, b2) = params
    dW1, db1, dW2, db2 = softmax_gradients(X, Y.argmax(axis=1), W1, b1, W2, b2)
    return [(dW1, db1), (dW2, db2)]
