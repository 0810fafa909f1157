"""What a target returned, read once for every front end (fuzz, audit, pytest, replay, train).

A target returns its gradients (or, with ``returns="update"``, its parameters after the step)
as one of:

- a list of ``(dW, db)`` pairs, one per layer (a single layer may return the bare pair);
- for bias-free layers (``bias=False``, params arrive as ``[(W1, None), ...]``) the same pairs
  with ``None`` for ``db``, or a plain list ``[dW1, dW2, ...]``;
- a dict by name: ``W1``/``b1`` or ``dW1``/``db1`` (``W``/``b``, ``dW``/``db`` for one layer).
  Intermediates are read only when the declaration says ``intermediates=True``; then
  ``dZ{l}`` and ``dA{l}`` are the gradients of the loss with respect to layer ``l``'s
  pre-activation ``Z{l} = A{l-1} W{l}^T + b{l}`` and activation ``A{l} = f(Z{l})``
  (``l`` counted from 1, ``A0 = X``), and ``dX`` the one with respect to the input; each in
  row layout, shape ``(batch, width of layer l)`` (``dX``: ``(batch, in_features)``). Without
  the declaration such entries (course code keeps column-layout ``dA1``/``dZ1`` beside its
  weight gradients) are left out, and ``ignored`` names them for a one-line note.

Only real floating arrays, or what converts to them exactly (a list of floats, a float for a
single element), are gradients. Anything else in a gradient's place becomes a ``Rejected``
value that says what came back ("a complex128 array", "an int64 array", "a float32 array from
a target declared float64", "a str"); the comparison reports it as that tensor's finding.
A whole return that is not a gradient structure at all (None, a number, a string, a
generator, a list of the wrong length) raises ``ReturnError`` with one sentence.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

from crosscheck.model.vocabulary import param_names

#: Names of intermediates a declaration with ``intermediates=True`` may return.
INTERMEDIATE = re.compile(r"^d(Z|A)\d+$|^dX$")
#: Real floating dtypes, from least to most precise.
FLOATS = ("float16", "float32", "float64")


class ReturnError(ValueError):
    """A target returned something that is not a gradient structure."""


class Opaque:
    """A value known only by the name of its type: what crosses from the audited process for
    anything that is not data (``audit.protocol``), so the reader can say what came back."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<{self.type_name}>"


@dataclass(frozen=True)
class Rejected:
    """A returned value in a gradient's place that is not a real floating array: ``why`` says
    what it is ("a complex128 array"); ``missing`` when nothing was there."""

    why: str
    missing: bool = False


class Returned(dict):
    """The gradients by name (``W1``, ``b1``, ..., and declared intermediates); ``ignored``
    lists the returned entries left out (undeclared intermediates, unknown keys)."""

    ignored: tuple[str, ...] = ()

    def __init__(self, values: dict, ignored: tuple[str, ...] = ()):
        dict.__init__(self, values)
        self.ignored = ignored

    def note(self) -> str:
        """One line on what was left out, or ""."""
        if not self.ignored:
            return ""
        inter = [k for k in self.ignored if INTERMEDIATE.match(k)]
        if inter and len(inter) == len(self.ignored):
            return (f"returned {', '.join(inter)} ignored: intermediates are compared only when the "
                    f"declaration says intermediates=True")
        return f"returned {', '.join(self.ignored)} ignored: not a gradient crosscheck knows"


def kind_of(value) -> str:
    """What ``value`` is, in words: "None", "a str", "a generator", "a complex128 array"."""
    if value is None:
        return "None"
    if isinstance(value, Opaque):
        name = value.type_name
    elif isinstance(value, np.ndarray):
        return f"{_article(str(value.dtype))} {value.dtype} array of shape {tuple(value.shape)}"
    else:
        name = type(value).__name__
    return f"{_article(name)} {name}"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def unpack(out, depth: int, what: str = "gradients", *, dtype: str | None = None, bias: bool = True,
           intermediates: bool = False) -> Returned:
    """The returned structure ``out`` as a ``Returned`` dict by name, every value a float64-or-
    narrower real array or a ``Rejected``.

    ``dtype`` is the declared precision: an array of a narrower float is rejected with a
    sentence saying so. ``bias=False``: the ``b`` entries are ``None`` and not returned.
    Raises ``ReturnError`` when ``out`` is not a structure of gradients at all.
    """
    names = _names(depth)
    expected = (f"a list of {depth} (dW, db) pairs (one per layer) or a dict with keys {', '.join(names)}"
                if bias else f"a list of {depth} arrays dW1..dW{depth} (or (dW, None) pairs)")
    if isinstance(out, dict):
        values, ignored = _from_dict(out, depth, intermediates)
        keys = ", ".join(map(str, list(out)[:12])) or "none"
        if not any(n in values for n in names):
            raise ReturnError(f"returned a dict without any of {', '.join(names)} (its keys: {keys}); "
                              f"expected {expected}")
        for n in names:
            if n not in values and (bias or n[0] == "W"):
                values[n] = Rejected(f"the returned dict has no {n} (nor d{n}; its keys: {keys})", missing=True)
    elif isinstance(out, (list, tuple)):
        values, ignored = _from_list(list(out), depth, bias, expected), ()
    else:
        raise ReturnError(f"returned {kind_of(out)}, expected {expected}")
    result = {}
    for name, v in values.items():
        if not bias and name[0] == "b":
            if v is None:
                continue
        result[name] = v if isinstance(v, Rejected) else gradient(v, dtype)
    return Returned(result, tuple(ignored))


