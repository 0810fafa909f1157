"""The audited function in its own process, called from here through a proxy.

Audited code is untrusted and often broken: it may raise, loop forever, call ``sys.exit`` or
``os._exit``, dereference a null pointer, allocate without bound, start processes, or tamper
with its own process (patch crosscheck or torch, write to the pipes it finds). So the audit
runs everything itself (Hypothesis, the torch truth, the judge, diagnosis, records) and only
the call of the audited function happens in a child process (``worker``), one per target,
which imports the user's file once. Each call sends X, Y and the parameters and gets back
plain arrays (``protocol``: no pickle, sizes bounded, numeric dtypes only), or:

- the exception the function raised: re-raised here as an exception of the same type name
  (``TargetRaised``) whose notes hold the child's traceback, so the crash names the user's line;
- the end of the process (``os._exit``, a signal, something unreadable sent back): raised as
  ``TargetDied`` for that case; the next call starts a new child (at most ``Limits.restarts``);
- the kill limit: ``Limits.timeout`` seconds of the child's own time (import and calls) for the
  whole target; past it the child is ended and ``TargetAbandoned`` stops the target's audit.

What the audit records depends only on the seed and the counts of calls and cases; wall-clock
time is only the kill limit. The child is the leader of its own session and a subreaper: ending
it ends everything it started (``worker``).
"""
from __future__ import annotations

import inspect
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from crosscheck.audit import protocol
from crosscheck.model.records import crash_location as user_frame  # the one reader of a traceback

#: New children a target may need after its process ended, before its audit stops.
MAX_RESTARTS = 10
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


@dataclass
class Limits:
    """``timeout``: seconds of the child's time for the whole target (import and every call), the
    kill limit; ``memory_mb``: address space beyond what the child maps once the file is imported;
    ``restarts``: new children after the process ended."""

    timeout: float
    memory_mb: int | None = 2048
    restarts: int = MAX_RESTARTS


class TargetRaised(Exception):
    """The audited function raised; subclasses carry the type's name (``RuntimeError``)."""


class TargetDied(Exception):
    """The audited function's process ended during a call, or sent something unreadable."""


class TargetAbandoned(KeyboardInterrupt):
    """The target's audit stops: the kill limit passed, or its process ended too often.

    # NOTE: a KeyboardInterrupt subclass on purpose: the judge records every other exception of
    # a call as the target's crash, and Hypothesis re-raises KeyboardInterrupt at once, so this
    # is the one way out of a fuzz run that leaves what was checked so far intact.
    """

    def __init__(self, kind: str, message: str, location: str | None = None):
        super().__init__(message)
        self.kind, self.message, self.location = kind, message, location


class LoadFailed(Exception):
    """The user's file could not be imported in the child: ``error`` is ``loader.import_error``'s dict."""

    def __init__(self, error: dict):
        super().__init__(error.get("reason", "cannot import it"))
        self.error = error


_RAISED: dict[str, type] = {}


def _raised_type(name: str, base: type) -> type:
    """An exception class named ``name`` (made once), so crashes keep the type the target raised."""
    name = name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,79}", name or "") else "Exception"
    key = f"{base.__name__}.{name}"
    if key not in _RAISED:
        _RAISED[key] = type(name, (base,), {"__module__": "audited"})
    return _RAISED[key]


SIGNAL_WORDS = {"SIGSEGV": "a segmentation fault", "SIGBUS": "a bus error", "SIGABRT": "an abort",
                "SIGKILL": "SIGKILL (out of memory?)", "SIGFPE": "a floating-point exception"}


