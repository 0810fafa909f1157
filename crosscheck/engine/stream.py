"""Durable results: every checked case goes to disk as one JSON line the moment it is done.

A run writes ``results.jsonl`` in its report folder::

    {"type": "run", "command": "fuzz", "target": "reference", "seed": 0, "examples": 500, ...}
    {"type": "result", "index": 0, "phase": "generate", "result": {...}}   # one per checked case
    {"type": "result", "index": 500, "phase": "shrink", "result": {...}}
    {"type": "finding", "kind": "mismatch", "tensors": [...], "first_seen": 3, "result": {...}, ...}
    {"type": "end", "seconds": 12.5, "stopped": null}

Each line is flushed as it is written, so a run killed halfway keeps every
completed result; a last line cut short by the kill is ignored on reading.
``crosscheck report DIR`` rebuilds the reports from this file alone, and a
rerun with ``--resume`` skips the cases already in it.

``result_to_dict`` / ``result_from_dict`` turn a ``CaseResult`` into plain
JSON-able data and back (every dataclass field, so fields added later travel
too); NaN and inf are written as JSON's ``NaN`` / ``Infinity`` extensions,
which ``json`` reads back exactly. In result lines each tensor's comparison is
a row of values, in the order the run line names once under
``comparison_fields`` (a dozen rows a case: the keys would be most of the line,
and most of the time spent writing it).
"""
from __future__ import annotations

import functools
import json
import os
import re
from array import array
from dataclasses import fields
from pathlib import Path
from typing import Iterator

STREAM_FILE = "results.jsonl"
#: 1: comparisons as objects; 2: comparisons in result lines as rows (``comparison_fields``).
FORMAT = 2
# Our own lines start like this (compact separators, "type" first): reading an index needs no full parse.
_TYPE = re.compile(rb'^\{"type":"(\w+)"')
_RESULT = re.compile(rb'^\{"type":"result","index":(\d+),"phase":"(\w+)"')


class StreamError(ValueError):
    """A results stream that cannot be read or resumed (one line saying why and what to do)."""


# -- CaseResult <-> dict ---------------------------------------------------------------

def comparison_to_dict(c) -> dict:
    d = dict(c.__dict__)
    for k in ("shape", "expected_shape", "worst_index"):
        if d.get(k) is not None:
            d[k] = list(d[k])
    return d


def comparison_fields() -> tuple[str, ...]:
    """The fields of a ``TensorComparison``, in the order of a comparison row."""
    global _FIELDS
    if _FIELDS is None:
        from crosscheck.numerics.compare import TensorComparison

        _FIELDS = tuple(f.name for f in fields(TensorComparison))
    return _FIELDS


_FIELDS: tuple[str, ...] | None = None


def comparison_row(c) -> list:
    """A comparison as a row of values in ``comparison_fields()`` order."""
    values = c.__dict__
    if len(values) == len(comparison_fields()):  # a dataclass sets its fields in order
        return list(values.values())
    return [values[f] for f in comparison_fields()]


def comparison_from_dict(d: dict | list, row_fields=None):
    """A ``TensorComparison`` from its dict, or from a row with the names ``row_fields``."""
    from crosscheck.numerics.compare import TensorComparison

    if isinstance(d, list):
        d = dict(zip(row_fields or comparison_fields(), d))
    names = set(comparison_fields())
    kw = {k: v for k, v in d.items() if k in names}
    for k in ("shape", "expected_shape", "worst_index"):
        if kw.get(k) is not None:
            kw[k] = tuple(kw[k])
    return TensorComparison(**kw)


def result_to_dict(r, rows: bool = False) -> dict:
    """Every field of a ``CaseResult``; its comparisons as dicts, or as rows with ``rows``."""
    d = {name: getattr(r, name) for name in _field_names(type(r))}
    d["case"] = r.case.to_dict()
    if rows:  # a dataclass sets its fields in order: its __dict__ is the row (``comparison_row``)
        n = len(comparison_fields())
        d["comparisons"] = [list(v.values()) if len(v := c.__dict__) == n else comparison_row(c)
                            for c in r.comparisons]
    else:
        d["comparisons"] = [comparison_to_dict(c) for c in r.comparisons]
    return d


