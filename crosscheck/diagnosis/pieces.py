"""Buggy versions of the reference pieces, one small override per bug.

Each class changes one method of a reference activation, dense layer or loss
the way hand-written tutorial code gets it wrong (the numbers are the patterns
of ``shared/bug-taxonomy.md``). Everything else is inherited, so a mutant is the
reference with exactly one thing wrong.

Shapes follow the reference: X (batch, in), W (out, in), b (out,),
Z = X Wᵀ + b and A = f(Z) of shape (batch, out).
"""
from __future__ import annotations

import numpy as np

from crosscheck.reference.activations import Activation, ReLU, Softmax, activation
from crosscheck.reference.layers import Dense
from crosscheck.reference.losses import CrossEntropy, Loss
from crosscheck.reference.penalty import L2
from crosscheck.model.vocabulary import LEAKY_SLOPE


def derivative(name: str, z: np.ndarray) -> np.ndarray:
    """f'(z) for an activation name, evaluated on whatever array it is given."""
    with np.errstate(over="ignore"):
        if name == "sigmoid":
            s = 1 / (1 + np.exp(-z))
            return s * (1 - s)
        if name == "tanh":
            return 1 - np.tanh(z) ** 2
        if name == "relu":
            return (z > 0).astype(z.dtype)
        if name == "leaky_relu":
            return np.where(z > 0, 1.0, LEAKY_SLOPE).astype(z.dtype)
    return np.ones_like(z)


# -- activations ------------------------------------------------------------------------

class ReLUMaskFromInput(ReLU):
    """Pattern 1: ``dZ = dA * (X > 0)``, the mask of the layer's *input* X instead of z > 0.

    Needs in == out of the layer; otherwise NumPy raises a broadcasting error
    (or silently broadcasts when one of them is 1).
    """

    def __init__(self, dense: Dense):
        self.dense = dense

    def backward(self, dA):
        return dA * (self.dense.X > 0)


class _Wrapped(Activation):
    """The reference activation's forward, with a buggy backward in a subclass.

    Caches the pre-activation ``z`` and the output ``a`` by role.
    """

    def __init__(self, name: str):
        self.base, self.name = activation(name), name

    def forward(self, z):
        self.z = z
        self.a = self.base.forward(z)
        return self.a


class DerivativeSkipped(_Wrapped):
    """Patterns 3 and 10: ``dZ = dA``, the activation derivative left out."""

    def backward(self, dA):
        return dA


class DerivativeOfUpstream(_Wrapped):
    """Pattern 5: ``dZ = dA * f'(dA)``, the derivative evaluated on the upstream gradient."""

    def backward(self, dA):
        return dA * derivative(self.name, dA)


class SigmoidPrimeOfZ(_Wrapped):
    """Pattern 6: the helper ``s (1 - s)`` expects a = σ(z) but receives z: ``dZ = dA * z (1 - z)``."""

    def backward(self, dA):
        return dA * self.z * (1 - self.z)


class SigmoidAppliedTwice(_Wrapped):
    """Pattern 6: σ applied again to a: ``dZ = dA * σ(a) (1 - σ(a))``."""

    def backward(self, dA):
        return dA * derivative("sigmoid", self.a)


class TanhPrimeOfZ(_Wrapped):
    """Pattern 7: ``dZ = dA * (1 - z²)`` instead of ``dA * (1 - a²)``."""

    def backward(self, dA):
        return dA * (1 - self.z * self.z)


class ReLUMaskNonNegative(_Wrapped):
    """Pattern 8: mask ``a >= 0``, always true after a ReLU, so backward is the identity."""

    def backward(self, dA):
        return dA * (self.a >= 0)


class LocalReplacesUpstream(_Wrapped):
    """Pattern 9: ``g = f'(z)`` instead of ``g = g * f'(z)``: the upstream gradient is dropped."""

    def backward(self, dA):
        return derivative(self.name, self.z).astype(dA.dtype, copy=False)


class DerivativeTwice(_Wrapped):
    """Pattern 11: the output derivative applied twice, ``dZ = dA * f'(z)²``
    (BCE + sigmoid written as ``(a - y) a (1 - a)``)."""

    def backward(self, dA):
        d = self.base.backward(np.ones_like(dA))
        return dA * d * d


# -- dense layers -----------------------------------------------------------------------

