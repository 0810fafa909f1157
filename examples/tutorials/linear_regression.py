"""Linear regression with one feature, y = w x + b, fitted by gradient descent.

The cost is *half* the mean squared error, J = 1/(2m) * sum((w x + b - y)^2),
chosen so that the 2 of the square cancels in the derivative:

    dJ/dw = 1/m * sum((w x + b - y) x)        dJ/db = 1/m * sum(w x + b - y)

That is right for J. It is half the gradient of the plain mean squared error
that torch's ``mse_loss`` computes: a convention, not a mistake, and an audit
should say so rather than hide it.

Run it: ``python linear_regression.py``.
"""
import numpy as np


def predict(x, w, b):
    return w * x + b


def cost(x, y, w, b):
    m = len(x)
    return float(np.sum((predict(x, w, b) - y) ** 2) / (2 * m))


def gradients(x, y, w, b):
    m = len(x)
    error = predict(x, w, b) - y
    dw = np.sum(error * x) / m
    db = np.sum(error) / m
    return dw, db


def fit(x, y, learning_rate=0.1, epochs=500):
    w, b = 0.0, 0.0
    for epoch in range(epochs):
        dw, db = gradients(x, y, w, b)
        w -= learning_rate * dw
        b -= learning_rate * db
        if epoch % 100 == 0:
            print(f"epoch {epoch}: cost {cost(x, y, w, b):.5f}")
    return w, b


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, 50)
    y = 3.0 * x - 1.0 + rng.normal(0, 0.1, 50)
    w, b = fit(x, y)
    print(f"w = {w:.3f}, b = {b:.3f} (true 3, -1)")