class Sandbox:
    """One target's child process: ``call`` runs the audited function once, in the child."""

    def __init__(self, file: str, function: str | None, limits: Limits):
        self.file, self.function, self.limits = str(file), function, limits
        self.spent = 0.0
        self.calls = 0
        self.restarts = -1  # the first start is not a restart
        self.parameters: list[str] = []
        self._proc = None
        self._replies = None
        self._seq = 0
        fd, self.log = tempfile.mkstemp(prefix="crosscheck-audit-", suffix=".log")
        os.close(fd)

    # -- lifetime ------------------------------------------------------------------------
    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, kind, *exc) -> None:
        self.close(kill=kind is not None)

    def start(self) -> None:
        """A new child; for a target, its file imported and its function found (``LoadFailed`` if not)."""
        self.restarts += 1
        if self.restarts > self.limits.restarts:
            raise TargetAbandoned("crash", f"the process running the target ended {self.restarts} times; "
                                  f"crosscheck stopped auditing it after {self.calls} calls")
        request_r, self._request_w = os.pipe()
        self._reply_r, reply_w = os.pipe()
        self._status_r, status_w = os.pipe()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [_PACKAGE_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
        with open(self.log, "ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "crosscheck.audit.worker", str(request_r), str(reply_w), str(status_w),
                 self.log], pass_fds=(request_r, reply_w, status_w), start_new_session=True,
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=os.getcwd())
        for fd in (request_r, reply_w, status_w):
            os.close(fd)
        self._replies = protocol.Stream(self._reply_r)
        if self.function is not None:
            header, _ = self._request({"op": "load", "file": self.file, "function": self.function,
                                       "memory_mb": self.limits.memory_mb})
            if header.get("op") != "loaded":
                raise LoadFailed(header.get("import_error") or {
                    "type": str(header.get("type")), "message": str(header.get("message")), "line": None,
                    "function": self.function, "declaration": False,
                    "reason": f"{self.file}: cannot import it: {header.get('type')}: {header.get('message')}"})
            names = header.get("parameters")
            self.parameters = [n for n in names if isinstance(n, str) and n.isidentifier()] \
                if isinstance(names, list) else []

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def close(self, kill: bool = False) -> str:
        """End the child and everything it started; returns how it ended (``exit 0``, ``signal 9``).
        ``kill``: at once (an interrupt), rather than letting it finish its call."""
        status = self._end(kill)
        try:
            os.unlink(self.log)
        except OSError:
            pass
        return status

    def _end(self, kill: bool = False) -> str:
        proc, self._proc = self._proc, None
        if proc is None:
            return ""
        os.close(self._request_w)  # EOF: a healthy worker returns and the supervisor cleans up
        os.close(self._reply_r)
        if kill:
            proc.send_signal(signal.SIGTERM)  # the supervisor kills the worker and its descendants
        try:
            proc.wait(5 if kill else 10)
        except subprocess.TimeoutExpired:
            if not kill:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        status = b""
        try:
            while chunk := os.read(self._status_r, 64):
                status += chunk
        except OSError:
            pass
        os.close(self._status_r)
        return status.decode(errors="replace")

    # -- requests ------------------------------------------------------------------------
    def call(self, args: list, kwargs: dict | None = None):
        """The audited function on ``args``: its decoded return value, or what it raised, re-raised."""
        if not self.alive:
            self.start()
        self.calls += 1
        header, value = self._request({"op": "call"}, {"args": args, "kwargs": kwargs or {}})
        if header.get("op") == "return":
            return value
        self._raise(header)

    def trace(self, args: list, files: list[str]):
        """``judge.tracing.trace_call`` of the function on ``args`` in the child: its recorded arrays."""
        if not self.alive:
            self.start()
        self.calls += 1
        header, value = self._request({"op": "trace", "files": list(files)}, {"args": args, "kwargs": {}})
        if header.get("op") != "traced":
            self._raise(header)
        if not isinstance(value, list):
            raise TargetDied("the tracer sent back something that is not a list")
        return [v for v in value if isinstance(v, dict)]

    def discover(self) -> dict:
        """``loader.discover_file`` of the file, in the child: ``{"file", "targets", "error"}``."""
        if not self.alive:
            self.start()
        header, _ = self._request({"op": "discover", "file": self.file})
        found = header.get("found")
        if header.get("op") != "found" or not isinstance(found, dict):
            raise TargetDied(f"discovery answered {str(header.get('op'))[:40]!r}")
        return found

    def _raise(self, header: dict):
        cls = _raised_type(str(header.get("type")), TargetRaised)
        e = cls(str(header.get("message", ""))[:1000])
        if header.get("traceback"):
            e.add_note(str(header["traceback"])[-4000:])  # the child's frames: the crash names the user's line
        raise e

    def _request(self, header: dict, value=None) -> tuple[dict, object]:
        self._seq += 1
        seq = self._seq
        start = time.monotonic()
        deadline = start + max(0.0, self.limits.timeout - self.spent)
        nonce = os.urandom(protocol.NONCE)  # the answer must carry it: bytes written on the side are skipped
        try:
            _write_all(self._request_w, protocol.encode({**header, "seq": seq}, value, nonce), deadline)
            self._replies.wait = lambda: _wait_readable(self._reply_r, deadline)
            reply, out, _ = self._replies.receive(nonce)
            if reply.get("seq") != seq:
                raise protocol.ProtocolError(f"an answer to request {str(reply.get('seq'))[:20]} came for "
                                             f"request {seq}")
            return reply, out
        except _Deadline:
            self._end(kill=True)
            raise TargetAbandoned("timeout", f"the target did not finish within the time limit of "
                                  f"{self.limits.timeout:g} s", self.location()) from None
        except (EOFError, OSError) as e:
            status = self._end()
            raise self._died(status, e) from None
        except protocol.ProtocolError as e:
            self._end(kill=True)
            raise _raised_type("Unreadable", TargetDied)(
                f"the process running the target sent something crosscheck could not read ({e}); it was ended") \
                from None
        finally:
            self.spent += time.monotonic() - start

    def _died(self, status: str, e: BaseException) -> TargetDied:
        how, _, number = status.partition(" ")
        where = self.log_tail()
        if how == "signal" and number.isdigit():
            try:
                name = signal.Signals(int(number)).name
            except ValueError:
                name = f"signal {number}"
            err = _raised_type(name, TargetDied)(
                f"the process running the target died of "
                + (f"{SIGNAL_WORDS[name]} ({name})" if name in SIGNAL_WORDS else name))
        elif how == "exit":
            err = _raised_type("ProcessExit", TargetDied)(
                f"the process running the target exited with status {number} (os._exit or exit() in C code)")
        else:
            err = _raised_type("ProcessExit", TargetDied)(f"the process running the target ended ({e})")
        if where:
            err.add_note(where)
        return err

    def log_tail(self, limit: int = 6000) -> str:
        """The end of what the child printed (faulthandler's traceback after a signal)."""
        try:
            with open(self.log, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - limit))
                return fh.read().decode(errors="replace")
        except OSError:
            return ""

    def location(self) -> str | None:
        return user_frame(self.log_tail())


