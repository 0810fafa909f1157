"""Run one job in its own process, with a wall-clock limit and a memory limit.

Audited code is untrusted and often broken: it may raise, loop forever, call
``sys.exit`` or ``os._exit``, dereference a null pointer or allocate without
bound. Each job runs in a child process (``worker.child_main``) that streams
one event per case back through a pipe, so however the child ends, the parent
keeps what was already computed and knows which case was running:

- ``done``: the job returned (findings inside it are the target's own business);
- ``timeout``: the wall-clock limit passed; the child is killed;
- ``signal``: the child died of a signal (SIGSEGV, SIGABRT, SIGKILL);
- ``exit``: the child exited before finishing (``os._exit``, a C ``exit()``);
- ``error``: crosscheck itself failed in the child (a bug to report, not a finding).

Children fork from a server that has imported torch and the harness once
(``multiprocessing``'s forkserver), so each starts in milliseconds; where
forkserver is missing they are spawned.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import re
import signal
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

#: Imported once by the fork server: torch, the oracle, Hypothesis and the runner.
PRELOAD = ["crosscheck.audit.worker"]

_CONTEXT = None


def context():
    """The multiprocessing context children are started from (forkserver with torch preloaded)."""
    global _CONTEXT
    if _CONTEXT is None:
        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        ctx = mp.get_context(method)
        if method == "forkserver":
            ctx.set_forkserver_preload(PRELOAD)
        _CONTEXT = ctx
    return _CONTEXT


@dataclass
class Limits:
    """``timeout``: seconds of wall clock for the whole job; ``memory_mb``: address space beyond the child's start."""

    timeout: float
    memory_mb: int | None = 2048


@dataclass
class Outcome:
    """How a job ended and everything it sent before."""

    ended: str  # done | timeout | signal | exit | error
    value: dict | None = None
    events: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    exitcode: int | None = None
    error: dict | None = None
    log_tail: str = ""
    timeout: float = 0.0

    @property
    def in_progress(self) -> dict | None:
        """The case the child had started and not finished when it ended, if any."""
        current = None
        for e in self.events:
            if e.get("event") == "case":
                current = e["case"]
            elif e.get("event") == "result":
                current = None
        return current

    @property
    def signal_name(self) -> str | None:
        if self.exitcode is None or self.exitcode >= 0:
            return None
        try:
            return signal.Signals(-self.exitcode).name
        except ValueError:
            return f"signal {-self.exitcode}"

    def location(self) -> str | None:
        """``file:line in function`` of the innermost frame of the user's code in the child's last words."""
        return user_frame(self.log_tail)


def run_job(job: dict, limits: Limits, on_event=None) -> Outcome:
    """Run ``job`` (see ``worker.run_job``) in a child process within ``limits``.

    ``on_event`` is called in this process for every event the child streams.
    """
    ctx = context()
    receiver, sender = ctx.Pipe(duplex=False)
    fd, log = tempfile.mkstemp(prefix="crosscheck-audit-", suffix=".log")
    os.close(fd)
    job = {**job, "log": log, "memory_mb": limits.memory_mb}
    proc = ctx.Process(target=_child_entry, args=(sender, job), daemon=True, name="crosscheck-audit")
    out = Outcome(ended="exit", timeout=limits.timeout)
    start = time.monotonic()
    try:
        proc.start()
        sender.close()
        out.ended = _pump(receiver, proc, start + limits.timeout, out, on_event)
        if out.ended == "timeout":
            proc.kill()
        proc.join(10)
        if proc.is_alive():  # did not die even of SIGKILL within 10 s: leave it to the OS, say so
            out.error = out.error or {"type": "ChildStuck", "message": "the child did not exit after SIGKILL"}
        out.exitcode = proc.exitcode
        if out.ended == "exit" and out.exitcode is not None and out.exitcode < 0:
            out.ended = "signal"
        if out.ended != "done" and not any(e.get("event") == "started" for e in out.events):
            # it never reached crosscheck's code: our failure (or the caller's), not the audited code's
            out.error = out.error or {
                "type": "ChildDidNotStart",
                "message": (f"the child process ended ({out.ended}, status {out.exitcode}) before running "
                            f"crosscheck's code; a script that calls crosscheck.audit must guard the call "
                            f"with if __name__ == '__main__': (multiprocessing imports the main module)")}
            out.ended = "error"
    except BaseException:
        if proc.is_alive():
            proc.kill()
            proc.join(5)
        raise
    finally:
        out.seconds = time.monotonic() - start
        receiver.close()
        out.log_tail = _tail(log)
        try:
            os.unlink(log)
        except OSError:
            pass
    return out


def _child_entry(conn, job):
    from crosscheck.audit.worker import child_main

    child_main(conn, job)


def _pump(receiver, proc, deadline: float, out: Outcome, on_event) -> str:
    """Read events until the job is done, the child dies, or the deadline passes."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout"
        ready = wait([receiver, proc.sentinel], timeout=remaining)
        if receiver in ready or receiver.poll(0):
            try:
                msg = receiver.recv()
            except (EOFError, OSError):  # the child closed its end: it is gone or going
                proc.join(5)
                return "exit"
            kind = msg.get("event")
            if kind == "done":
                out.value = msg.get("value")
                return "done"
            if kind == "error":
                out.error = msg
                return "error"
            out.events.append(msg)
            if on_event is not None:
                on_event(msg)
            continue
        if proc.sentinel in ready:
            return "exit"


def _tail(path: str, limit: int = 6000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


_FRAME = re.compile(r'File "([^"]+)", line (\d+),? in (\S+)')
_PACKAGE = str(Path(__file__).resolve().parents[1])


def user_frame(text: str) -> str | None:
    """``file:line in function`` of the innermost frame outside crosscheck, the standard library
    and installed packages, in the last traceback of ``text``.

    faulthandler lists frames most recent first, Python tracebacks most recent last.
    """
    first, last = text.rfind("most recent call first"), text.rfind("most recent call last")
    if first < 0 and last < 0:
        return None
    recent_first = first > last
    frames = [(m.group(1), int(m.group(2)), m.group(3)) for m in _FRAME.finditer(text[max(first, last):])]
    user = [f for f in frames if not _is_library(f[0])]
    if not user:
        return None
    path, line, fn = user[0] if recent_first else user[-1]
    return f"{Path(path).name}:{line} in {fn}"


def _is_library(path: str) -> bool:
    p = str(Path(path).resolve()) if not path.startswith("<") else path
    return (path.startswith("<") or p.startswith(_PACKAGE + os.sep) or "site-packages" in p
            or re.search(r"/lib/python3\.\d+/", p) is not None)
