"""The audit's results stream: ``DIR/audit.jsonl``, one JSON line per finished target.

The first line says which run it is (``{"audit": {options}, "paths": [...]}``); every further
line is one target's record (``record.assemble``), appended and flushed the moment the target
is done. An interrupted audit (Ctrl-C, SIGTERM, a crash) keeps every finished target here, and
``crosscheck audit ... --resume`` reads them back and audits only the rest. A line that is not
JSON (cut by a kill, changed by hand) is skipped and counted, never a traceback.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

NAME = "audit.jsonl"


class JournalError(ValueError):
    """A stream that cannot be resumed: a one-line reason."""


def key(rec: dict) -> str:
    """What identifies a target across runs: its file (resolved) and its function (or the file alone)."""
    file = str(Path(rec.get("file") or "").resolve())
    return f"{file}::{rec.get('function') or ''}"


class Journal:
    """Appends records to ``path``; ``start`` writes the run's first line."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh = None

    def start(self, run: dict, *, resume: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not resume:
            self._fh = open(self.path, "w", encoding="utf-8")
            self._write({"audit": run})
        else:
            self._fh = open(self.path, "a", encoding="utf-8")

    def append(self, rec: dict) -> None:
        self._write(rec)

    def _write(self, obj: dict) -> None:
        from crosscheck.model.records import json_safe

        self._fh.write(json.dumps(json_safe(obj), allow_nan=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def header(path: str | Path) -> dict | None:
    """The first line's run description (options and paths) of the stream at ``path``, or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(obj, dict) and isinstance(obj.get("audit"), dict):
                    return obj["audit"]
    except OSError:
        return None
    return None


def read(path: str | Path, run: dict) -> tuple[dict[str, dict], int]:
    """``({key: record}, damaged lines)`` of a stream written by the same ``run`` (options and paths);
    ``JournalError`` if there is none or it belongs to another run."""
    path = Path(path)
    if not path.is_file():
        raise JournalError(f"--resume: {path} does not exist; run without --resume to start")
    records: dict[str, dict] = {}
    damaged = 0
    head = None
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                damaged += 1
                continue
            if not isinstance(obj, dict):
                damaged += 1
            elif head is None and "audit" in obj:
                head = obj["audit"]
            elif isinstance(obj.get("name"), str) and isinstance(obj.get("verdict"), str):
                records[key(obj)] = obj
            else:
                damaged += 1
    if head is None:
        raise JournalError(f"--resume: {path} does not start with an audit's first line; run without --resume")
    if head != json.loads(json.dumps(run)):
        diffs = ", ".join(f"{k} {head.get(k)!r} then, {run.get(k)!r} now" for k in sorted(set(head) | set(run))
                          if head.get(k) != run.get(k))
        raise JournalError(f"--resume: {path} belongs to a different audit ({diffs}); rerun with the same "
                           f"arguments, or without --resume to start afresh")
    return records, damaged