class _Deadline(Exception):
    pass


def _wait_readable(fd: int, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0 or not select.select([fd], [], [], left)[0]:
        raise _Deadline()


def _write_all(fd: int, data: bytes, deadline: float) -> None:
    view = memoryview(data)
    while view:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([], [fd], [], left)[1]:
            raise _Deadline()
        n = os.write(fd, view[:1 << 16])
        view = view[n:]


# -- the proxy ------------------------------------------------------------------------------

def proxy(sandbox: Sandbox):
    """A function ``(X, Y, params, **kwargs)`` that runs the audited function in ``sandbox``, with the
    audited function's parameter names as its signature (``trajectory.takes_steps`` reads it).

    ``proxy(...).crosscheck_trace(args, files)`` runs the call under ``judge.tracing.trace_call`` in
    the child and returns its records (plain arrays with file, line and code strings): a tracer in
    this process would see none of the audited function's lines.
    """
    def audited(*args, **kwargs):
        return sandbox.call(list(args), kwargs)

    if not sandbox.parameters and not sandbox.alive:
        sandbox.start()
    audited.__signature__ = inspect.Signature(
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in sandbox.parameters])
    audited.__name__ = str(sandbox.function)
    # the call under ``judge.tracing.trace_call``, run where the function runs (diagnosis finds lines with it)
    audited.crosscheck_trace = sandbox.trace
    return audited


def describe_ending(e: BaseException) -> str:
    """How a ``TargetAbandoned`` or ``LoadFailed`` reads in a record."""
    return getattr(e, "message", None) or str(e)