class Parts(Dense):
    """Buggy pieces of one dense layer, each owning part of its backward: dW ("W"), db ("b") or the
    gradient passed down ("X"); a part no piece owns is the reference's. Each piece computes its
    part from the same dZ as the reference would, so two bugs of one layer combine."""

    def __init__(self, W, b, parts: dict):
        super().__init__(W, b)
        self.pieces = dict(parts)

    def forward(self, X):
        for piece in self.pieces.values():  # each keeps the input it reads (its own cache)
            piece.forward(X)
        return super().forward(X)

    def backward(self, dZ):
        dW, db, dX = super().backward(dZ)
        for part, piece in self.pieces.items():
            piece.input_gradient = self.input_gradient
            got = piece.backward(dZ)
            if part == "W":
                dW = got[0]
            elif part == "b":
                db = got[1]
            else:
                dX = got[2]
        return dW, db, dX


class WrongLayerInput(Dense):
    """Pattern 2: ``dW = dZᵀ X0`` with the network input instead of this layer's input A_{l-1}."""

    def __init__(self, W, b, first: Dense):
        super().__init__(W, b)
        self.first = first

    def backward(self, dZ):
        _, db, dX = super().backward(dZ)
        return dZ.T @ self.first.X, db, dX


class UpstreamTypo(Dense):
    """Pattern 4: ``dX = dZ dW`` (a typo for ``dZ W``): the layers below get a wrong upstream gradient."""

    def backward(self, dZ):
        dW, db, _ = super().backward(dZ)
        return dW, db, dZ @ dW


class StrayFactor(Dense):
    """Pattern 16: one gradient (``W`` or ``b``) multiplied by a stray constant."""

    def __init__(self, W, b, tensor: str, factor: float):
        super().__init__(W, b)
        self.tensor, self.factor = tensor, factor

    def backward(self, dZ):
        dW, db, dX = super().backward(dZ)
        if self.tensor == "W":
            return dW * self.factor, db, dX
        return dW, db * self.factor, dX


class NotAveraged(Dense):
    """Pattern 15 on one tensor: ``dW`` (or ``db``) of a loss averaged over the batch left as the sum,
    ``batch`` times torch's (the other gradients divided as they should be)."""

    def __init__(self, W, b, tensor: str):
        super().__init__(W, b)
        self.tensor = tensor

    def backward(self, dZ):
        dW, db, dX = super().backward(dZ)
        m = dZ.shape[0]
        if self.tensor == "W":
            return dW * m, db, dX
        return dW, db * m, dX


class BiasNotSummed(Dense):
    """Pattern 18: ``db = dZ`` of shape (batch, out); right only at batch 1."""

    def backward(self, dZ):
        dW, _, dX = super().backward(dZ)
        return dW, dZ.copy(), dX


class BiasSummedAllAxes(Dense):
    """Pattern 19: ``db = np.sum(dZ)``, one scalar, broadcast into every entry by ``b - lr * db``."""

    def backward(self, dZ):
        dW, db, dX = super().backward(dZ)
        return dW, np.full_like(db, dZ.sum()), dX


class BiasMean(Dense):
    """Pattern 20: ``db = dZ.mean(axis=0)`` instead of the sum: 1/batch too small."""

    def backward(self, dZ):
        dW, _, dX = super().backward(dZ)
        return dW, dZ.mean(axis=0), dX


class BiasAxisSwapped(Dense):
    """Pattern 20: ``db = dZ.sum(axis=1)``, shape (batch,); a shape error unless batch == out."""

    def backward(self, dZ):
        dW, _, dX = super().backward(dZ)
        return dW, dZ.sum(axis=1), dX


class TransposedWeights(Dense):
    """Pattern 24: ``dW = Xᵀ dZ`` (the (in, out) layout) for a (out, in) weight; silent when square."""

    def backward(self, dZ):
        _, db, dX = super().backward(dZ)
        return self.X.T @ dZ, db, dX


class StaleWeights(Dense):
    """Pattern 26: W is updated (``W - lr dW``) before ``dX = dZ W`` is computed with it."""

    def __init__(self, W, b, lr: float):
        super().__init__(W, b)
        self.lr = lr

    def backward(self, dZ):
        dW, db, _ = super().backward(dZ)
        return dW, db, dZ @ (self.W - self.lr * dW)


class CacheOverwritten(Dense):
    """Pattern 27: the previous layer's activation derivative is computed in place on the cached
    activation this layer reads as its input (``a[a > 0] = 1`` for a ReLU), before ``dW = dZᵀ a``."""

    def __init__(self, W, b, previous: str):
        super().__init__(W, b)
        self.previous = previous

    def backward(self, dZ):
        a = self.X
        if self.previous == "relu":
            a[a > 0] = 1
        elif self.previous == "leaky_relu":
            a[...] = np.where(a > 0, 1.0, LEAKY_SLOPE)
        elif self.previous == "sigmoid":
            a *= 1 - a
        elif self.previous == "tanh":
            a[...] = 1 - a * a
        return super().backward(dZ)


