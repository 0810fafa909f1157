"""One run per report folder: a lock file holding the PID of the run that writes there.

Every command that writes a report folder (``fuzz``, ``train``, ``mutants``,
``audit`` and the pytest plugin's ``--crosscheck-report``) calls
``claim(DIR, ...)`` before any work::

    with claim(args.report, option="--report", stream=True, resume=args.resume,
               overwrite=args.overwrite) as folder:
        ...                                  # write the reports
    # the lock file is gone; a folder the claim created and nothing used is removed too

``claim`` checks, in this order, and raises ``FolderError`` (one line, a usage
error) at the first that fails:

1. the path is a folder or can be made one: not a file, not under a file;
2. the folder is writable (the lock file is created in it, which is the test);
3. no other live process holds the lock: ``DIR/.crosscheck.lock`` holds the
   holder's PID under the kernel's lock on that file (``flock``), which ends
   with the process however it ends; a lock file left by a dead run (a run
   killed with -9) is taken over, and ``FolderClaim.note`` says so;
4. with ``stream=True`` (commands that write ``results.jsonl``): the folder
   holds no earlier run's results stream with results in it, unless ``resume``
   (continue it) or ``overwrite`` (replace it) is given.

The lock is released on ``release()`` or on leaving the ``with`` block,
whatever happens inside.
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from crosscheck.engine.stream import STREAM_FILE

LOCK_FILE = ".crosscheck.lock"


class FolderError(ValueError):
    """A report folder that cannot be used by this run (one line: which folder, why, what to do)."""


def holder(folder) -> int | None:
    """The PID written in ``folder``'s lock file, or ``None`` (no lock, or an unreadable one)."""
    try:
        text = (Path(folder) / LOCK_FILE).read_text(encoding="utf-8").split()
        return int(text[0]) if text else None
    except (OSError, ValueError):
        return None


def check_folder(folder, option: str = "--report") -> Path:
    """``folder`` as a ``Path`` if it is a folder or can be made one; else ``FolderError``.

    Only the path is looked at (nothing is created): a file there, or a file
    where one of its parents should be, is refused.
    """
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise FolderError(f"{option} {folder}: is a file, not a folder; give a folder for the report files "
                          f"(it is created if missing)")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise FolderError(f"{option} {folder}: {parent} is a file, so no folder can be made under it; "
                                  f"choose another report folder")
            break
    return path


@dataclass
class FolderClaim:
    """A report folder this process holds: ``path``; ``note`` says what was found there, if anything."""

    path: Path
    note: str | None = None
    created: Path | None = None  # the topmost folder the claim made, removed on release if left empty
    fd: int | None = None  # the open lock file; the kernel's lock on it is the run's hold

    def release(self) -> None:
        """Remove the lock file (if it still holds our PID) and any folder the claim made that stayed empty."""
        if self.fd is None:
            return
        try:
            (self.path / LOCK_FILE).unlink()  # still ours: we hold its lock
        except OSError:
            pass
        os.close(self.fd)  # the lock goes with the descriptor
        self.fd = None
        self._remove_created()

    def _remove_created(self) -> None:
        """Remove the folders the claim made, from the deepest up, as long as each is empty."""
        if self.created is None:
            return
        folder = self.path
        while True:
            try:
                folder.rmdir()  # only an empty folder goes
            except OSError:
                return
            if folder == self.created:
                return
            folder = folder.parent

    def __enter__(self) -> "FolderClaim":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def claim(folder, *, option: str = "--report", stream: bool = False, resume: bool = False,
          overwrite: bool = False) -> FolderClaim:
    """Check ``folder`` and take its lock for this process (see the module docstring)."""
    path = check_folder(folder, option)
    created = _top_missing(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FolderError(f"{option} {folder}: cannot create the folder ({_reason(e)}); "
                          f"choose a folder you can write to") from None
    try:
        fd, note = _lock(path, option)
    except BaseException:
        FolderClaim(path, created=created)._remove_created()
        raise
    result = FolderClaim(path, note, created, fd)
    if stream and not (resume or overwrite) and _holds_results(path / STREAM_FILE):
        result.release()
        raise FolderError(f"{option} {folder}: holds the results stream of an earlier run ({path / STREAM_FILE}); "
                          f"add --resume to continue it, --overwrite to replace it, or choose another folder")
    return result


def _holds_results(stream: Path) -> bool:
    """True when ``stream`` exists with a line after its header (a stream of a run that stopped before its first
    result holds nothing worth keeping)."""
    try:
        with open(stream, "rb") as fh:
            fh.readline()
            return bool(fh.readline().strip())
    except OSError:
        return False


def _top_missing(path: Path) -> Path | None:
    """The topmost folder of ``path`` that does not exist yet (``None``: it exists)."""
    top = None
    for p in (path, *path.parents):
        if p.exists():
            break
        top = p
    return top


def _lock(path: Path, option: str) -> tuple[int, str | None]:
    """Take ``path/LOCK_FILE``: (the open descriptor holding the lock, a note or ``None``).

    The lock is the kernel's (``flock``) on the lock file, so it ends with the
    process however the process ends; the PID written in the file is what a
    refused run is told. A file left by a dead run (its PID in it, no lock on
    it) is simply taken, with a note.
    """
    import fcntl

    lock = path / LOCK_FILE
    for _ in range(5):  # the file replaced between our open and our lock: open it again
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise FolderError(f"{option} {path}: cannot write there ({_reason(e)}); "
                              f"choose a folder you can write to") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            pid = holder(path)
            who = f"PID {pid}" if pid is not None else "a process that is starting"
            raise FolderError(f"{option} {path}: another crosscheck run ({who}) is writing there; "
                              f"wait for it to finish, stop it, or choose another folder") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # released and removed by its holder after we opened it
            os.close(fd)
            continue
        old = os.read(fd, 64).split()
        note = None
        if old:
            pid = old[0].decode(errors="replace")
            note = f"{path} was locked by PID {pid}, which is no longer running; lock taken over"
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd, note
    raise FolderError(f"{option} {path}: the lock {lock} keeps changing hands; another run is starting there")


def _reason(e: OSError) -> str:
    return e.strerror or errno.errorcode.get(e.errno or 0, str(e))