def result_from_dict(d: dict, row_fields=None):
    """A ``CaseResult`` back; ``row_fields`` names the values of comparison rows (the run line's
    ``comparison_fields``)."""
    from crosscheck.model.cases import Case
    from crosscheck.judge.check import CaseResult

    names = {f.name for f in fields(CaseResult)}
    kw = {k: v for k, v in d.items() if k in names}
    kw["case"] = Case.from_dict(d["case"])
    kw["comparisons"] = [comparison_from_dict(c, row_fields) for c in d.get("comparisons", [])]
    return CaseResult(**kw)


@functools.lru_cache(maxsize=None)
def _field_names(cls) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _dumps(obj) -> str:
    return _ENCODER.encode(obj)


def _default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (tuple, set)):
        return list(obj)
    return str(obj)


# one encoder for every line (json.dumps with options builds a new one each call); our records hold
# no cycles, so the encoder need not track the containers it is inside
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_default, check_circular=False)


# -- a result's texts by hand ----------------------------------------------------------
#
# Recording a checked case writes it twice: its line here (``result_line``) and its rows of fuzz.csv
# (``reports.tables.case_csv``, called right after on the same result). Both are mostly a dozen
# comparisons of short names, small int tuples and floats, where ``json`` and ``csv`` spend their
# time: above all on float texts (the shortest repr costs about 0.5 µs, and a case has some 60
# floats), then on a chunk or a cell per value. So ``case_texts`` formats each comparison of the usual
# types once for both files, byte for byte what ``_dumps`` and ``csv.writer`` write for them, keeps
# the text of each float for its next use (a case repeats its budgets and errors), and hands the
# second call the texts of the first. Any other comparison is left to the general code.

#: Texts of finite, nonzero floats formatted lately (``float.__repr__``, which JSON and CSV both
#: write for them). Zeros stay out (``0.0 == -0.0``: one key for two texts), and so do NaN and inf.
#: Cleared when full.
FLOAT_TEXT: dict[float, str] = {}
_FLOAT_TEXT_SIZE = 4096


def float_repr(x: float) -> str:
    """``float.__repr__(x)`` for a float ``x``, kept in ``FLOAT_TEXT`` when finite and nonzero."""
    text = float.__repr__(x)
    if x and x - x == 0.0:  # nonzero and finite: inf - inf and NaN - NaN are NaN
        if len(FLOAT_TEXT) >= _FLOAT_TEXT_SIZE:
            FLOAT_TEXT.clear()
        FLOAT_TEXT[x] = text
    return text


#: Text that both files write as it is: printable ASCII without ``"``, ``\`` (JSON would escape
#: them) and ``,`` (CSV would quote the cell).
_PLAIN = re.compile(r'[ !#-+\--\[\]-~]*\Z').match
#: Strings found plain lately (names, statuses and notes repeat): a set lookup instead of a match.
_PLAIN_TEXTS: set[str] = {""}


def _plain(text: str) -> bool:
    """Whether ``text`` (a ``str``) is ``_PLAIN``, remembered in ``_PLAIN_TEXTS`` if so."""
    if _PLAIN(text) is None:
        return False
    if len(_PLAIN_TEXTS) >= 1024:
        _PLAIN_TEXTS.clear()
        _PLAIN_TEXTS.add("")
    _PLAIN_TEXTS.add(text)
    return True


#: The comparison row's fields in the order ``comparison_texts`` writes them; another layout goes
#: to the general code.
_ROW_FIELDS = ("tensor", "shape", "expected_shape", "dtype", "size", "mismatches", "mismatch_fraction",
               "max_abs_err", "max_rel_err", "worst_index", "allowed_abs_err", "torch_err", "status", "note",
               "arbiter", "arbiter_note", "conventions")

#: ``_int_texts`` of tuples of Python ints seen lately; cleared when full.
_INT_TEXTS: dict[tuple, tuple[str, str, str]] = {}


def _int_texts(t) -> tuple[str, str, str] | None:
    """For a tuple of one or two Python ints, e.g. ``(1, 29)``: its JSON (``[1,29]``), its shape cell in
    fuzz.csv (``1x29``) and its index cell (``"(1, 29)"``, quoted for its comma); ``None`` for anything
    else (a bool, a NumPy int or a float is written otherwise, though equal to an int)."""
    if type(t) is tuple:
        n = len(t)
        if n == 2:
            a, b = t
            if int is type(a) is type(b):  # only now may t be a key: (True, 2) == (1, 2)
                texts = _INT_TEXTS.get(t)
                if texts is None:
                    texts = _INT_TEXTS[t] = (f"[{a},{b}]", f"{a}x{b}", f'"({a}, {b})"')
                return texts
        elif n == 1:
            a = t[0]
            if type(a) is int:
                texts = _INT_TEXTS.get(t)
                if texts is None:
                    texts = _INT_TEXTS[t] = (f"[{a}]", f"{a}", f'"({a},)"')
                return texts
    return None


