"""What crosses the pipe between the audit and the audited function's process: a strict format
parsed by hand, never pickle.

One message is::

    b"XC1" | nonce (16 bytes) | 4-byte big-endian header length | header (UTF-8 JSON) | arrays' raw bytes

The audit draws a fresh random nonce for every request and the answer must carry it: the reader
(``Stream.receive``) skips whatever comes before ``b"XC1" + nonce``, so bytes the audited code
writes to the pipe on its own (at import, from a thread) cannot pass for an answer or break the
framing; they are counted in ``Stream.skipped``.

The header is ``{"op": ..., "seq": n, "arrays": [{"dtype", "shape"}, ...], "value": tree, ...}``
and ``tree`` describes a Python value made of::

    {"t": "array", "i": k}                       the k-th array of the message
    {"t": "list" | "tuple", "items": [tree...]}
    {"t": "dict", "items": [[key, tree], ...]}   keys are strings (others are shown by repr)
    {"t": "none"} | {"t": "bool"|"int"|"float", "v": x} | {"t": "complex", "v": [re, im]}
    {"t": "str", "v": text}                      cut at ``MAX_TEXT`` characters
    {"t": "other", "type": "generator"}          anything else: only its type's name crosses

``decode`` checks everything before it trusts anything: the magic, the sizes (``MAX_HEADER``,
``MAX_BYTES``), that each dtype is a plain numeric one (bool, int, uint, float, complex: no
objects, no structured or byte-string dtypes) and that shape times itemsize is the byte count.
A value that is not data arrives as a ``model.returns.Opaque`` naming its type, so the reader of returned
values (``model.returns``) can say what came back. Anything malformed is a ``ProtocolError``.
"""
from __future__ import annotations

import json
import math
import os
import re
import struct

import numpy as np

from crosscheck.model.returns import Opaque  # what the reader of returned values knows by type name only

MAGIC = b"XC1"
#: Largest header accepted (the structure of a returned value, not its arrays).
MAX_HEADER = 1 << 20
#: Largest total of array bytes accepted in one message.
MAX_BYTES = 1 << 30
#: Strings longer than this are cut (a returned string is shown, never used).
MAX_TEXT = 200
#: Bytes of a message's nonce.
NONCE = 16
#: Most bytes skipped before an answer's start before the stream is given up as unreadable.
MAX_SKIPPED = 64 << 20
#: Deepest nesting of lists, tuples and dicts encoded.
MAX_DEPTH = 8
_DTYPE = re.compile(r"^[<>|=]?[biufc][1-9][0-9]?$")


class ProtocolError(ValueError):
    """A message from the audited process is malformed, too large or not data."""


# -- writing ----------------------------------------------------------------------------

def encode(header: dict, value=None, nonce: bytes = bytes(NONCE)) -> bytes:
    """One message: ``header`` plus ``value`` encoded as a tree with its arrays appended raw."""
    arrays: list[np.ndarray] = []
    header = {**header, "value": _tree(value, arrays, 0), "arrays": []}
    for a in arrays:
        header["arrays"].append({"dtype": a.dtype.str, "shape": list(a.shape)})
    text = json.dumps(header, allow_nan=True).encode()
    return b"".join([MAGIC, nonce, struct.pack(">I", len(text)), text, *(a.tobytes() for a in arrays)])


def _tree(v, arrays: list, depth: int) -> dict:
    if v is None:
        return {"t": "none"}
    if isinstance(v, np.ndarray) and v.dtype.kind in "biufc" and v.dtype.kind != "O":
        arrays.append(np.ascontiguousarray(v))
        return {"t": "array", "i": len(arrays) - 1}
    if isinstance(v, np.generic) and v.dtype.kind in "biufc":
        arrays.append(np.asarray(v))
        return {"t": "array", "i": len(arrays) - 1}
    if isinstance(v, bool):
        return {"t": "bool", "v": v}
    if isinstance(v, int):
        return {"t": "int", "v": v} if abs(v) < 2**63 else {"t": "float", "v": float(v)}
    if isinstance(v, float):
        return {"t": "float", "v": v}
    if isinstance(v, complex):
        return {"t": "complex", "v": [v.real, v.imag]}
    if isinstance(v, str):
        return {"t": "str", "v": v[:MAX_TEXT]}
    if depth < MAX_DEPTH and type(v) in (list, tuple):
        return {"t": type(v).__name__, "items": [_tree(x, arrays, depth + 1) for x in v]}
    if depth < MAX_DEPTH and type(v) is dict:
        return {"t": "dict", "items": [[k if isinstance(k, str) else repr(k)[:MAX_TEXT], _tree(x, arrays, depth + 1)]
                                       for k, x in v.items()]}
    return {"t": "other", "type": type(v).__name__[:MAX_TEXT]}


def send(fd: int, header: dict, value=None, nonce: bytes = bytes(NONCE)) -> None:
    """Write one message to ``fd`` (all of it)."""
    data = memoryview(encode(header, value, nonce))
    while data:
        n = os.write(fd, data)
        data = data[n:]


# -- reading ----------------------------------------------------------------------------

