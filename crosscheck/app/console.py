"""How much a command prints: ``-q`` (only errors and the final line), the default, ``-v`` (more detail).

Commands print through a ``Console`` (``cli.console(args)``)::

    out = console(args)
    out.line("...")      # ordinary output
    out.detail("...")    # -v only
    out.final("...")     # the closing summary: shown even under -q
    out.note("...")      # stderr, "crosscheck: note: ..."
"""
from __future__ import annotations

import contextlib
import sys


class Console:
    """Where a command's lines go, by ``-q`` / ``-v``.

    ``line`` is ordinary output (hidden by ``-q``), ``detail`` only shows with
    ``-v``, ``final`` is the command's closing summary (always shown), ``note``
    goes to stderr as ``crosscheck: note: ...`` (hidden by ``-q``). Errors are
    not the console's: they go to stderr always. Under ``-q``, commands that
    print with plain ``print`` are quieted too (``quieted``): only the last line
    they printed is shown, unless they said ``final`` themselves.
    """

    def __init__(self, verbosity: int = 0, out=None, err=None):
        self.verbosity = verbosity
        self.out = sys.stdout if out is None else out
        self.err = sys.stderr if err is None else err
        self.said_final = False

    @property
    def quiet(self) -> bool:
        return self.verbosity < 0

    def line(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.out, flush=True)

    def detail(self, text: str) -> None:
        if self.verbosity > 0:
            print(text, file=self.out, flush=True)

    def final(self, text: str) -> None:
        self.said_final = True
        print(text, file=self.out, flush=True)

    def note(self, text: str) -> None:
        if not self.quiet:
            print(f"crosscheck: note: {text}", file=self.err, flush=True)

    @contextlib.contextmanager
    def quieted(self):
        """Under ``-q``: plain ``print`` output is held back and only its last line shown at the end."""
        if not self.quiet:
            yield
            return
        from crosscheck.app import progress

        held = _LastLine()
        with contextlib.redirect_stdout(held), progress.hidden():
            try:
                yield
            finally:
                if not self.said_final and held.last:
                    print(held.last, file=self.out, flush=True)


class _LastLine:
    """A stdout that keeps only the last complete line written to it."""

    def __init__(self):
        self.last, self._pending = "", ""

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            lines = self._pending.split("\n")
            self._pending = lines.pop()
            self.last = next((l for l in reversed(lines) if l.strip()), self.last)
        return len(text)

    def flush(self) -> None:
        pass
