"""Durable results: every checked case goes to disk as one JSON line the moment it is done.

A run writes ``results.jsonl`` in its report folder::

    {"type": "run", "command": "fuzz", "target": "reference", "seed": 0, "examples": 500, ...}
    {"type": "result", "index": 0, "phase": "generate", "result": {...}}   # one per checked case
    {"type": "result", "index": 500, "phase": "shrink", "result": {...}}
    {"type": "finding", "kind": "mismatch", "tensors": [...], "first_seen": 3, "result": {...}, ...}
    {"type": "end", "seconds": 12.5, "stopped": null}

Each line is flushed as it is written, so a run killed halfway keeps every
completed result. ``crosscheck report DIR`` rebuilds the reports from this file
alone, and a rerun with ``--resume`` skips the cases already in it.

A result is ``CaseResult.to_dict()`` and a finding ``Finding.to_dict()``
(``model.records``), written by ``json``; NaN and inf as JSON's ``NaN`` /
``Infinity`` extensions, which ``json`` reads back exactly. A result's
comparisons are rows of values, named once in the run line under
``comparison_fields``. A line that is not one of ours (cut short by a kill, a
changed byte, another program's line) is skipped on reading and counted
(``StreamContents.skipped``); every reader says how many.
"""
from __future__ import annotations

import json
import os
from array import array
from pathlib import Path
from typing import Iterator

import numpy as np

from crosscheck.model.records import CaseResult, Finding, comparison_fields

STREAM_FILE = "results.jsonl"
#: 1: comparisons as objects; 2: comparisons in result lines as rows (``comparison_fields``);
#: 3: ``CaseResult.to_dict`` (an agreeing case may be folded into one row, ``CaseResult.folded``).
FORMAT = 3
#: The kinds of line a stream holds after its run line.
KINDS = ("result", "finding", "end")


class StreamError(ValueError):
    """A results stream that cannot be read or resumed (one line saying why and what to do)."""


def _default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (tuple, set)):
        return list(obj)
    return str(obj)


# one encoder for every line (json.dumps with options builds a new one each call); our records hold
# no cycles, so the encoder need not track the containers it is inside
_dumps = json.JSONEncoder(separators=(",", ":"), default=_default, check_circular=False).encode


# -- writing ----------------------------------------------------------------------------

