"""The child side of an isolated job: limits first, then the user's code.

``child_main(conn, job)`` runs in a fresh process (forked from a server that
has imported this module, and with it torch and the harness, once). It sends
(``conn.send``) the events the job emits, then ``{"event": "done", "value": ...}``
with the job's return value, or ``{"event": "error", ...}`` if crosscheck itself
failed. Whatever the user's code prints goes to the job's log file, which also
receives faulthandler's traceback if the process dies of a signal.

Importing this module loads torch: it is meant to be preloaded by the server
that forks the children (see ``isolation``), not imported by the CLI.
"""
from __future__ import annotations

import faulthandler
import os
import sys
import traceback

# Preloaded once in the fork server, so a child starts in milliseconds.
import numpy  # noqa: F401
import torch

from crosscheck.judge import check, oracle, trajectory
from crosscheck.engine import fuzz
from crosscheck.drawing import strategies  # noqa: F401
from crosscheck.diagnosis import diagnose_finding  # noqa: F401
from crosscheck.engine import loader
from crosscheck.audit import runner

#: Address space allowed to the child beyond what it uses at start (torch alone maps several hundred MB).
DEFAULT_MEMORY_MB = 2048


def child_main(conn, job: dict) -> None:
    """Entry point of the child process: set limits, run ``job``, stream its events, exit."""
    try:
        conn.send({"event": "started"})  # the parent tells a child that never ran from one that failed
        _redirect_output(job.get("log"))
        _limit_resources(job.get("memory_mb", DEFAULT_MEMORY_MB))
        torch.set_num_threads(1)  # tiny networks: threads cost more than they give, and workers share cores
        value = run_job(job, conn.send)
        conn.send({"event": "done", "value": value})
    except BaseException as e:  # crosscheck's own failure: say so, never a silent exit
        try:
            conn.send({"event": "error", "type": type(e).__name__, "message": str(e)[:1000],
                       "traceback": "".join(traceback.format_exception(e))[-4000:]})
        except BaseException:
            pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            conn.close()
        finally:
            os._exit(0)  # skip the user's atexit handlers and any threads it left running


def run_job(job: dict, emit) -> dict:
    """The job itself, a plain function call (also usable without a child process)."""
    if job["kind"] == "discover":
        return loader.discover_file(job["file"])
    if job["kind"] == "audit":
        return runner.audit_one(job["spec"], job["options"], emit=emit)
    if job["kind"] == "elementwise":  # a finding's minimal example element by element, for audit.html's heatmaps
        from crosscheck.engine.replay import elementwise_job
        return elementwise_job(loader.load_target(job["spec"]), job["example"], job["tensors"])
    raise ValueError(f"unknown job kind {job['kind']!r}")


def _redirect_output(log: str | None) -> None:
    """Send fds 1 and 2 to the log file; faulthandler writes a traceback there on SIGSEGV and the like."""
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    faulthandler.enable(file=sys.stderr, all_threads=False)


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