class Stream:
    """Messages read from ``fd``; ``wait()`` is called before each read (it raises on a deadline)."""

    def __init__(self, fd: int, wait=None):
        self.fd, self.wait = fd, wait
        self.buffer = bytearray()
        self.skipped = 0

    def _fill(self) -> None:
        if self.wait is not None:
            self.wait()
        chunk = os.read(self.fd, 1 << 20)
        if not chunk:
            raise EOFError("the audited process closed its end of the pipe")
        self.buffer += chunk

    def take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out

    def find(self, marker: bytes) -> None:
        """Skip everything before ``marker`` (and the marker itself)."""
        while True:
            at = self.buffer.find(marker)
            if at >= 0:
                self.skipped += at
                del self.buffer[:at + len(marker)]
                return
            keep = len(marker) - 1
            if len(self.buffer) > keep:
                self.skipped += len(self.buffer) - keep
                del self.buffer[:len(self.buffer) - keep]
            if self.skipped > MAX_SKIPPED:
                raise ProtocolError(f"no answer in the first {self.skipped} bytes sent back")
            self._fill()

    def receive(self, nonce: bytes | None = None) -> tuple[dict, object, bytes]:
        """The next message (the next one carrying ``nonce``, if given): ``(header, value, nonce)``."""
        if nonce is None:
            if self.take(len(MAGIC)) != MAGIC:
                raise ProtocolError(f"a message that does not start with {MAGIC!r}")
            nonce = self.take(NONCE)
        else:
            self.find(MAGIC + nonce)
        (size,) = struct.unpack(">I", self.take(4))
        if size > MAX_HEADER:
            raise ProtocolError(f"a header of {size} bytes is over the limit of {MAX_HEADER}")
        try:
            header = json.loads(self.take(size))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ProtocolError(f"the header is not JSON: {e}") from None
        if not isinstance(header, dict) or not isinstance(header.get("arrays"), list):
            raise ProtocolError("the header is not an object with an 'arrays' list")
        specs = [_array_spec(a) for a in header["arrays"]]
        total = sum(n for _, _, n in specs)
        if total > MAX_BYTES:
            raise ProtocolError(f"{total} bytes of arrays are over the limit of {MAX_BYTES}")
        arrays = [np.frombuffer(self.take(n), dtype=dt).reshape(shape).copy() if n else
                  np.zeros(shape, dtype=dt) for dt, shape, n in specs]
        return header, _value(header.get("value"), arrays, 0), nonce


def _array_spec(a) -> tuple[np.dtype, tuple[int, ...], int]:
    if not isinstance(a, dict) or not isinstance(a.get("dtype"), str) or not _DTYPE.match(a["dtype"]):
        raise ProtocolError(f"an array of dtype {str(a)[:60]!r}: only bool, int, uint, float and complex cross")
    try:
        dt = np.dtype(a["dtype"])
    except TypeError:
        raise ProtocolError(f"unknown dtype {a['dtype']!r}") from None
    shape = a.get("shape")
    if not isinstance(shape, list) or len(shape) > 32 or not all(type(s) is int and s >= 0 for s in shape):
        raise ProtocolError(f"an array of shape {str(shape)[:60]}: not a list of sizes")
    n = math.prod(shape) * dt.itemsize
    if n > MAX_BYTES:
        raise ProtocolError(f"an array of shape {tuple(shape)} is over the limit of {MAX_BYTES} bytes")
    return dt, tuple(shape), n


def _value(tree, arrays: list[np.ndarray], depth: int):
    if depth > MAX_DEPTH + 1 or not isinstance(tree, dict):
        raise ProtocolError("a value that is not a tree node")
    t = tree.get("t")
    if t == "none":
        return None
    if t == "array":
        i = tree.get("i")
        if type(i) is not int or not 0 <= i < len(arrays):
            raise ProtocolError(f"a reference to array {i!r} of {len(arrays)}")
        return arrays[i]
    if t in ("bool", "int", "float"):
        v = tree.get("v")
        kinds = {"bool": (bool,), "int": (int,), "float": (float, int)}[t]
        if type(v) not in kinds:
            raise ProtocolError(f"a {t} that is {type(v).__name__}")
        return v if t != "float" else float(v)
    if t == "complex":
        v = tree.get("v")
        if not (isinstance(v, list) and len(v) == 2 and all(type(x) in (int, float) for x in v)):
            raise ProtocolError("a complex that is not [re, im]")
        return complex(v[0], v[1])
    if t == "str":
        return str(tree.get("v"))[:MAX_TEXT]
    if t in ("list", "tuple"):
        items = tree.get("items")
        if not isinstance(items, list):
            raise ProtocolError(f"a {t} without items")
        out = [_value(x, arrays, depth + 1) for x in items]
        return out if t == "list" else tuple(out)
    if t == "dict":
        items = tree.get("items")
        if not isinstance(items, list) or not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
                                                  for p in items):
            raise ProtocolError("a dict that is not a list of [key, value] pairs")
        return {k: _value(x, arrays, depth + 1) for k, x in items}
    if t == "other":
        return Opaque(str(tree.get("type"))[:MAX_TEXT])
    raise ProtocolError(f"a value of unknown kind {str(t)[:40]!r}")
