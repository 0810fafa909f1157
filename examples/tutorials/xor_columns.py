"""A 2-4-1 neural network learns XOR.

Written the way many course notebooks write it: column layout, so the data
matrix X has one *column* per example (shape (n_x, m)), W1 is (n_h, n_x), the
biases are column vectors (n_h, 1), and the gradients come back in a dict.
Sigmoid hidden layer, sigmoid output, binary cross-entropy averaged over the
m examples.

Run it: ``python xor_columns.py``.
"""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def initialize_parameters(n_x, n_h, n_y, seed=2):
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.standard_normal((n_h, n_x)),
        "b1": np.zeros((n_h, 1)),
        "W2": rng.standard_normal((n_y, n_h)),
        "b2": np.zeros((n_y, 1)),
    }


def forward_propagation(X, parameters):
    W1, b1, W2, b2 = parameters["W1"], parameters["b1"], parameters["W2"], parameters["b2"]
    Z1 = W1 @ X + b1
    A1 = sigmoid(Z1)
    Z2 = W2 @ A1 + b2
    A2 = sigmoid(Z2)
    cache = {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}
    return A2, cache


def compute_cost(A2, Y):
    m = Y.shape[1]
    logprobs = Y * np.log(A2) + (1 - Y) * np.log(1 - A2)
    return float(-np.sum(logprobs) / m)


def backward_propagation(parameters, cache, X, Y):
    m = X.shape[1]
    W2 = parameters["W2"]
    A1, A2 = cache["A1"], cache["A2"]

    dZ2 = A2 - Y                      # sigmoid and cross-entropy together
    dW2 = dZ2 @ A1.T / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = (W2.T @ dZ2) * A1 * (1 - A1)
    dW1 = dZ1 @ X.T / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def update_parameters(parameters, grads, learning_rate=1.2):
    return {name: parameters[name] - learning_rate * grads["d" + name] for name in parameters}


def nn_model(X, Y, n_h=4, num_iterations=10000, learning_rate=1.2, print_cost=False):
    parameters = initialize_parameters(X.shape[0], n_h, Y.shape[0])
    for i in range(num_iterations):
        A2, cache = forward_propagation(X, parameters)
        grads = backward_propagation(parameters, cache, X, Y)
        parameters = update_parameters(parameters, grads, learning_rate)
        if print_cost and i % 1000 == 0:
            print(f"cost after iteration {i}: {compute_cost(A2, Y):.6f}")
    return parameters


if __name__ == "__main__":
    X = np.array([[0, 0, 1, 1],
                  [0, 1, 0, 1]], dtype=float)
    Y = np.array([[0, 1, 1, 0]], dtype=float)
    parameters = nn_model(X, Y, print_cost=True)
    predictions, _ = forward_propagation(X, parameters)
    print("predictions:", np.round(predictions, 3))