def _from_dict(out: dict, depth: int, intermediates: bool) -> tuple[dict, list[str]]:
    values, ignored = {}, []
    for key, v in out.items():
        name = _canonical(key, depth)
        if name is None:
            ignored.append(str(key))
        elif INTERMEDIATE.match(name) and not intermediates:
            ignored.append(str(key))
        elif name not in values:
            values[name] = v
    return values, ignored


@functools.lru_cache(maxsize=1024)  # a campaign asks about the same few dozen keys for every case
def _canonical(key, depth: int) -> str | None:
    """``W1`` for "W1", "dW1" (and "W", "dW" of a single layer); intermediates as they are."""
    if not isinstance(key, str):
        return None
    if INTERMEDIATE.match(key):
        return key
    m = re.fullmatch(r"d?([Wb])(\d*)", key)
    if m is None:
        return None
    layer = m.group(2) or ("1" if depth == 1 else "")
    if not layer or not 1 <= int(layer) <= depth:
        return None
    return f"{m.group(1)}{int(layer)}"


def _from_list(out: list, depth: int, bias: bool, expected: str) -> dict:
    if depth == 1 and len(out) == 2 and not _is_pair(out[0]):
        out = [out]  # one layer returned as (dW, db) without the outer list
    if len(out) != depth:
        raise ReturnError(f"returned {len(out)} item{'s' if len(out) != 1 else ''}, expected {expected}")
    values = {}
    for l, item in enumerate(out, start=1):
        if _is_pair(item):
            values[f"W{l}"], values[f"b{l}"] = item
        elif not bias and not isinstance(item, (str, dict)) and item is not None:
            values[f"W{l}"] = item  # bias-free code may return dW alone
        else:
            raise ReturnError(f"item {l - 1} of the returned list is {kind_of(item)}, expected a "
                              f"(dW{l}, db{l}) pair")
    return values


def gradient(value, dtype: str | None = None):
    """``value`` as a real floating NumPy array, or a ``Rejected`` saying what it is.

    Accepted: float16/32/64 arrays (narrower than ``dtype`` only with a sentence: rejected),
    torch tensors of those dtypes, and lists or scalars of Python floats (exact in float64).
    """
    if type(value) is np.ndarray:  # the usual answer, first: a case checks a dozen of these
        arr = value
    elif value is None:
        return Rejected("None", missing=True)
    elif hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor, in process
        arr = np.asarray(value.detach().cpu().numpy())
    elif isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
    elif isinstance(value, float) or (isinstance(value, (list, tuple)) and _all_floats(value)):
        arr = np.asarray(value, dtype=np.float64)
    else:
        return Rejected(kind_of(value))
    if arr.dtype.kind != "f":
        what = {"c": "complex", "i": "integer", "u": "unsigned integer", "b": "bool"}.get(arr.dtype.kind, "")
        return Rejected(f"{_article(str(arr.dtype))} {arr.dtype} array ({what or 'not a real floating'} values, "
                        f"not real floating-point gradients)")
    if dtype in _WIDTH and arr.dtype.itemsize < _WIDTH[dtype]:  # float16/32 where float32/64 was declared
        return Rejected(f"{_article(str(arr.dtype))} {arr.dtype} array from a target declared dtype={dtype!r} "
                        f"(compute in {dtype}, or declare dtype={arr.dtype.name!r})")
    return arr


#: Bytes of each declared dtype: a real floating array narrower than the declared one is rejected.
_WIDTH = {name: np.dtype(name).itemsize for name in FLOATS}


def _all_floats(seq, depth: int = 0) -> bool:
    if depth > 4:
        return False
    return all(type(x) is float or (isinstance(x, (list, tuple)) and _all_floats(x, depth + 1)) for x in seq) \
        and len(seq) > 0


@functools.lru_cache(maxsize=64)
def _names(depth: int) -> tuple[str, ...]:
    return tuple(param_names(depth))


def _is_pair(x) -> bool:
    return isinstance(x, (list, tuple)) and len(x) == 2