def comparison_texts(c) -> tuple[str, str] | None:
    """A comparison's JSON row (``_dumps(comparison_row(c))``) and its fuzz.csv cells from ``tensor``
    on (``reports.tables.case_rows``, as ``csv.writer`` writes them), for the usual types: names and
    notes of plain characters (``_PLAIN``), shapes and index of one or two ints, Python ints and finite
    floats (``torch_err`` may be NaN); ``None`` for any other comparison. The caller has checked that
    ``comparison_fields() == _ROW_FIELDS``."""
    values = c.__dict__
    if len(values) != len(_ROW_FIELDS):  # extra attributes: their order is not the fields' order
        return None
    # a dataclass sets its fields in order (``comparison_row``)
    (tensor, shape, expected, dtype, size, mismatches, frac, abs_err, rel_err, worst, allowed, torch_err, status,
     note, arbiter, arbiter_note, conventions) = values.values()
    agree = c.agree
    plain = _PLAIN_TEXTS
    if not (str is type(tensor) is type(dtype) is type(status) is type(note) is type(arbiter) is type(arbiter_note)
            and int is type(size) is type(mismatches) is type(conventions) and type(agree) is bool
            and float is type(frac) is type(abs_err) is type(rel_err) is type(allowed) is type(torch_err)
            and frac - frac == abs_err - abs_err == rel_err - rel_err == allowed - allowed == 0.0  # finite
            and (tensor in plain or _plain(tensor)) and (dtype in plain or _plain(dtype))
            and (status in plain or _plain(status)) and (note in plain or _plain(note))
            and (arbiter in plain or _plain(arbiter)) and (arbiter_note in plain or _plain(arbiter_note))):
        return None
    shape, expected = _int_texts(shape), _int_texts(expected)
    worst = ("null", "") if worst is None else _int_texts(worst)
    if shape is None or expected is None or worst is None:
        return None
    text = FLOAT_TEXT.get
    frac, abs_err, rel_err, allowed = (text(frac) or float_repr(frac), text(abs_err) or float_repr(abs_err),
                                       text(rel_err) or float_repr(rel_err), text(allowed) or float_repr(allowed))
    if torch_err != torch_err:  # noise not measured
        torch_json, torch_csv = "NaN", ""
    elif torch_err - torch_err == 0.0:
        torch_json = torch_csv = text(torch_err) or float_repr(torch_err)
    else:
        return None
    if arbiter_note:  # the note cell: "; ".join of the notes that are not empty
        note_csv = f"{note}; {arbiter_note}" if note else arbiter_note
    else:
        note_csv = note
    return (f'["{tensor}",{shape[0]},{expected[0]},"{dtype}",{size},{mismatches},{frac},{abs_err},{rel_err},'
            f'{worst[0]},{allowed},{torch_json},"{status}","{note}","{arbiter}","{arbiter_note}",{conventions}]',
            f"{tensor},{shape[1]},{status},{abs_err},{rel_err},{allowed},{torch_csv},{mismatches},{size},{frac},"
            f"{worst[-1]},{agree},{arbiter},{note_csv}")


#: The texts of results formatted lately and not yet asked for again, by ``id``: (result, its
#: comparisons list, JSON rows, CSV cells, how many more calls may take them). Each entry holds
#: its result, so no other object can take its ``id`` meanwhile. A few chunks' worth: results
#: that workers finish out of order wait that long for fuzz.csv.
_TEXTS: dict[int, tuple] = {}
_TEXTS_KEPT = 512


