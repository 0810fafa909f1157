"""Targets that leave processes behind: a double-forked daemon in a new session, and a plain fork.
Each writes its pid to the file named by $CROSSCHECK_TEST_PIDS; the audit must end them all."""
import os
import time

from crosscheck import audit_target


def _linear(X, Y, params):
    [(W, b)] = params
    dZ = 2 * (X @ W.T + b - Y) / Y.size
    return [(dZ.T @ X, dZ.sum(axis=0))]


def _note_pid():
    with open(os.environ["CROSSCHECK_TEST_PIDS"], "a") as fh:
        fh.write(f"{os.getpid()}\n")


STARTED = []


@audit_target(activations=["identity"], loss="mse")
def double_forks_and_setsid(X, Y, params):
    if not STARTED:
        STARTED.append(True)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                _note_pid()
                time.sleep(600)
            os._exit(0)
    return _linear(X, Y, params)


@audit_target(activations=["identity"], loss="mse")
def forks(X, Y, params):
    if not STARTED:
        STARTED.append(True)
        if os.fork() == 0:
            _note_pid()
            time.sleep(600)
            os._exit(0)
    return _linear(X, Y, params)
