"""Constant factors between a gradient and torch's, and the conventions they suggest.

A ratio c is explained by a product  sign x k x m  with sign in {1, -1}, k in
{1, 1/2, 2} and m one of 1, batch, out_features, batch x out_features or their
inverses, evaluated at the example's batch and out_features. Several products
can give the same number (0.5 is half-MSE, and also 1/batch at batch 2);
``consistent`` keeps those that also explain the ratio at another example.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product

_SIGNS = ((1, ""), (-1, "-"))
_HALVES = ((1.0, ""), (0.5, "0.5"), (2.0, "2"))
_SIZES = (
    ((0, 0), ""), ((1, 0), "batch"), ((-1, 0), "1/batch"), ((0, 1), "out_features"), ((0, -1), "1/out_features"),
    ((1, 1), "batch x out_features"), ((-1, -1), "1/(batch x out_features)"),
)
_CONVENTIONS = {
    "": "",
    "batch": "a sum over the batch where torch averages (the loss is averaged, the gradient is not)",
    "1/batch": "an extra division by the batch size (a batch mean where torch sums, or a mean taken twice)",
    "out_features": "a normalizer mix-up: dividing by the batch size instead of batch x out_features "
                    "(torch's mean is over every element)",
    "1/out_features": "a normalizer mix-up: dividing by out_features where torch does not",
    "batch x out_features": "a sum where torch's reduction 'mean' divides by every element",
    "1/(batch x out_features)": "a mean over every element where torch's reduction is 'sum'",
}


@dataclass(frozen=True)
class Factor:
    sign: int
    half: float
    sizes: tuple[int, int]  # powers of batch and out_features
    sizes_name: str
    half_name: str

    def value(self, batch: int, out: int) -> float:
        return self.sign * self.half * batch ** self.sizes[0] * out ** self.sizes[1]

    @property
    def parts(self) -> int:
        return (self.sign < 0) + (self.half != 1) + (self.sizes != (0, 0))

    @property
    def expression(self) -> str:
        names = [n for n in (self.half_name, self.sizes_name) if n]
        body = " x ".join(names) if names else "1"
        return ("-" if self.sign < 0 else "") + body

    @property
    def convention(self) -> str:
        """What a person would have done to produce this factor."""
        bits = []
        if self.sign < 0:
            bits.append("a sign convention (y - a, the negative gradient, combined with a -= update)")
        if self.half == 0.5:
            bits.append("the half-MSE convention ((a - y) instead of 2 (a - y))")
        elif self.half == 2:
            bits.append("a doubled gradient (a stray factor 2)")
        if self.sizes_name:
            bits.append(_CONVENTIONS[self.sizes_name])
        return " and ".join(bits)

    @property
    def label(self) -> str:
        return "sign" if self.sign < 0 and self.half == 1 and self.sizes == (0, 0) else "scale"


ALL = tuple(Factor(s, h, p, pn, hn) for (s, _), (h, hn), (p, pn) in product(_SIGNS, _HALVES, _SIZES))


def explain(c: float, batch: int, out: int, rtol: float = 1e-6) -> list[Factor]:
    """Products equal to ``c`` at this batch and out_features, simplest first (none for c = 1)."""
    if abs(c - 1) <= rtol:
        return []
    hits = [f for f in ALL if abs(f.value(batch, out) - c) <= rtol * max(abs(c), 1e-300) and f.parts]
    return sorted(hits, key=lambda f: (f.parts, abs(f.sizes[0]) + abs(f.sizes[1]), f.half != 0.5))


def consistent(factors: list[Factor], c: float, batch: int, out: int, rtol: float = 1e-6) -> list[Factor]:
    """Those of ``factors`` that also explain ratio ``c`` at another (batch, out)."""
    return [f for f in factors if abs(f.value(batch, out) - c) <= rtol * max(abs(c), 1e-300)]


def describe(c: float, factors: list[Factor]) -> str:
    """'0.5 (= 0.5: the half-MSE convention ...)', or the bare number when nothing explains it."""
    if not factors:
        return f"{c:.6g}"
    f = factors[0]
    text = f"{c:.6g} (= {f.expression}: {f.convention})"
    others = [g.expression for g in factors[1:3]]
    if others:
        text += f"; at this size it could also be {' or '.join(others)}"
    return text