def case_texts(result) -> tuple[list[str], list[str | None]]:
    """The JSON rows and the fuzz.csv cells (from ``tensor`` on) of a result's comparisons, by
    ``comparison_texts``; a comparison outside its types has its row from ``_dumps`` and ``None``
    cells (for the CSV's general code). A result is formatted once for its two files: the first
    call keeps the texts for the second (the stream line, then fuzz.csv), which takes them. A
    result is not changed once it is recorded."""
    comparisons = result.comparisons
    key = id(result)
    kept = _TEXTS.get(key)
    if kept is not None and kept[0] is result and kept[1] is comparisons and len(kept[2]) == len(comparisons):
        if kept[4] > 1:
            _TEXTS[key] = (*kept[:4], kept[4] - 1)
        else:
            del _TEXTS[key]
        return kept[2], kept[3]
    rows, cells = [], []
    by_hand = comparison_fields() == _ROW_FIELDS
    for c in comparisons:
        texts = comparison_texts(c) if by_hand else None
        if texts is None:
            rows.append(_dumps(comparison_row(c)))
            cells.append(None)
        else:
            rows.append(texts[0])
            cells.append(texts[1])
    if len(_TEXTS) >= _TEXTS_KEPT:
        del _TEXTS[next(iter(_TEXTS))]  # the oldest
    _TEXTS[key] = (result, comparisons, rows, cells, 1)
    if len(_INT_TEXTS) > 1024:
        _INT_TEXTS.clear()
    return rows, cells


def keep_texts(result, rows: list[str], cells: list[str]) -> None:
    """Texts of ``result``'s comparisons made with its records (``fastpath`` formats the records it
    builds itself, a chunk at once): ``case_texts`` hands them to the stream line and to fuzz.csv,
    byte for byte what it would have written (``tests/test_fastpath.py`` checks it)."""
    if comparison_fields() != _ROW_FIELDS or len(rows) != len(result.comparisons):
        return
    if len(_TEXTS) >= _TEXTS_KEPT:
        del _TEXTS[next(iter(_TEXTS))]  # the oldest
    _TEXTS[id(result)] = (result, result.comparisons, rows, cells, 2)


