"""Adapter: audit ``xor_columns.backward_propagation`` against torch.

crosscheck hands over row-layout arrays (X of shape (batch, in), W of shape
(out, in), b of shape (out,)); the tutorial wants one example per column and
column-vector biases, and returns a dict. The tutorial averages its
cross-entropy over the m examples, which is torch's mean when there is one
output unit, as in XOR: so the output width is fixed to 1 and the input and
hidden widths are drawn.
"""
import xor_columns as tutorial

from crosscheck import audit_target


@audit_target(activations=["sigmoid", "sigmoid"], loss="bce", sizes=[None, None, 1])
def xor_two_layer(X, Y, params):
    (W1, b1), (W2, b2) = params
    parameters = {"W1": W1, "b1": b1.reshape(-1, 1), "W2": W2, "b2": b2.reshape(-1, 1)}
    _, cache = tutorial.forward_propagation(X.T, parameters)
    grads = tutorial.backward_propagation(parameters, cache, X.T, Y.T)
    return [(grads["dW1"], grads["db1"].ravel()), (grads["dW2"], grads["db2"].ravel())]
