"""Reference NumPy backpropagation for multilayer perceptrons.

The correct version of what backprop tutorials teach: dense layers in torch's
layout, activations, losses and optimizers, each with its forward and backward
side by side.
"""
from .activations import ACTIVATIONS, Activation, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh, activation
from .layers import Dense
from .losses import BCE, LOSSES, MSE, BCEWithLogits, CrossEntropy, Loss, loss
from .network import MLP, Params
from .penalty import L2
from .optimizers import SGD, Adam, AdamW
from .training import train, train_step

__all__ = [
    "ACTIVATIONS", "Activation", "Identity", "LeakyReLU", "ReLU", "Sigmoid", "Softmax", "Tanh", "activation",
    "Dense", "BCE", "LOSSES", "MSE", "BCEWithLogits", "CrossEntropy", "L2", "Loss", "loss", "MLP", "Params", "SGD", "Adam", "AdamW", "train",
    "train_step",
]
