"""A progress bar for long runs: cases done, findings so far and the rate.

Shown on a terminal only: when stderr is piped or captured (CI logs, pytest,
``2> file``) nothing is written, so logs stay clean. Any command can use it as
the ``on_result`` callback of ``fuzz``::

    with progress(total=args.examples, label="fuzz reference") as bar:
        run = fuzz(target, examples=args.examples, on_result=bar)

``Progress(result)`` counts one checked case; a result that disagrees counts
towards "findings" once per distinct failure (kind and tensors, as ``fuzz``
tells them apart). ``bar.advance(n, findings=k)`` serves runs whose results
are not ``CaseResult`` records (audit events, mutants). A command that prints
lines while the bar runs wraps them in ``with bar.printing():`` so each line
lands above the bar instead of through it. The drawing is tqdm's (throttled
redraws, terminal width, a smoothed rate and ETA), imported only when a
terminal is there to draw on.
"""
from __future__ import annotations

import contextlib
import os
import sys


#: Bars made while this is set draw nothing (``hidden``: ``crosscheck -q``).
_HIDDEN = [False]


@contextlib.contextmanager
def hidden():
    """Within the block no bar is drawn (``-q``: only errors and the final line)."""
    saved, _HIDDEN[0] = _HIDDEN[0], True
    try:
        yield
    finally:
        _HIDDEN[0] = saved


def interactive(stream=None) -> bool:
    """True when ``stream`` (stderr by default) is a terminal a person is watching."""
    if _HIDDEN[0]:
        return False
    stream = sys.stderr if stream is None else stream
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False
    return bool(tty) and os.environ.get("TERM", "") != "dumb"


class Progress:
    """Counts cases and distinct findings; draws a bar only on a terminal.

    ``total`` is the number of cases drawn; shrinking a failure checks more
    cases than that, and the bar then says "shrinking" and keeps counting.
    """

    def __init__(self, total: int | None = None, label: str = "crosscheck", stream=None,
                 enabled: bool | None = None, unit: str = "case", redraw_every: float = 0.2,
                 counting: str = "finding"):
        self.total, self.label, self.unit, self.counting = total, label, unit, counting
        self.stream = sys.stderr if stream is None else stream
        self.enabled = interactive(self.stream) if enabled is None else enabled
        self.done = 0
        self.findings = 0
        self._keys: set = set()
        self._bar = None
        if self.enabled:
            from tqdm import tqdm

            # with no total tqdm would print "12case"; say "12 cases done"
            fmt = None if total is not None else "{desc}: {n_fmt} " + unit + "s done [{elapsed}, {rate_fmt}{postfix}]"
            self._bar = tqdm(total=total, desc=label, unit=unit, file=self.stream, dynamic_ncols=True,
                             leave=False, mininterval=redraw_every, bar_format=fmt)

    # -- counting ----------------------------------------------------------------
    def __call__(self, result) -> None:
        """The ``on_result`` callback: one checked case."""
        found = 0
        if not getattr(result, "agree", True):
            key = _finding_key(result)
            if key not in self._keys:
                self._keys.add(key)
                found = 1
        self.advance(1, findings=self.findings + found)

    def advance(self, n: int = 1, *, findings: int | None = None) -> None:
        self.done += n
        if findings is not None:
            self.findings = findings
        if self._bar is None:
            return
        if self.total is not None and self.done > self._bar.total:
            self._bar.total = self.done  # shrinking: more cases than drawn
            self._bar.set_description(f"{self.label} (shrinking)", refresh=False)
        self._bar.set_postfix_str(f"{self.findings} {self.counting}{'s' if self.findings != 1 else ''}",
                                  refresh=False)
        self._bar.update(n)

    @contextlib.contextmanager
    def printing(self):
        """While a bar is drawn, send ``print`` output through tqdm so lines appear above the bar."""
        if self._bar is None:
            yield
            return
        saved = sys.stdout
        sys.stdout = _LinesAboveBar(saved, self._bar)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stdout = saved

    # -- lifetime ----------------------------------------------------------------
    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _LinesAboveBar:
    """stdout while a bar is drawn: each complete line is written after clearing the bar, which is then redrawn."""

    def __init__(self, out, bar):
        self._out, self._bar, self._pending = out, bar, ""

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            lines, self._pending = self._pending.rsplit("\n", 1)
            self._bar.clear()
            self._out.write(lines + "\n")
            self._out.flush()
            self._bar.refresh()
        return len(text)

    def flush(self) -> None:
        self._out.flush()

    def __getattr__(self, name):
        return getattr(self._out, name)


def progress(total: int | None = None, label: str = "crosscheck", **kwargs) -> Progress:
    """A ``Progress`` for ``total`` cases; see the module docstring."""
    return Progress(total, label, **kwargs)


def _finding_key(result) -> tuple:
    try:
        from crosscheck.engine.fuzz import finding_key

        return finding_key(result)
    except Exception:  # results of other shapes (training steps): one key per kind
        return (getattr(result, "kind", None),)
