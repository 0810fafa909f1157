"""A two-layer network from scratch: ReLU hidden layer, sigmoid output, squared error.

Written the way many blog posts write it: one class, rows are examples
(X of shape (m, n_in)), weights stored as (n_in, n_out) so the forward pass is
``X @ W1``, and ``train_step`` updates the weights in place.

NOTE: this file is kept wrong on purpose, for ``crosscheck audit`` to find. Its
backward pass has four classic mistakes (see examples/README.md):
the ReLU mask is built from the input X instead of the hidden pre-activation,
the output weight gradient is built from X instead of the hidden activation,
the derivative of the output sigmoid is left out, and so is the factor 2 of
the squared error.

Run it: ``python relu_rows.py``.
"""
import numpy as np


def relu(x):
    return np.maximum(0, x)


def relu_derivative(x):
    return (x > 0).astype(float)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


class TwoLayerNet:
    def __init__(self, n_in, n_hidden, n_out, seed=0):
        rng = np.random.default_rng(seed)
        self.W1 = rng.standard_normal((n_in, n_hidden)) * np.sqrt(2 / n_in)
        self.b1 = np.zeros((1, n_hidden))
        self.W2 = rng.standard_normal((n_hidden, n_out)) * np.sqrt(1 / n_hidden)
        self.b2 = np.zeros((1, n_out))

    def forward(self, X):
        self.z1 = X @ self.W1 + self.b1
        self.a1 = relu(self.z1)
        self.z2 = self.a1 @ self.W2 + self.b2
        self.a2 = sigmoid(self.z2)
        return self.a2

    def loss(self, y):
        return float(np.mean((self.a2 - y) ** 2))

    def train_step(self, X, y, learning_rate):
        """Backward pass and one gradient-descent step (call ``forward`` first)."""
        output_delta = (self.a2 - y) / y.size
        hidden_delta = (output_delta @ self.W2.T) * relu_derivative(X)

        self.W2 -= learning_rate * (X.T @ output_delta)
        self.b2 -= learning_rate * np.sum(output_delta, axis=0, keepdims=True)
        self.W1 -= learning_rate * (X.T @ hidden_delta)
        self.b1 -= learning_rate * np.sum(hidden_delta, axis=0, keepdims=True)


if __name__ == "__main__":
    rng = np.random.default_rng(1)
    X = rng.standard_normal((64, 3))
    y = (X[:, :1] * X[:, 1:2] > 0).astype(float)
    net = TwoLayerNet(3, 3, 1)  # n_in == n_hidden, or the mistakes above crash it
    for epoch in range(2001):
        net.forward(X)
        if epoch % 500 == 0:
            print(f"epoch {epoch}: loss {net.loss(y):.4f}")
        net.train_step(X, y, learning_rate=0.5)