class StreamWriter:
    """Appends result lines to ``DIR/results.jsonl``, flushing each one.

    ``StreamWriter(dir, header)`` starts a new stream (replacing an old one);
    ``StreamWriter.resume(dir, header)`` keeps the generated results of an
    earlier run with the same header and drops the rest (its shrinking and
    findings are redone), returning the writer, the indices already done and
    how many damaged lines were skipped. With ``all_rows`` false, an agreeing
    case is written folded into one row (``CaseResult.folded``).
    """

    def __init__(self, directory, header: dict, *, all_rows: bool = True, _append: bool = False):
        self.path = Path(directory) / STREAM_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.all_rows = all_rows
        self.drawn = drawn_cases(header) is not None  # generated cases are drawn again on reading
        self.fh = open(self.path, "a" if _append else "w", encoding="utf-8")
        if not _append:
            self._line(_run_line(header))

    @classmethod
    def resume(cls, directory, header: dict, keep_phases=("generate",), *,
               all_rows: bool = True) -> tuple["StreamWriter", np.ndarray, int]:
        """Reopen a stream for a rerun with the same ``header``: (writer, the sorted indices already
        done, damaged lines skipped). The kept lines are copied as they are, one at a time."""
        path = Path(directory) / STREAM_FILE
        if not path.exists():
            return cls(directory, header, all_rows=all_rows), np.zeros(0, np.int64), 0
        contents = read(directory)
        old = {k: v for k, v in contents.header.items() if k not in ("type", "format")}
        mismatched = sorted(k for k in set(old) | set(header) if old.get(k) != header.get(k)
                            and k in RESUME_KEYS)
        if mismatched:
            diffs = ", ".join(f"{k} {old.get(k)!r} there, {header.get(k)!r} now" for k in mismatched)
            raise StreamError(f"--resume: {path} belongs to a different run ({diffs}); rerun with the same "
                              f"arguments, or without --resume to start afresh")
        same_rows = contents.row_fields == comparison_fields()
        # the first line of each index in a kept phase (a line written twice counts once), in file order
        wanted = [k for k, name in enumerate(contents._names) if name in keep_phases]
        kept = np.isin(np.frombuffer(contents._codes, np.uint8), wanted)
        indices = np.frombuffer(contents.indices, np.int64)[kept]
        offsets = np.frombuffer(contents.offsets("result"), np.int64)[kept]
        done, first = np.unique(indices, return_index=True)
        tmp = path.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as out, open(path, "rb") as fh:
            out.write(_dumps(_run_line(header)) + "\n")
            for off in offsets[np.sort(first)]:
                fh.seek(int(off))
                line = fh.readline().decode("utf-8")
                if not same_rows:  # written by another version: rows in today's order
                    rec = json.loads(line)
                    rec["result"] = contents.result(rec).to_dict(drawn=contents.case_of is not None)
                    line = _dumps(rec) + "\n"
                out.write(line)
        os.replace(tmp, path)
        return cls(directory, header, all_rows=all_rows, _append=True), done, contents.skipped

    def _line(self, obj: dict) -> None:
        self.fh.write(_dumps(obj) + "\n")
        self.fh.flush()

    def result(self, index: int, phase: str, result: CaseResult) -> None:
        if not self.all_rows:
            result = result.folded()
        self._line({"type": "result", "index": int(index), "phase": phase,
                    "result": result.to_dict(drawn=self.drawn and phase == "generate")})

    def finding(self, finding: Finding) -> None:
        self._line({"type": "finding", **finding.to_dict()})

    def record(self, type: str, data: dict | None = None, **fields) -> None:
        """Any other line: ``type`` is ``end``, or a command's own kind of record."""
        self._line({"type": type, **(data or {}), **fields})

    def close(self) -> None:
        if not self.fh.closed:
            self.fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def drawn_cases(header: dict):
    """``index -> Case`` for a campaign's stream (``campaign_header``: seed, family and bounds), whose
    generated cases are a pure function of (seed, index) and so are not written; else ``None``."""
    if header.get("command") != "fuzz" or not {"seed", "family", "bounds"} <= set(header):
        return None
    from crosscheck.drawing.sampler import Bounds, seeded_case
    from crosscheck.model.target import Family

    family = Family(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in (header["family"] or {}).items()})
    bounds, seed = Bounds(**header["bounds"]), header["seed"]
    return lambda index: seeded_case(seed, index, family, bounds)


def _run_line(header: dict) -> dict:
    return {"type": "run", "format": FORMAT, **header, "comparison_fields": list(comparison_fields())}


#: Header fields that must match for ``--resume`` to continue a stream.
RESUME_KEYS = ("command", "target", "seed", "examples", "family", "bounds")


# -- reading ----------------------------------------------------------------------------

class StreamContents:
    """A stream read back: ``header`` (the run line), the byte offset of each of its records by type,
    each result's index and phase, and ``skipped``, the lines that were not ours."""

    def __init__(self, path: Path, header: dict, offsets: dict[str, array], indices: array, codes: array,
                 names: list[str], skipped: int):
        self.path, self.header, self._offsets = path, header, offsets
        self.indices, self.skipped = indices, skipped
        self._codes, self._names = codes, names  # each result's phase, as a number into ``names``
        #: the names of the values of comparison rows in this stream's result lines
        self.row_fields = tuple(header.get("comparison_fields") or comparison_fields())
        #: case ``i`` of the run, for result lines written without their case (``drawn_cases``)
        self.case_of = drawn_cases(header)

    @property
    def phases(self) -> Iterator[str]:
        """Each result's phase, in file order."""
        return map(self._names.__getitem__, self._codes)

    def count(self, kind: str) -> int:
        return len(self._offsets.get(kind, ()))

    def offsets(self, kind: str) -> array:
        return self._offsets.get(kind, array("q"))

    def records(self, kind: str) -> Iterator[dict]:
        """Every record of ``kind`` in file order, one at a time (memory stays flat)."""
        with open(self.path, "rb") as fh:
            for off in self.offsets(kind):
                fh.seek(off)
                yield json.loads(fh.readline())

    def result(self, rec: dict) -> CaseResult:
        """The ``CaseResult`` of a result line (its case drawn again when the line has none)."""
        d = rec["result"]
        case = self.case_of(rec["index"]) if "case" not in d and self.case_of is not None else None
        return CaseResult.from_dict(d, self.row_fields, case, self.header.get("target"))

    def findings(self) -> list[Finding]:
        return [Finding.from_dict(rec, self.row_fields) for rec in self.records("finding")]

    def results(self, phases=None) -> "StreamResults":
        return StreamResults(self, phases)

    def skipped_note(self) -> str:
        """One sentence on the damaged lines skipped, or ""."""
        if not self.skipped:
            return ""
        return (f"{self.skipped} line{'s' if self.skipped != 1 else ''} of {self.path} "
                f"{'were' if self.skipped != 1 else 'was'} damaged or not crosscheck's and "
                f"{'were' if self.skipped != 1 else 'was'} skipped")


