"""Adapter: audit the layered framework of ``layered.py`` against torch.

The framework already uses crosscheck's layout (W (out, in), b (out,), rows
are examples), so the adapter only builds a ``Network`` from the parameters
and the declared activations, runs forward, loss and backward, and reads the
gradients off the dense layers. Two targets audit the same code: one deeper
network in float64, and one in float32, judged at float32 precision, through
the framework's own ``update`` step.
"""
import numpy as np

import layered as tutorial

from crosscheck import audit_target

ACTIVATION_LAYERS = {"relu": tutorial.ReLU, "leaky_relu": tutorial.LeakyReLU, "tanh": tutorial.Tanh,
                     "sigmoid": tutorial.Sigmoid, "identity": None}
LEARNING_RATE = 0.05


def build(params, activations):
    """The tutorial's Network with crosscheck's parameters in its dense layers."""
    layers, dense = [], []
    for (W, b), activation in zip(params, activations):
        layer = tutorial.Dense(W.shape[1], W.shape[0], np.random.default_rng(0))
        layer.W, layer.b = W, b
        layers.append(layer)
        dense.append(layer)
        if ACTIVATION_LAYERS[activation] is not None:
            layers.append(ACTIVATION_LAYERS[activation]())
    return tutorial.Network(layers, tutorial.MeanSquaredError()), dense


@audit_target(activations=["tanh", "relu", "identity"], loss="mse")
def layered_three_layers(X, Y, params):
    net, dense = build(params, ["tanh", "relu", "identity"])
    net.loss.forward(net.forward(X), Y)
    net.backward()
    return [(layer.dW, layer.db) for layer in dense]


@audit_target(activations=["leaky_relu", "sigmoid"], loss="mse", dtype="float32", returns="update",
              lr=LEARNING_RATE)
def layered_float32_step(X, Y, params):
    net, dense = build(params, ["leaky_relu", "sigmoid"])
    net.train_step(X, Y, LEARNING_RATE)
    return [(layer.W, layer.b) for layer in dense]
