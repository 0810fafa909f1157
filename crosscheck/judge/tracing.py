"""Which line computed which array: run audited code under ``sys.settrace``.

``trace_call(fn, args, files)`` calls ``fn(*args)`` and records, line by line,
every array the code of ``files`` produces:

- a local variable that is bound to a new array, or whose array changed in place,
  after the line that did it (``x = ...``, ``x -= ...``);
- an array attribute of a local object (``self.W2``), or an entry of a local dict or
  list of arrays (``grads["W1"]``, ``nabla_b[0]``), that changed, with its new value
  and, for an in-place update, the change ``new - old`` as ``name (change)``:
  ``self.W2 -= lr * (X.T @ delta)`` records ``-lr X.T @ delta``;
- the arrays a function returns (alone, or in a tuple, list or dict), on the
  ``return`` line.

Each record is ``{"file", "line", "code", "name", "array", "caller"}`` with
``array`` a float64 copy, in the order the lines ran; ``caller`` is, for a
returned array, the (file, line) that called the function when that line is
traced too (else None). Nothing else is kept: the caller
matches the arrays against the quantities it knows (``diagnosis.lines``).

It runs where the audited code runs (the audit's child process, the pytest
process, a mutant's): the trace function is set for the call only and the one
that was set before (a coverage tool's, a debugger's) is put back afterwards.
Frames of other files are not traced line by line, so library code costs a call
event each and nothing more.
"""
from __future__ import annotations

import linecache
import os
import re
import sys

import numpy as np

#: Arrays larger than this are not recorded (the copies would cost more than the trace is worth).
MAX_ELEMENTS = 100_000


def _arrays(value, name: str):
    """(name, float64 array) pairs of a value: an array, a number, or a tuple, list or dict of them."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fiub" and 0 < value.size <= MAX_ELEMENTS:
            yield name, np.array(value, dtype=np.float64)
    elif isinstance(value, (float, np.floating)):
        yield name, np.array(float(value))
    elif isinstance(value, (tuple, list)) and len(value) <= 64:
        for i, v in enumerate(value):
            yield from _arrays(v, f"{name}[{i}]")
    elif isinstance(value, dict) and len(value) <= 64:
        for k, v in value.items():
            yield from _arrays(v, f"{name}[{k!r}]")


def _snapshot(frame) -> dict:
    """Every array a frame can see by a short name: its locals, and one level of attributes of them."""
    out = {}
    for name, value in list(frame.f_locals.items()):
        if isinstance(value, (np.ndarray, float, np.floating, dict, list)):
            # a dict or list of arrays too (grads["W1"], nabla_b[0]): code that updates its entries in place
            for n, arr in _arrays(value, name):
                out[n] = arr
        elif hasattr(value, "__dict__") and not isinstance(value, type):
            attrs = getattr(value, "__dict__", None)
            if not isinstance(attrs, dict):
                continue
            for attr, v in list(attrs.items())[:64]:
                if isinstance(v, np.ndarray):
                    for n, arr in _arrays(v, f"{name}.{attr}"):
                        out[n] = arr
    return out


_IN_PLACE = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)\s*(?:\*\*|//|[-+*/@%])=")


def _updated_in_place(code: str) -> str | None:
    """The name (``d`` or ``self.d``) an augmented assignment on this line updates, if it is one."""
    m = _IN_PLACE.match(code)
    return m.group(1) if m else None


def _changed(old: np.ndarray | None, new: np.ndarray) -> bool:
    if old is None or old.shape != new.shape:
        return True
    return not np.array_equal(old, new, equal_nan=True)


def trace_call(fn, args, files) -> list[dict]:
    """Run ``fn(*args)`` and return the arrays computed by the lines of ``files``, in execution order.

    ``files`` are paths (any spelling: they are resolved). An exception raised by
    ``fn`` ends the run; the records up to it are returned.
    """
    wanted = {os.path.realpath(f) for f in files}
    by_code: dict = {}  # code object -> its file when traced, else None
    records: list[dict] = []
    state: dict = {}  # frame -> (last line, snapshot)

    def code_line(filename: str, line: int) -> str:
        return linecache.getline(filename, line).strip()

    def record(filename, line, name, arr, caller=None):
        records.append({"file": filename, "line": line, "code": code_line(filename, line), "name": name,
                        "array": arr, "caller": caller})

    def diff(frame, line):
        last, before = state[frame]
        now = _snapshot(frame)
        filename = frame.f_code.co_filename
        for name, arr in now.items():
            old = before.get(name)
            if _changed(old, arr):
                record(filename, line, name, arr)
                if old is not None and old.shape == arr.shape and ("." in name or "[" in name):
                    record(filename, line, f"{name} (change)", arr - old)
        # an in-place update that left the values as they were (``d *= (a >= 0)`` with a mask always
        # true) is still the line that computed them
        target = _updated_in_place(code_line(filename, line))
        if target is not None and target in now and not _changed(before.get(target), now[target]):
            record(filename, line, target, now[target])
        return now

    def local(frame, event, arg):
        if event == "line":
            last, _ = state[frame]
            snap = diff(frame, last) if last is not None else _snapshot(frame)
            state[frame] = (frame.f_lineno, snap)
        elif event == "return":
            last, _ = state[frame]
            if last is not None:
                diff(frame, last)
                back = frame.f_back
                caller = (back.f_code.co_filename, back.f_lineno) if back is not None and back in state else None
                for name, arr in _arrays(arg, "return"):
                    record(frame.f_code.co_filename, last, name, arr, caller)
            state.pop(frame, None)
        return local

    def global_trace(frame, event, arg):
        code = frame.f_code
        if code not in by_code:
            path = os.path.realpath(code.co_filename)
            by_code[code] = path if path in wanted else None
        if by_code[code] is None:
            return None
        state[frame] = (None, {})
        return local

    previous = sys.gettrace()
    sys.settrace(global_trace)
    try:
        fn(*args)
    except Exception:  # the failing line is evidence too: the records up to it stand
        pass
    finally:
        sys.settrace(previous)
    return records