class StreamResults:
    """The ``CaseResult``s of a stream in index order, decoded on demand: a sequence that
    ``len()``, iteration and indexing work on, holding only file offsets in memory."""

    def __init__(self, contents: StreamContents, phases=None):
        self.contents = contents
        offsets = np.frombuffer(contents.offsets("result"), np.int64)
        indices = np.frombuffer(contents.indices, np.int64)
        if phases is not None:
            wanted = [k for k, name in enumerate(contents._names) if name in phases]
            keep = np.isin(np.frombuffer(contents._codes, np.uint8), wanted)
            offsets, indices = offsets[keep], indices[keep]
        if indices.size > 1 and (np.diff(indices) < 0).any():
            offsets = offsets[np.argsort(indices, kind="stable")]
        self._offsets = offsets

    def __len__(self) -> int:
        return len(self._offsets)

    def _load(self, fh, off) -> CaseResult:
        fh.seek(int(off))
        return self.contents.result(json.loads(fh.readline()))

    def __iter__(self):
        with open(self.contents.path, "rb") as fh:
            for off in self._offsets:
                yield self._load(fh, off)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        with open(self.contents.path, "rb") as fh:
            return self._load(fh, self._offsets[i])


def _parse(raw: bytes) -> dict | None:
    """A line of ours as a dict, or ``None``: cut short, not JSON, or not a record we write."""
    if not raw.endswith(b"\n"):
        return None
    try:
        rec = json.loads(raw)
    except ValueError:  # not JSON, or not UTF-8
        return None
    if not isinstance(rec, dict) or rec.get("type") not in KINDS:
        return None
    if rec["type"] == "result" and not (type(rec.get("index")) is int and isinstance(rec.get("result"), dict)
                                        and isinstance(rec["result"].get("comparisons"), list)):
        return None
    return rec


def read(directory) -> StreamContents:
    """Index ``DIR/results.jsonl``: the header, and the byte offset of every line that is one of ours;
    the others (cut short, damaged, foreign) are skipped and counted."""
    path = Path(directory) / STREAM_FILE
    if not path.exists():
        hint = " (it holds report files but no results stream: rerun the command with --report there)" \
            if Path(directory).is_dir() else ""
        raise StreamError(f"{path} not found{hint}")
    header: dict | None = None
    offsets: dict[str, array] = {}
    indices, codes, names, skipped = array("q"), array("B"), [], 0
    with open(path, "rb") as fh:
        off = 0
        for raw in fh:
            start, off = off, off + len(raw)
            if header is None:
                try:
                    header = json.loads(raw)
                except ValueError:
                    header = None
                if not isinstance(header, dict) or header.get("type") != "run":
                    raise StreamError(f"{path}: the first line is not a crosscheck run header; was the file "
                                      f"written by another program? Rerun without --resume to start afresh")
                continue
            rec = _parse(raw)
            if rec is None:
                skipped += 1
                continue
            kind = rec["type"]
            if kind == "result":
                phase = str(rec.get("phase", ""))
                if phase not in names:
                    if len(names) == 255:
                        skipped += 1  # (a stream of ours has a handful of phases)
                        continue
                    names.append(phase)
                indices.append(rec["index"])
                codes.append(names.index(phase))
            offsets.setdefault(kind, array("q")).append(start)
    if header is None:
        raise StreamError(f"{path} is empty: the run was stopped before its first result")
    return StreamContents(path, header, offsets, indices, codes, names, skipped)