@functools.lru_cache(maxsize=None)
def _around_comparisons(cls) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The fields of ``cls`` before and after ``comparisons``; ``None`` unless there are both."""
    names = _field_names(cls)
    if "comparisons" not in names:
        return None
    k = names.index("comparisons")
    return (names[:k], names[k + 1:]) if 0 < k < len(names) - 1 else None


#: The JSON of the phases met so far ("generate", "shrink", ...).
_PHASE_JSON: dict[str, str] = {}


def result_line(index: int, phase: str, result) -> str:
    """The stream line of one result, newline included: ``result_to_dict(result, rows=True)`` under
    ``{"type":"result","index":..,"phase":..,"result":..}``, its comparison rows from ``case_texts``."""
    phase_json = _PHASE_JSON.get(phase) if type(phase) is str else None
    if phase_json is None:
        phase_json = _dumps(phase)
        if type(phase) is str and len(_PHASE_JSON) < 64:
            _PHASE_JSON[phase] = phase_json
    prefix = f'{{"type":"result","index":{int(index)},"phase":{phase_json},"result":'
    around = _around_comparisons(type(result))
    if around is None:
        return f"{prefix}{_dumps(result_to_dict(result, rows=True))}}}\n"
    before, after = around
    if before == _HEAD and after == _TAIL:
        around_texts = _usual_head_tail(result)
        if around_texts is not None:
            return f'{prefix}{around_texts[0]},"comparisons":[{",".join(case_texts(result)[0])}],{around_texts[1]}}}\n'
    head = {name: getattr(result, name) for name in before}
    tail = {name: getattr(result, name) for name in after}
    if "case" in head:
        head["case"] = result.case.to_dict()
    elif "case" in tail:
        tail["case"] = result.case.to_dict()
    # '{"case":..,"target":..' and ',"comparisons":[..],' and '"crash":..,..}'
    return f'{prefix}{_dumps(head)[:-1]},"comparisons":[{",".join(case_texts(result)[0])}],{_dumps(tail)[1:]}}}\n'


_HEAD, _TAIL = ("case", "target"), ("crash", "loss", "undefined", "measured")


def _usual_head_tail(result) -> tuple[str, str] | None:
    """``_dumps`` of a result's fields before and after its comparisons (less the closing brace of
    the first and the opening brace of the second), by hand for the usual values: plain names
    (``_PLAIN``), ints, a finite loss, no crash; ``None`` for anything else (``result_line`` then
    asks ``_dumps``). ``tests/test_record_speedpath.py`` holds it to what ``json`` writes."""
    case = result.case
    n = case.network
    target, loss, crash, undefined, measured = result.target, result.loss, result.crash, result.undefined, result.measured
    sizes, activations, batch, seed = n.sizes, n.activations, case.batch, case.seed
    if not (crash is None and not n.options() and type(loss) is float and loss - loss == 0.0 and type(undefined) is bool
            and type(measured) is tuple and int is type(batch) is type(seed)
            and all(type(k) is int for k in sizes) and all(type(a) is str for a in activations)
            and all(type(m) is str for m in measured)
            and str is type(target) is type(n.loss) is type(n.reduction) is type(case.dtype) is type(case.regime)
            and _PLAIN("".join((target, n.loss, n.reduction, case.dtype, case.regime, *activations, *measured)))):
        return None
    acts = '"' + '","'.join(activations) + '"' if activations else ""
    done = '"' + '","'.join(measured) + '"' if measured else ""
    return (f'{{"case":{{"sizes":[{",".join(map(str, sizes))}],"activations":[{acts}],"loss":"{n.loss}",'
            f'"reduction":"{n.reduction}","batch":{batch},"dtype":"{case.dtype}","regime":"{case.regime}",'
            f'"seed":{seed}}},"target":"{target}"',
            f'"crash":null,"loss":{FLOAT_TEXT.get(loss) or float_repr(loss)},'
            f'"undefined":{"true" if undefined else "false"},"measured":[{done}]}}')


# -- writing ----------------------------------------------------------------------------

class StreamWriter:
    """Appends result lines to ``DIR/results.jsonl``, flushing each one.

    ``StreamWriter(dir, header)`` starts a new stream (replacing an old one);
    ``StreamWriter.resume(dir, header)`` keeps the generated results of an
    earlier run with the same header and drops the rest (its shrinking and
    findings are redone), returning the writer and the indices already done.
    """

    def __init__(self, directory, header: dict, *, _append: bool = False):
        self.path = Path(directory) / STREAM_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a" if _append else "w", encoding="utf-8")
        self._previous: int | None = None  # the id of the last result written by hand
        if not _append:
            self._line(_run_line(header))

    @classmethod
    def resume(cls, directory, header: dict, keep_phases=("generate",)) -> tuple["StreamWriter", dict[int, dict]]:
        """Reopen a stream for a rerun with the same ``header``; returns (writer, {index: result dict})."""
        path = Path(directory) / STREAM_FILE
        if not path.exists():
            return cls(directory, header), {}
        contents = read(directory)
        old = {k: v for k, v in contents.header.items() if k not in ("type", "format")}
        mismatched = sorted(k for k in set(old) | set(header) if old.get(k) != header.get(k)
                            and k in RESUME_KEYS)
        if mismatched:
            diffs = ", ".join(f"{k} {old.get(k)!r} there, {header.get(k)!r} now" for k in mismatched)
            raise StreamError(f"--resume: {path} belongs to a different run ({diffs}); rerun with the same "
                              f"arguments, or without --resume to start afresh")
        done: dict[int, dict] = {}
        same_rows = contents.row_fields == comparison_fields()
        for rec in contents.records("result"):
            if rec.get("phase") in keep_phases:
                if not same_rows:  # written by another version: rows in today's order
                    rec["result"] = result_to_dict(result_from_dict(rec["result"], contents.row_fields), rows=True)
                done[int(rec["index"])] = rec
        tmp = path.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(_dumps(_run_line(header)) + "\n")
            for i in sorted(done):
                fh.write(_dumps(done[i]) + "\n")
        os.replace(tmp, path)
        return cls(directory, header, _append=True), done

    def _line(self, obj: dict) -> None:
        self.fh.write(_dumps(obj) + "\n")
        self.fh.flush()

    def result(self, index: int, phase: str, result) -> None:
        # Formatting by hand pays when the texts were made with the records (``keep_texts``) or when
        # fuzz.csv takes them too (``case_texts``); otherwise (a stream without a report: the
        # previous result's texts still unclaimed) the line is left to ``json``.
        shared = self._previous is None or self._previous not in _TEXTS or id(result) in _TEXTS
        self.fh.write(result_line(index, phase, result) if shared else
                      f'{{"type":"result","index":{int(index)},"phase":{_dumps(phase)},"result":'
                      f'{_dumps(result_to_dict(result, rows=True))}}}\n')
        self.fh.flush()
        if shared:
            self._previous = id(result)

    def record(self, type: str, data: dict | None = None, **fields) -> None:
        """Any other line: ``type`` is ``finding``, ``end``, or a command's own kind of record."""
        self._line({"type": type, **(data or {}), **fields})

    def close(self) -> None:
        if not self.fh.closed:
            self.fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _run_line(header: dict) -> dict:
    return {"type": "run", "format": FORMAT, **header, "comparison_fields": list(comparison_fields())}


