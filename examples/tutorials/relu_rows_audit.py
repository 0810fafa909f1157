"""Adapter: audit ``relu_rows.TwoLayerNet.train_step`` against torch.

The tutorial stores weights as (in, out) and biases as (1, out), and it returns
nothing: it updates its weights in place with plain gradient descent. So the
adapter copies crosscheck's parameters in (transposed), runs one forward pass
and one training step at the tutorial's learning rate, and hands back the
updated parameters; ``returns="update"`` tells crosscheck to recover the
gradients as (old - new) / lr.
"""
import relu_rows as tutorial

from crosscheck import audit_target

LEARNING_RATE = 0.5


@audit_target(activations=["relu", "sigmoid"], loss="mse", returns="update", lr=LEARNING_RATE)
def relu_two_layer(X, Y, params):
    (W1, b1), (W2, b2) = params
    net = tutorial.TwoLayerNet(W1.shape[1], W1.shape[0], W2.shape[0])
    net.W1, net.b1 = W1.T.copy(), b1.reshape(1, -1).copy()
    net.W2, net.b2 = W2.T.copy(), b2.reshape(1, -1).copy()
    net.forward(X)
    net.train_step(X, Y, LEARNING_RATE)
    return [(net.W1.T, net.b1.ravel()), (net.W2.T, net.b2.ravel())]
