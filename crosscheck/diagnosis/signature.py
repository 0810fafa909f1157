"""Signature analysis: what the difference between a gradient and torch's looks like.

Tried in order, on the failing example (``Evidence``); the first that explains
the failing tensors wins:

1. one constant factor on every gradient (named: -1 sign convention, 0.5
   half-MSE, batch or 1/batch mean/sum, out_features normalizer, ...);
2. shapes: a transposed weight gradient, a weight gradient with another
   layer's width, a bias gradient of shape (batch, out), (batch,) or ();
3. at the first diverging layer l (in backward order):
   - only dW_l wrong: transposed, a constant factor, or dZ_lᵀ C with C another
     tensor than the layer's input (the network input, a pre-activation, an
     activation derivative written over the cached activation);
   - only db_l wrong: summed over all axes, a mean, the wrong axis, a factor;
   - both wrong: dZ_l itself is wrong. It is recovered from (dW_l, db_l) by
     least squares ([dW_l db_l] = dZ_lᵀ [A_{l-1} 1], exact when the batch is at
     most in + 1; a larger batch is cut to its first rows) and compared with
     dA_l times each known wrong derivative; failing that, the upstream
     gradient dA_l = dZ_l / f'(z_l) is fitted as α dZ_{l+1} W_{l+1} + β dZ_{l+1} dW_{l+1}
     (β = 1, α = 0: a typo dW for W; α = 1, β = -lr: weights updated before use);
     failing that, the region where dZ_l differs is described against the
     activation's mask or derivative.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from crosscheck.model.vocabulary import tensor_layer
from crosscheck.diagnosis import factors
from crosscheck.diagnosis.evidence import Evidence, agrees


@dataclass
class Signature:
    label: str
    tensors: list[str]
    sentence: str
    pattern: int | None = None
    factor: float | None = None
    extra_labels: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


# -- small numerical helpers ---------------------------------------------------------------

def _near(ev: Evidence, a, b) -> bool:
    """Relative closeness for hypotheses on recovered quantities (normwise, at the case's dtype)."""
    if a is None or b is None or np.shape(a) != np.shape(b):
        return False
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return False
    scale = max(float(np.max(np.abs(b), initial=0.0)), float(np.max(np.abs(a), initial=0.0)), 1e-300)
    return float(np.max(np.abs(a - b), initial=0.0)) <= ev.tolerance() * scale


def _ratio(cands, refs) -> float | None:
    """Least-squares c with cands ≈ c refs."""
    num = sum(float(np.sum(c * r)) for c, r in zip(cands, refs))
    den = sum(float(np.sum(r * r)) for r in refs)
    return num / den if den > 0 else None


def _input_name(l: int) -> str:
    return "X" if l <= 1 else f"a{l - 1}"


def _fmt(c: float) -> str:
    return f"{c:.4g}"


# -- 1. one factor on everything ----------------------------------------------------------

def global_factor(ev: Evidence, probes=None) -> list[Signature]:
    names = [n for n in ev.network.param_names() if ev.candidate.get(n) is not None
             and ev.candidate[n].shape == ev.truth[n].shape]
    if not names or len(names) < len(ev.network.param_names()):
        return []
    c = _ratio([ev.candidate[n] for n in names], [ev.truth[n] for n in names])
    if c is None or not np.isfinite(c) or abs(c - 1) < 1e-9:
        return []
    if not all(agrees(ev, n, ev.candidate[n], c * ev.truth[n], factor=c) for n in names):
        return []
    batch, out = ev.batch, ev.network.sizes[-1]
    found = factors.explain(c, batch, out, rtol=max(ev.tolerance(), 1e-9))
    if len(found) > 1 and probes is not None:
        for other in (probes.wider_batch(), probes.wider_output()):
            if other is None or other.crash:
                continue
            c2 = _ratio([other.candidate[n] for n in names if other.candidate.get(n) is not None],
                        [other.truth[n] for n in names if other.candidate.get(n) is not None])
            if c2 is not None:
                narrowed = factors.consistent(found, c2, other.batch, other.network.sizes[-1],
                                              rtol=max(other.tolerance(), 1e-9))
                found = narrowed or found
    text = factors.describe(c, found)
    sentence = f"every gradient is {text} times torch's"
    sig = Signature("sign" if c < 0 else "scale", names, sentence, factor=c)
    if c < 0 and not np.isclose(c, -1.0):
        sig.extra_labels = ["scale"]
    if found and found[0].half == 0.5 and found[0].sizes == (0, 0) and found[0].sign > 0:
        sig.pattern = 13
    elif found and found[0].sizes_name in ("batch", "1/batch"):
        sig.pattern = 15
    elif found and found[0].sizes_name == "out_features":
        sig.pattern = 14
    elif c < 0:
        sig.pattern = 28
    return [sig]


# -- 2. shapes ------------------------------------------------------------------------------

def shapes(ev: Evidence) -> list[Signature]:
    sigs = []
    sizes = ev.network.sizes
    for name, cmp in ev.comparisons.items():
        if cmp.status not in ("shape", "missing") or name[0] not in "Wb":
            continue
        l = tensor_layer(name)
        got, want = ev.shapes.get(name, ()), tuple(ev.truth[name].shape)
        if cmp.status == "missing":
            sigs.append(Signature("shape", [name], f"{name} is not returned; expected shape {want}"))
        elif name[0] == "b" and got == (ev.batch, want[0]):
            sigs.append(Signature("bias-reduction", [name], f"db{l} has shape {got} = (batch, out): it is not "
                                  f"summed over the batch (db{l} = dZ{l} instead of dZ{l}.sum(axis=0))", 18))
        elif name[0] == "b" and got == (ev.batch,):
            sigs.append(Signature("bias-reduction", [name], f"db{l} has shape {got} = (batch,): it is summed over "
                                  f"the wrong axis (dZ{l}.sum(axis=1) instead of axis=0)", 20))
        elif name[0] == "b" and int(np.prod(got)) == 1:
            sigs.append(Signature("bias-reduction", [name], f"db{l} is one scalar (shape {got}): it is summed "
                                  f"over all axes instead of over the batch only", 19))
        elif name[0] == "W" and got == want[::-1]:
            sigs.append(Signature("transpose", [name], f"dW{l} has shape {got} = (in, out) instead of {want}: "
                                  f"it is transposed ({_input_name(l)}ᵀ dZ{l} instead of dZ{l}ᵀ {_input_name(l)})", 24))
        elif name[0] == "W" and len(got) == 2 and got[0] == want[0] and got[1] in sizes:
            width = got[1]
            which = [j for j, n in enumerate(sizes[:-1]) if n == width and j != l - 1]
            other = _input_name(which[0] + 1) if which else f"a tensor of width {width}"
            sigs.append(Signature("wrong-input", [name], f"dW{l} has shape {got}: it is computed with {other} "
                                  f"(width {width}) instead of the layer's input {_input_name(l)} (width {want[1]})",
                                  2 if other == "X" else None))
        else:
            sigs.append(Signature("shape", [name], cmp.message))
    return sigs


# -- 3. the first diverging layer --------------------------------------------------------

def first_layer(ev: Evidence) -> int | None:
    params = [n for n in ev.failing if n[0] in "Wb"]
    return tensor_layer(params[0]) if params else None


def weight_only(ev: Evidence, l: int) -> Signature | None:
    W, G, T = f"W{l}", ev.candidate.get(f"W{l}"), ev.truth[f"W{l}"]
    if G is None or G.shape != T.shape:
        return None
    if T.shape[0] == T.shape[1] and agrees(ev, W, G, T.T):
        return Signature("transpose", [W], f"dW{l} is transposed: {_input_name(l)}ᵀ dZ{l} instead of "
                         f"dZ{l}ᵀ {_input_name(l)} (silent because W{l} is square)", 24)
    dZ = ev.truth[f"dZ{l}"]
    inputs = {}
    for j in range(0, ev.depth):
        if j != l - 1:
            inputs[_input_name(j + 1)] = ev.A[j]
    if l >= 2:
        prev = ev.network.activations[l - 2]
        inputs[f"z{l - 1} (the pre-activation instead of the activation)"] = ev.Z[l - 1]
        from crosscheck.diagnosis.pieces import derivative
        inputs[f"f'(z{l - 1}), the {prev} derivative written over the cached activation a{l - 1} "
               f"(an in-place update of a cache)"] = derivative(prev, ev.Z[l - 1])
    for what, C in inputs.items():
        if C.shape == ev.A[l - 1].shape and agrees(ev, W, G, dZ.T @ C):
            pattern = 2 if what == "X" else (27 if what.startswith("f'") else None)
            return Signature("wrong-input", [W], f"dW{l} = dZ{l}ᵀ {what} instead of dZ{l}ᵀ {_input_name(l)}; "
                             f"db{l} is right, so dZ{l} is right", pattern)
    c = _ratio([G], [T])  # after the inputs: a 0/1 mask with one live unit is also a constant factor
    if c is not None and abs(c - 1) > 1e-9 and agrees(ev, W, G, c * T, factor=c):
        return Signature("scale", [W], f"dW{l} alone is {_fmt(c)} times torch's (a stray factor on one "
                         f"gradient; db{l} is right)", 16, factor=c)
    return Signature("wrong-input", [W], f"dW{l} is wrong while db{l} = Σ dZ{l} is right, so dZ{l} is right and "
                     f"the weight gradient dZ{l}ᵀ {_input_name(l)} uses another input or formula")


def bias_only(ev: Evidence, l: int) -> Signature | None:
    b, G, T = f"b{l}", ev.candidate.get(f"b{l}"), ev.truth[f"b{l}"]
    if G is None or G.shape != T.shape:
        return None
    dZ = ev.truth[f"dZ{l}"]
    if T.size > 1 and agrees(ev, b, G, np.full_like(T, dZ.sum())):
        return Signature("bias-reduction", [b], f"every entry of db{l} is the one scalar sum(dZ{l}): it is summed "
                         f"over all axes instead of over the batch only", 19)
    if ev.batch > 1 and agrees(ev, b, G, T / ev.batch, factor=1 / ev.batch):
        return Signature("bias-reduction", [b], f"db{l} is 1/batch = 1/{ev.batch} times torch's: a mean over the "
                         f"batch instead of a sum (dZ{l}.mean(axis=0))", 20, factor=1 / ev.batch)
    if dZ.shape[0] == dZ.shape[1] and agrees(ev, b, G, dZ.sum(axis=1)):
        return Signature("bias-reduction", [b], f"db{l} = dZ{l}.sum(axis=1): summed over the wrong axis "
                         f"(silent because batch == out = {ev.batch})", 20)
    c = _ratio([G], [T])
    if c is not None and abs(c - 1) > 1e-9 and agrees(ev, b, G, c * T, factor=c):
        return Signature("scale", [b], f"db{l} alone is {_fmt(c)} times torch's (a stray factor on one gradient; "
                         f"dW{l} is right)", 16, factor=c)
    return Signature("bias-reduction", [b], f"db{l} is wrong while dW{l} is right: the bias gradient is not "
                     f"dZ{l}.sum(axis=0)")


def _solved_dZ(ev: Evidence, l: int) -> tuple[np.ndarray, bool] | None:
    """The least-squares dZ_l of [dW_l db_l] = dZ_lᵀ [A_{l-1} 1] and whether it is exact; None when the
    target's dW_l, db_l are missing, misshapen or not finite, or [A_{l-1} 1] lacks the rank to
    determine dZ_l (a batch larger than the layer's input, or a layer without bias)."""
    if f"b{l}" not in ev.truth:
        return None
    GW, Gb = ev.candidate.get(f"W{l}"), ev.candidate.get(f"b{l}")
    if GW is None or Gb is None or GW.shape != ev.truth[f"W{l}"].shape or Gb.shape != ev.truth[f"b{l}"].shape:
        return None
    if not (np.all(np.isfinite(GW)) and np.all(np.isfinite(Gb))):
        return None
    M = np.hstack([ev.A[l - 1], np.ones((ev.batch, 1))])
    if np.linalg.matrix_rank(M) < ev.batch:
        return None
    R = np.hstack([GW, Gb[:, None]])
    dZt = R @ np.linalg.pinv(M)
    return dZt.T, _near(ev, dZt @ M, R)


def recovered_dZ(ev: Evidence, l: int) -> np.ndarray | None:
    """The target's dZ_l: returned, or solved from [dW_l db_l] = dZ_lᵀ [A_{l-1} 1] when that is exact."""
    if ev.candidate.get(f"dZ{l}") is not None and ev.candidate[f"dZ{l}"].shape == ev.truth[f"dZ{l}"].shape:
        return ev.candidate[f"dZ{l}"]
    solved = _solved_dZ(ev, l)
    return solved[0] if solved is not None and solved[1] else None  # else the dense backward is not dZᵀ [A 1]


def _no_dZ_gives(ev: Evidence, l: int) -> bool:
    """True when dZ_l could be determined from dW_l, db_l and still no dZ_l gives them."""
    solved = _solved_dZ(ev, l)
    return solved is not None and not solved[1]


def _hypotheses(ev: Evidence, l: int):
    """(name, dZ under that bug, pattern, label) for layer l's activation backward."""
    from crosscheck.diagnosis.pieces import derivative

    act, L = ev.network.activations[l - 1], ev.depth
    if f"dA{l}" not in ev.truth:  # softmax with cross-entropy: no dA, no element-wise derivative to doubt
        return
    dA, z, a, x = ev.truth[f"dA{l}"], ev.Z[l], ev.A[l], ev.A[l - 1]
    with np.errstate(all="ignore"):
        if act != "identity":
            skip_pattern = 10 if l == L else (8 if act == "relu" else 3)
            skip_label = "activation-mask" if act == "relu" else "activation-derivative"
            yield (f"the {act} derivative of layer {l} is missing (dZ{l} = dA{l})", dA, skip_pattern, skip_label)
        if act in ("relu", "leaky_relu") and x.shape == z.shape:
            mask = np.where(x > 0, 1.0, 0.0 if act == "relu" else 0.01)
            yield (f"the {act} mask of layer {l} is built from the layer's input {_input_name(l)} instead of z{l}",
                   dA * mask, 1, "activation-mask")
        if act != "identity":
            yield (f"the {act} derivative of layer {l} is evaluated on the upstream gradient "
                   f"(dA{l} * f'(dA{l}))", dA * derivative(act, dA), 5, "activation-derivative")
            yield (f"layer {l} replaces the upstream gradient by its local derivative (dZ{l} = f'(z{l}))",
                   derivative(act, z) * np.ones_like(dA), 9, "activation-derivative")
        if act == "sigmoid":
            yield (f"the sigmoid derivative helper s(1 - s) of layer {l} receives z{l} instead of a{l}",
                   dA * z * (1 - z), 6, "activation-derivative")
            yield (f"σ is applied twice in the derivative of layer {l} (σ(a{l})(1 - σ(a{l})))",
                   dA * derivative("sigmoid", a), 6, "activation-derivative")
        if act == "tanh":
            yield (f"the tanh derivative of layer {l} is evaluated on z{l} (1 - z{l}² instead of 1 - a{l}²)",
                   dA * (1 - z * z), 7, "activation-derivative")
        if act in ("sigmoid", "tanh"):
            d = derivative(act, z)
            yield (f"the {act} derivative of layer {l} is applied twice (dA{l} f'(z{l})²)", dA * d * d,
                   11 if l == L else None, "activation-derivative")


def _fitting(ev: Evidence, l: int, dZc: np.ndarray) -> list[tuple]:
    """(sentence, pattern, label, factor or None) of every hypothesis that explains dZc, exact ones first."""
    exact, scaled = [], []
    for what, h, pattern, label in _hypotheses(ev, l):
        if _near(ev, dZc, h):
            exact.append((what, pattern, label, None))
            continue
        c = _ratio([dZc], [h])
        if c is not None and abs(c) > 1e-12 and _near(ev, dZc, c * h):
            scaled.append((what, pattern, label, c))
    return exact + scaled


class Verified:
    """A stand-in for ``Probes`` where only the verification cases are at hand (what a set of known
    bugs leaves unexplained, on the example and on those cases): no other probe is made."""

    def __init__(self, ev: Evidence, verification: list[Evidence]):
        self.case, self._verification = ev, list(verification)

    def verification(self) -> list[Evidence]:
        return self._verification

    def others(self) -> list[Evidence]:
        return []

    def first_rows(self, k: int):
        return None

    def wider_batch(self):
        return None

    def wider_output(self):
        return None


def _holds_elsewhere(sig: Signature, l: int, probes) -> bool:
    """Does the exact hypothesis ``sig`` (``dropped_column``) fit, the same, on ``verify.MIN_CASES``
    cases of other shapes?"""
    from crosscheck.diagnosis.verify import MIN_CASES

    usable = [v for v in probes.verification() if v.crash is None] if probes is not None else []
    if len(usable) < MIN_CASES:
        return False
    for v in usable:
        again = dropped_column(v, l)
        if again is None or again.sentence != sig.sentence:
            return False
    return True


def _factor_fits_elsewhere(fit: tuple, l: int, probes) -> bool:
    """Does the scaled hypothesis ``fit`` = (sentence, pattern, label, c) explain dZ_l with the factor c
    (or with the same product of batch and out_features) on ``verify.MIN_CASES`` cases of other shapes?"""
    from crosscheck.diagnosis.verify import follows

    if probes is None:
        return False
    what, _, label, c = fit

    def measure(v):
        dZv = recovered_dZ(v, l)
        same = [f[3] for f in _fitting(v, l, dZv) if f[0] == what and f[2] == label and f[3] is not None] \
            if dZv is not None else []
        return same[0] if same else None

    return follows(c, probes.case, probes.verification(), measure) is not None


def _mask_region(ev: Evidence, l: int, dZc: np.ndarray) -> str:
    """Where dZ differs, against the activation's mask: 'where z1 <= 0 (3 entries) ...'."""
    dZ, z, x = ev.truth[f"dZ{l}"], ev.Z[l], ev.A[l - 1]
    scale = max(float(np.max(np.abs(dZ), initial=0.0)), 1e-300)
    bad = np.abs(dZc - dZ) > ev.tolerance() * scale
    k = int(bad.sum())
    dead, live = int((bad & (z <= 0)).sum()), int((bad & (z > 0)).sum())
    text = f"dZ{l} differs at {k} of {bad.size} entries: {dead} where z{l} <= 0 and {live} where z{l} > 0"
    if x.shape == z.shape and k:
        pos = int((bad & (x > 0)).sum())
        text += f"; {pos} of them where {_input_name(l)} > 0"
    return text


def _condition(ev: Evidence, l: int, pattern: int | None, key: str = "") -> str:
    """The data condition that exposes a matched activation bug (its pattern, and its variant's ``key``
    where a pattern has two), with counts at this example."""
    if key == "sigmoid-applied-twice":
        return ""  # σ(a)(1 - σ(a)) is positive like the right derivative: no sign flips, it is wrong everywhere
    z, x = ev.Z[l], ev.A[l - 1]
    if pattern == 1 and x.shape == z.shape:
        k1, k2 = int(((x > 0) & (z <= 0)).sum()), int(((x <= 0) & (z > 0)).sum())
        return (f"W{l} and b{l} differ only where {_input_name(l)} > 0 and z{l} <= 0 ({k1} entries here) or "
                f"{_input_name(l)} <= 0 and z{l} > 0 ({k2})")
    if pattern == 8 or (pattern == 3 and ev.network.activations[l - 1] == "relu"):
        return f"it shows only at dead units, where z{l} <= 0 ({int((z <= 0).sum())} of {z.size} entries here)"
    if pattern in (6, 7):
        outside = int((np.abs(z) > 1).sum()) if pattern == 7 else int(((z < 0) | (z > 1)).sum())
        where = "|z| > 1" if pattern == 7 else "z is outside (0, 1)"
        return f"the sign of the derivative flips where {where} ({outside} of {z.size} entries here)"
    return ""


def dropped_column(ev: Evidence, l: int) -> Signature | None:
    """Pattern 35: the bias kept as a column of W_{l+1} ([W b] or [b W]), and the gradient passed down,
    dZ_{l+1} [W b], cut to layer l's width by deleting another column than the bias's; and, beside it,
    those weights updated with the candidate's own gradient before they pass it down (pattern 26,
    its learning rate fitted). Each hypothesis predicts dW_l and db_l, compared with the target's
    (no dZ_l need be recovered, which a batch larger than the layer's input does not allow)."""
    from crosscheck.diagnosis.pieces import derivative

    if l >= ev.depth:
        return None
    Wn, bn = ev.params[l]
    GWl, Gbl = ev.candidate.get(f"W{l}"), ev.candidate.get(f"b{l}")
    if bn is None or GWl is None or Gbl is None or GWl.shape != ev.truth[f"W{l}"].shape \
            or Gbl.shape != ev.truth[f"b{l}"].shape:
        return None
    target = np.concatenate([GWl.ravel(), Gbl.ravel()])
    if not np.all(np.isfinite(target)):
        return None
    d, A = derivative(ev.network.activations[l - 1], ev.Z[l]), ev.A[l - 1]

    def grads(dA):
        dZ = dA * d
        return np.concatenate([(dZ.T @ A).ravel(), dZ.sum(axis=0).ravel()])

    dZn = ev.truth[f"dZ{l + 1}"]
    GW, Gb = ev.candidate.get(f"W{l + 1}"), ev.candidate.get(f"b{l + 1}")
    stale = (GW is not None and Gb is not None and GW.shape == Wn.shape and Gb.shape == bn.shape
             and np.all(np.isfinite(GW)) and np.all(np.isfinite(Gb)))
    n = Wn.shape[1]
    for first in (False, True):
        def aug(W, b):
            return np.hstack([b[:, None], W]) if first else np.hstack([W, b[:, None]])
        bias_col = 0 if first else n
        for k in range(n + 1):
            if k == bias_col:
                continue
            P = grads(dZn @ np.delete(aug(Wn, bn), k, axis=1))
            what = (f"dA{l} = dZ{l + 1} [W{l + 1} b{l + 1}] with column {k} deleted instead of the bias's, the "
                    f"{'first' if first else 'last'} column (the bias kept as a column of the weights): the "
                    f"gradient passed down to layer {l} has the bias's column in place of a weight's")
            if _near(ev, P, target):
                return Signature("wrong-input", [f"W{l}", f"b{l}"], what, 35)
            if not stale:
                continue
            # and the weights updated before they pass the gradient down (pattern 26): [W b] - lr [dW db]
            Q = grads(dZn @ np.delete(aug(GW, Gb), k, axis=1))
            qq = float(Q @ Q)
            lr = float(Q @ (P - target)) / qq if qq > 0 else 0.0
            if lr > 1e-9 and _near(ev, P - lr * Q, target):
                return Signature("wrong-input", [f"W{l}", f"b{l}"], (
                    f"{what}; and W{l + 1} is updated with learning rate {_fmt(lr)} before it passes the gradient "
                    f"down"), 35, extra_labels=["stale-weights"])
    return None


def upstream(ev: Evidence, l: int, dZc: np.ndarray) -> Signature | None:
    """dA_l fitted as α dZ_{l+1} W_{l+1} + β dZ_{l+1} dW_{l+1}: a typo (dW for W) or stale weights."""
    from crosscheck.diagnosis.pieces import derivative

    if l >= ev.depth:
        return None
    act = ev.network.activations[l - 1]
    d = derivative(act, ev.Z[l])
    keep = np.abs(d) > 1e-12
    if not keep.any():
        return None
    dA_c = dZc[keep] / d[keep]
    dZn, Wn = ev.truth[f"dZ{l + 1}"], ev.params[l][0]
    GWn = ev.candidate.get(f"W{l + 1}")
    if GWn is None or GWn.shape != Wn.shape:
        return None
    basis = np.stack([(dZn @ Wn)[keep], (dZn @ GWn)[keep]], axis=1)
    coef, *_ = np.linalg.lstsq(basis, dA_c, rcond=None)
    alpha, beta = (float(v) for v in coef)
    if not _near(ev, basis @ coef, dA_c):
        return None
    if abs(alpha) < 1e-6 and abs(beta - 1) < 1e-6:
        return Signature("wrong-input", [f"W{l}", f"b{l}"], f"dA{l} = dZ{l + 1} dW{l + 1} instead of "
                         f"dZ{l + 1} W{l + 1}: layer {l + 1} passes its weight gradient down instead of its "
                         f"weights (a typo), so layer {l} and below are wrong", 4)
    if abs(alpha - 1) < 1e-6 and beta < 0:
        return Signature("stale-weights", [f"W{l}", f"b{l}"], f"dA{l} = dZ{l + 1} (W{l + 1} - {_fmt(-beta)} dW{l + 1}): "
                         f"W{l + 1} is updated with learning rate {_fmt(-beta)} before it is used to pass the "
                         f"gradient down to layer {l}", 26, factor=-beta)
    return Signature("wrong-input", [f"W{l}", f"b{l}"], f"dA{l} = {_fmt(alpha)} dZ{l + 1} W{l + 1} + {_fmt(beta)} "
                     f"dZ{l + 1} dW{l + 1} instead of dZ{l + 1} W{l + 1}: the gradient passed down from layer "
                     f"{l + 1} is wrong")


def both(ev: Evidence, l: int, probes=None) -> Signature | None:
    dZc = recovered_dZ(ev, l)
    if dZc is None and probes is not None and ev.batch > 1:
        k = min(ev.batch - 1, ev.A[l - 1].shape[1] + 1)
        sliced = probes.first_rows(k) if k >= 1 else None
        if sliced is not None and sliced.crash is None and sliced.wrong(f"W{l}") and sliced.wrong(f"b{l}"):
            sig = both(sliced, l)
            if sig is not None:
                sig.sentence += f" (seen on the first {k} samples of the batch)"
            return sig
    tensors = [f"W{l}", f"b{l}"]
    act = ev.network.activations[l - 1]
    # exact hypotheses about the gradient passed down compare predicted dW, db: no dZ need be recovered
    dropped = dropped_column(ev, l)
    if dropped is not None and _holds_elsewhere(dropped, l, probes):
        return dropped
    if dZc is None:
        penalty = (f", or in the L2 penalty's gradient of layer {l}"
                   if any(ev.network.l2) or any(ev.network.l2_bias) else "")
        if _no_dZ_gives(ev, l):
            return Signature("other", tensors, f"W{l} and b{l} are both wrong, and no dZ{l} gives them: "
                             f"[dW{l} db{l}] is not dZ{l}ᵀ [A{l - 1} 1] for any dZ{l}, so the error is in layer {l}'s "
                             f"own dense backward (what it multiplies or sums){penalty}, not only upstream of it")
        return Signature("other", tensors, f"W{l} and b{l} are both wrong while the layers above agree: the error "
                         f"enters at dZ{l} = dA{l} * f'(z{l}), in the {act} backward of layer {l} or in the gradient "
                         f"dA{l} passed down from layer {l + 1}{penalty}" if l < ev.depth else
                         f"W{l} and b{l} are both wrong: the error enters at dZ{l}, in the {act} backward of the "
                         f"output layer or in the loss gradient{penalty}")
    fits = _fitting(ev, l, dZc)
    if len(fits) > 1 and probes is not None:
        # hypotheses that coincide here (a mask of X when X > 0 everywhere is no mask at all):
        # keep those that also explain the target on the further examples
        for other in probes.others():
            if other.crash is not None or not (other.wrong(f"W{l}") or other.wrong(f"b{l}")):
                continue
            dZo = recovered_dZ(other, l)
            if dZo is None:
                continue
            still = {f[0] for f in _fitting(other, l, dZo)}
            fits = [f for f in fits if f[0] in still] or fits
    # a hypothesis with a factor ("the derivative is missing, and dZ carries a factor c") is fitted to
    # this example: kept only if the same hypothesis fits with the same factor, or the same product of
    # the sizes, on the verification cases of other shapes
    fits = [f for f in fits if f[3] is None or _factor_fits_elsewhere(f, l, probes)]
    if fits:
        what, pattern, label, c = fits[0]
        if c is None:
            cond = _condition(ev, l, pattern, "sigmoid-applied-twice" if what.startswith("σ is applied twice") else "")
            return Signature(label, tensors, what + (f"; {cond}" if cond else ""), pattern)
        return Signature(label, tensors, f"{what}, and dZ{l} carries a factor {_fmt(c)}", pattern, factor=c)
    c = _ratio([dZc], [ev.truth[f"dZ{l}"]])
    if c is not None and abs(c - 1) > 1e-9 and _near(ev, dZc, c * ev.truth[f"dZ{l}"]):
        return Signature("scale", tensors, f"dZ{l} (and so W{l}, b{l} and every gradient below) is {_fmt(c)} times "
                         f"torch's while the layers above agree: a stray factor on dA{l} or dZ{l}", 16, factor=c)
    sig = upstream(ev, l, dZc)
    if sig is not None:
        return sig
    region = _mask_region(ev, l, dZc)
    if act in ("relu", "leaky_relu"):
        return Signature("activation-mask", tensors, f"the {act} mask of layer {l} is wrong: {region}")
    if act == "identity":
        return Signature("other", tensors, f"dZ{l} is wrong although layer {l} has no activation: {region}")
    return Signature("activation-derivative", tensors, f"the {act} derivative of layer {l} is wrong: {region}")


def analyze(ev: Evidence, probes=None) -> list[Signature]:
    """Signatures of the failing tensors, most specific first (empty if nothing fails)."""
    if ev.crash is not None or not ev.failing:
        return []
    sigs = global_factor(ev, probes)
    if sigs:
        return sigs
    sigs = shapes(ev)
    l = first_layer(ev)
    if l is None:
        return sigs
    if any(l in [tensor_layer(t) for t in s.tensors] for s in sigs):
        return sigs
    wW, wb = ev.wrong(f"W{l}"), ev.wrong(f"b{l}")
    below = any(n[0] in "Wb" and tensor_layer(n) < l for n in ev.failing)
    sig = None
    if (wW != wb) and below:
        # layers below are wrong too, so dZ_l is; the agreeing one of W_l, b_l agrees by chance
        sig = both(ev, l, probes)
        if sig is not None and sig.pattern is None:
            sig = None
    if sig is not None:
        pass
    elif wW and not wb:
        sig = weight_only(ev, l)
    elif wb and not wW:
        sig = bias_only(ev, l)
    elif wW and wb:
        sig = both(ev, l, probes)
    return ([sig] if sig is not None else []) + sigs