# -- losses -----------------------------------------------------------------------------

class Rescaled(Loss):
    """Patterns 13, 14, 15, 28: the reference loss with its gradient multiplied by a
    factor that depends on the output's shape (batch, out); the loss value is unchanged."""

    def __init__(self, inner: Loss, factor):
        super().__init__(inner.reduction, inner.scale)
        self.inner, self.factor, self.name = inner, factor, inner.name

    def forward(self, a, y):
        self.shape = a.shape
        return self.inner.forward(a, y)

    def forward_log(self, log_a, y):
        """Cross-entropy's fused entry (``reference.losses.CrossEntropy``)."""
        self.shape = log_a.shape
        return self.inner.forward_log(log_a, y)

    def backward(self):
        batch, out = self.shape
        return self.inner.backward() * self.factor(batch, out)


# -- softmax with cross-entropy -----------------------------------------------------------

class SoftmaxBackwardOnFused(CrossEntropy):
    """Pattern 30: the softmax backward applied on top of the fused gradient:
    dZ = s (p - y) p (1 - p) instead of s (p - y)."""

    def backward(self):
        p = np.exp(self.log_a)
        return super().backward() * p * (1 - p)


class SoftmaxWrongAxis(Softmax):
    """Pattern 23: the softmax normalized over the batch (axis 0) instead of the classes:
    columns sum to 1, rows do not."""

    def forward(self, z):
        shifted = z - z.max(axis=0, keepdims=True)
        self.log_a = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))
        self.a = np.exp(self.log_a)
        return self.a


# -- L2 regularization --------------------------------------------------------------------

class L2WeightTerm(L2):
    """An L2 bug of the weights' term: the code adds ``(1 + ERROR) k W`` to dW where ``k W`` is due
    (and, for ``ERROR = -1``, leaves the biases' term out too).

    Each L2 bug changes what the reference's ``backward`` adds and calls it first, so that a bug
    of the weights' term (``PART`` "W") and one of the biases' ("b") combine by inheriting from
    both (``variants.combined_gradients``)."""

    PART = "W"
    ERROR = 0.0

    def backward(self, grads):
        out = super().backward(grads)
        for l, ((W, b), (kw, kb)) in enumerate(zip(self.params, self.k), start=1):
            if kw:
                out[f"W{l}"] = out[f"W{l}"] + self.ERROR * kw * W
            if self.ERROR == -1.0 and b is not None and kb:
                out[f"b{l}"] = out[f"b{l}"] - kb * b
        return out


class L2Missing(L2WeightTerm):
    """Pattern 32: the L2 term is in the loss but not in dW (nor db)."""

    ERROR = -1.0


class L2WithoutHalf(L2WeightTerm):
    """Pattern 32: the gradient of (l2 / 2) ||W||² taken as 2 l2 W (the derivative of l2 ||W||²)."""

    ERROR = 1.0


class L2Halved(L2WeightTerm):
    """Pattern 17: the L2 gradient is (l2 / 2) W instead of l2 W (code whose loss has l2' ||W||²
    takes its gradient as l2' W, where it is 2 l2' W)."""

    ERROR = -0.5


class L2OnBias(L2):
    """Pattern 32: the weights' L2 term applied to the biases too: db += k b, with the k the code
    gives the weights (the declared one, or what a bug of the weights' term makes of it: code
    that adds one ``lam * param`` to every gradient)."""

    PART = "b"

    def backward(self, grads):
        out = super().backward(grads)  # every other L2 bug first (the L2Bugs class lists this one first)
        for l, ((W, b), (kw, _)) in enumerate(zip(self.params, self.k), start=1):
            if b is None or not kw:
                continue
            ww = float(np.sum(W * W))
            k = float(np.sum((out[f"W{l}"] - grads[f"W{l}"]) * W)) / ww if ww > 0 else kw
            out[f"b{l}"] = out[f"b{l}"] + k * b
        return out


class L2WrongCount(L2):
    """Pattern 33: the L2 gradient averaged by the wrong count: divided by the batch where the
    loss is not (l2/m W), or not divided where it is (l2 W for the course's l2/(2m))."""

    PART = "W"

    def forward(self, params, batch):
        value = super().forward(params, batch)
        c = batch if self.by_batch else 1.0 / batch  # the other convention's coefficients
        self.k = [(kw * c, kb * c) for kw, kb in self.k]
        return value
