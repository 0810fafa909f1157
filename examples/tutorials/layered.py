"""A small layered framework: every layer has ``forward``, ``backward(grad)`` and ``update(lr)``.

Written the way "build your own deep-learning library" posts write it. Dense
layers keep torch's layout (W of shape (out, in), b of shape (out,), rows are
examples), activations are layers of their own, and the loss has a forward and
a backward too. ``backward`` takes the gradient of the loss with respect to
the layer's output and returns it with respect to the layer's input, keeping
the parameter gradients on the layer (``dW``, ``db``) for ``update``.

Run it: ``python layered.py``.
"""
import numpy as np


class Dense:
    """y = x W^T + b;  dW = g^T x,  db = sum_rows(g),  dx = g W."""

    def __init__(self, n_in, n_out, rng):
        bound = np.sqrt(6 / (n_in + n_out))
        self.W = rng.uniform(-bound, bound, (n_out, n_in))
        self.b = np.zeros(n_out)

    def forward(self, x):
        self.x = x
        return x @ self.W.T + self.b

    def backward(self, grad):
        self.dW = grad.T @ self.x
        self.db = grad.sum(axis=0)
        return grad @ self.W

    def update(self, lr):
        self.W -= lr * self.dW
        self.b -= lr * self.db


class Activation:
    """Element-wise y = f(x); dx = g * f'(x). No parameters."""

    def update(self, lr):
        pass


class ReLU(Activation):
    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, grad):
        return grad * (self.x > 0)


class LeakyReLU(Activation):
    def __init__(self, slope=0.01):
        self.slope = slope

    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, self.slope * x)

    def backward(self, grad):
        return grad * np.where(self.x > 0, 1, self.slope).astype(grad.dtype)


class Tanh(Activation):
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, grad):
        return grad * (1 - self.y ** 2)


class Sigmoid(Activation):
    def forward(self, x):
        self.y = 1 / (1 + np.exp(-x))
        return self.y

    def backward(self, grad):
        return grad * self.y * (1 - self.y)


class MeanSquaredError:
    """L = mean((p - y)^2) over every element;  dL/dp = 2 (p - y) / p.size."""

    def forward(self, pred, target):
        self.diff = pred - target
        return float(np.mean(self.diff ** 2))

    def backward(self):
        return 2 * self.diff / self.diff.size


class Network:
    def __init__(self, layers, loss):
        self.layers, self.loss = layers, loss

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self):
        grad = self.loss.backward()
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def update(self, lr):
        for layer in self.layers:
            layer.update(lr)

    def train_step(self, x, y, lr):
        cost = self.loss.forward(self.forward(x), y)
        self.backward()
        self.update(lr)
        return cost


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (128, 2))
    y = np.sin(3 * x[:, :1]) * x[:, 1:]
    net = Network([Dense(2, 16, rng), Tanh(), Dense(16, 16, rng), ReLU(), Dense(16, 1, rng)], MeanSquaredError())
    for step in range(3001):
        cost = net.train_step(x, y, lr=0.1)
        if step % 500 == 0:
            print(f"step {step}: mse {cost:.5f}")