#: Header fields that must match for ``--resume`` to continue a stream.
RESUME_KEYS = ("command", "target", "seed", "examples", "family", "bounds")


# -- reading ----------------------------------------------------------------------------

class StreamContents:
    """A stream read back: ``header`` (the run line) and its records by type, read lazily from disk."""

    def __init__(self, path: Path, header: dict, offsets: dict[str, list[int]]):
        self.path, self.header, self._offsets = path, header, offsets
        #: the names of the values of comparison rows in this stream's result lines
        self.row_fields = tuple(header.get("comparison_fields") or comparison_fields())

    def count(self, kind: str) -> int:
        return len(self._offsets.get(kind, ()))

    def records(self, kind: str) -> Iterator[dict]:
        """Every record of ``kind`` in file order, one at a time (memory stays flat)."""
        with open(self.path, "rb") as fh:
            for off in self._offsets.get(kind, ()):
                fh.seek(off)
                yield json.loads(fh.readline())

    def results(self, phases=None) -> "StreamResults":
        return StreamResults(self, phases)


class StreamResults:
    """The ``CaseResult``s of a stream in index order, decoded on demand: a sequence that
    ``len()``, iteration and indexing work on, holding only file offsets in memory."""

    def __init__(self, contents: StreamContents, phases=None):
        self.contents = contents
        # byte offsets and indices in flat arrays (8 bytes a result), sorted by index only if needed
        indices, offsets = array("q"), array("q")
        with open(contents.path, "rb") as fh:
            for off in contents._offsets.get("result", ()):
                fh.seek(off)
                line = fh.readline(256)
                m = _RESULT.match(line)
                index, phase = (int(m.group(1)), m.group(2).decode()) if m else _index_phase(fh, off)
                if phases is None or phase in phases:
                    indices.append(index)
                    offsets.append(off)
        if any(a > b for a, b in zip(indices, indices[1:])):
            offsets = array("q", (offsets[k] for k in sorted(range(len(indices)), key=indices.__getitem__)))
        self._offsets = offsets

    def __len__(self) -> int:
        return len(self._offsets)

    def _load(self, fh, off):
        fh.seek(off)
        return result_from_dict(json.loads(fh.readline())["result"], self.contents.row_fields)

    def __iter__(self):
        with open(self.contents.path, "rb") as fh:
            for off in self._offsets:
                yield self._load(fh, off)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        with open(self.contents.path, "rb") as fh:
            return self._load(fh, self._offsets[i])


def _index_phase(fh, off: int) -> tuple[int, str]:
    fh.seek(off)
    rec = json.loads(fh.readline())
    return int(rec["index"]), rec.get("phase", "")


def read(directory) -> StreamContents:
    """Index ``DIR/results.jsonl``: the header and the byte offset of every complete line."""
    path = Path(directory) / STREAM_FILE
    if not path.exists():
        hint = " (it holds report files but no results stream: rerun the command with --report there)" \
            if Path(directory).is_dir() else ""
        raise StreamError(f"{path} not found{hint}")
    header: dict | None = None
    offsets: dict[str, array] = {}
    with open(path, "rb") as fh:
        off = 0
        for raw in fh:
            start, off = off, off + len(raw)
            if not raw.endswith(b"\n"):
                break  # the last line of a killed run, cut short
            try:
                m = _TYPE.match(raw) if header is not None else None
                kind = m.group(1).decode() if m else (json.loads(raw)["type"] if header is not None else None)
                if header is None:
                    header = json.loads(raw)
                    if header.get("type") != "run":
                        raise ValueError("first line is not a run header")
                    continue
            except (ValueError, KeyError, TypeError) as e:
                raise StreamError(f"{path}: line at byte {start} is not a crosscheck record ({e}); "
                                  f"was the file written by another program?") from None
            offsets.setdefault(kind, array("q")).append(start)
    if header is None:
        raise StreamError(f"{path} is empty: the run was stopped before its first result")
    return StreamContents(path, header, offsets)
