"""Which line computed which array: a target's call run under ``sys.settrace``.

``trace_call(fn, args, files)`` calls ``fn(*args)`` and records, line by line, every NumPy array
bound to a local name in the frames of ``files`` (all files outside crosscheck, the standard
library and installed packages when ``files`` is None): ``{"file", "line", "code", "name",
"array"}``, the line being the one whose execution bound (or rebound) the name. Diagnosis
matches these arrays against the true intermediates to name the line where a wrong value is
first computed. The audit runs it where the target runs (``audit.worker``'s ``trace`` request),
so what comes back is plain data.

The tracer is installed for the call and removed after it, whatever the call does.
"""
from __future__ import annotations

import linecache
import os
import sys
from pathlib import Path

import numpy as np

#: Most arrays recorded in one call, and most elements of one recorded array.
MAX_RECORDS = 2000
MAX_ELEMENTS = 1 << 16
_PACKAGE = str(Path(__file__).resolve().parents[1])


def trace_call(fn, args, files=None) -> list[dict]:
    """Call ``fn(*args)`` under the tracer; the arrays assigned in ``files``, in execution order.

    Whatever ``fn`` raises is raised again after the tracer is removed.
    """
    wanted = {str(Path(f).resolve()) for f in files} if files else None
    records: list[dict] = []
    seen: dict[int, dict[str, int]] = {}  # per frame: name -> id of the array last recorded
    where: dict[int, int] = {}  # per frame: the line that just ran

    def ours(code) -> bool:
        path = code.co_filename
        if wanted is not None:
            return os.path.realpath(path) in wanted
        return not (path.startswith("<") or os.path.realpath(path).startswith(_PACKAGE + os.sep)
                    or "site-packages" in path or "/lib/python3" in path)

    def collect(frame) -> None:
        line = where.get(id(frame))
        if line is None:
            return
        known = seen.setdefault(id(frame), {})
        for name, value in list(frame.f_locals.items()):
            if isinstance(value, np.ndarray) and known.get(name) != id(value) and len(records) < MAX_RECORDS:
                known[name] = id(value)
                if value.size <= MAX_ELEMENTS and value.dtype.kind in "biufc":
                    file = frame.f_code.co_filename
                    records.append({"file": file, "line": line,
                                    "code": linecache.getline(file, line).strip()[:200],
                                    "name": name, "array": np.array(value, copy=True)})

    def local(frame, event, arg):
        if event in ("line", "return"):
            collect(frame)
            where[id(frame)] = frame.f_lineno
            if event == "return":
                seen.pop(id(frame), None)
                where.pop(id(frame), None)
        return local

    def calls(frame, event, arg):
        if event == "call" and ours(frame.f_code):
            where.pop(id(frame), None)  # arguments are not assigned by a line of this frame
            seen[id(frame)] = {n: id(v) for n, v in frame.f_locals.items() if isinstance(v, np.ndarray)}
            return local
        return None

    before = sys.gettrace()
    sys.settrace(calls)
    try:
        fn(*args)
    finally:
        sys.settrace(before)
    return records
