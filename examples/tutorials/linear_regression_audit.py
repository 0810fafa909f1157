"""Adapter: audit ``linear_regression.gradients`` against torch.

The tutorial's model is one dense layer with one input and one output and no
activation: crosscheck's network with sizes [1, 1] and the identity. Its
parameters are plain floats and its data flat vectors, so the adapter unpacks
the (1, 1) weight and the (1,) bias and the (batch, 1) columns.

Its gradient is that of half the mean squared error, so crosscheck (which
compares with torch's mean squared error) reports every tensor off by a
constant factor 0.5: a convention of the tutorial, named in the report.
"""
import numpy as np

import linear_regression as tutorial

from crosscheck import audit_target


@audit_target(activations=["identity"], loss="mse", sizes=[1, 1])
def linear_regression(X, Y, params):
    [(W, b)] = params
    dw, db = tutorial.gradients(X[:, 0], Y[:, 0], W[0, 0], b[0])
    return [(np.array([[dw]]), np.array([db]))]
