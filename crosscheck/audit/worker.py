"""The audited process: it imports the user's file once and calls the audited function, nothing else.

Run by ``sandbox`` as ``python -m crosscheck.audit.worker REQUEST_FD REPLY_FD STATUS_FD LOG``.
The process splits in two at once:

- the *supervisor* (the process ``sandbox`` started, leader of its own session) makes itself
  the child subreaper (``prctl(PR_SET_CHILD_SUBREAPER)``), so every process the audited code
  starts, even one that double-forks and calls ``setsid()``, stays its descendant; when the
  worker ends, or when the audit sends it SIGTERM, it kills the worker and every descendant,
  writes how the worker ended (``exit N`` or ``signal N``) to the status pipe and exits;
- the *worker* sends fds 1 and 2 to the log file (faulthandler writes a traceback there if
  it dies of a signal) and answers requests (``protocol``) one at a time::

      load {file, function}  -> loaded {parameters}   (then the memory limit is set)
      discover {file}        -> found {found}         (``engine.loader.discover_file``)
      call {args, kwargs}    -> return value | raise {type, message, traceback}
      trace {args, kwargs}   -> traced value=[{file, line, code, name, array}, ...] | raise
                                (the call under ``judge.tracing.trace_call``)

Nothing here imports torch; what the worker sends is only what the user's function returned,
encoded by ``protocol``, and the audit trusts none of it (it judges everything itself).
"""
from __future__ import annotations

import os
import signal
import sys

#: Address space allowed beyond what the worker maps once the user's file is imported.
DEFAULT_MEMORY_MB = 2048
PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> None:
    request_fd, reply_fd, status_fd = (int(a) for a in argv[:3])
    log = argv[3]
    _subreaper()
    pid = os.fork()
    if pid == 0:
        os.close(status_fd)
        try:
            serve(request_fd, reply_fd, log)
        finally:
            os._exit(0)  # skip the user's atexit handlers and any threads it left running
    os.close(request_fd)
    os.close(reply_fd)
    supervise(pid, status_fd)


def _subreaper() -> None:
    """Keep every descendant ours, and hear of the audit's death (SIGTERM: end everything)."""
    parent = os.getppid()
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: descendants that leave the session may outlive us
        pass
    if os.getppid() != parent:  # the audit died before we could hear of it
        os._exit(1)


# -- the supervisor -----------------------------------------------------------------------

def supervise(worker: int, status_fd: int) -> None:
    """Wait for the worker; then end every descendant and report how the worker ended."""
    signal.signal(signal.SIGTERM, lambda *_: _kill(worker))  # the audit's "end it now"
    status = None
    while status is None:
        try:
            pid, st = os.waitpid(-1, 0)
        except InterruptedError:
            pid = 0
        except ChildProcessError:
            break
        if pid == worker:
            status = st
    end_descendants()
    if status is None:
        text = "exit 0"
    elif os.WIFSIGNALED(status):
        text = f"signal {os.WTERMSIG(status)}"
    else:
        text = f"exit {os.waitstatus_to_exitcode(status)}"
    try:
        os.write(status_fd, text.encode())
    finally:
        os._exit(0)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def descendants(root: int) -> list[int]:
    """Every process whose parent chain leads to ``root`` (read from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def end_descendants() -> None:
    """SIGKILL every descendant of this process and reap them, until none is left."""
    me = os.getpid()
    for _ in range(100):
        found = descendants(me)
        if not found:
            return
        for pid in found:
            _kill(pid)
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break


# -- the worker ---------------------------------------------------------------------------

def serve(request_fd: int, reply_fd: int, log: str) -> None:
    """Answer requests until the audit closes the pipe."""
    import faulthandler
    import traceback

    from crosscheck.audit import protocol

    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    faulthandler.enable(file=sys.stderr, all_threads=False)
    fn = None
    requests = protocol.Stream(request_fd)
    while True:
        try:
            header, value, nonce = requests.receive()
        except EOFError:
            return
        op, seq = header.get("op"), header.get("seq")
        try:
            if op == "load":
                fn = _load(header["file"], header["function"], header.get("memory_mb"))
                reply = {"op": "loaded", "parameters": _parameters(fn)}, None
            elif op == "discover":
                from crosscheck.engine import loader

                reply = {"op": "found", "found": loader.discover_file(header["file"])}, None
            elif op in ("call", "trace"):
                args, kwargs = value["args"], value.get("kwargs") or {}
                if op == "call":
                    reply = {"op": "return"}, fn(*args, **kwargs)
                else:
                    from crosscheck.judge.tracing import trace_call

                    reply = {"op": "traced"}, trace_call(lambda *a: fn(*a, **kwargs), args, header.get("files"))
            else:
                raise ValueError(f"unknown request {op!r}")
        except BaseException as e:  # the user's failure, sent as words; the audit decides what it means
            reply = {"op": "raise", "type": type(e).__name__, "message": _text(e),
                     "traceback": "".join(traceback.format_exception(e))[-4000:]}, None
            if op == "load":
                from pathlib import Path

                from crosscheck.engine import loader

                reply[0]["import_error"] = loader.import_error(Path(header["file"]), e)
        reply[0]["seq"] = seq
        try:
            protocol.send(reply_fd, *reply, nonce=nonce)
        except MemoryError:
            protocol.send(reply_fd, {"op": "raise", "seq": seq, "type": "MemoryError",
                                     "message": "out of memory while sending the result", "traceback": ""},
                          nonce=nonce)
        sys.stdout.flush()
        sys.stderr.flush()


def _text(e: BaseException) -> str:
    if isinstance(e, SystemExit):
        return repr(e.code) if not isinstance(e.code, int) else str(e.code)
    try:
        return str(e)[:1000]
    except BaseException:
        return f"(an unprintable {type(e).__name__})"


def _load(file: str, function: str, memory_mb: int | None):
    from crosscheck.engine import loader

    fn = loader.load_function(file, function)
    _limit_resources(memory_mb if memory_mb is not None else DEFAULT_MEMORY_MB)
    return fn


def _parameters(fn) -> list[str]:
    """The names of ``fn``'s parameters (the audit builds the proxy's signature from them)."""
    import inspect

    try:
        return [p for p in inspect.signature(fn).parameters][:32]
    except (TypeError, ValueError):
        return []


def _limit_resources(memory_mb: int | None) -> None:
    """RLIMIT_AS: the address space the process has now plus ``memory_mb``; no core files."""
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    base = virtual_size()
    if memory_mb and base:  # unknown where /proc is missing: no limit rather than a wrong one
        limit = base + int(memory_mb) * 2**20
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def virtual_size() -> int:
    """Bytes of address space this process maps now (VmSize)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


if __name__ == "__main__":
    main(sys.argv[1:])
