"""The progress bar: cases, findings and rate on a terminal; nothing at all when output is piped."""
import io

from crosscheck.app.progress import Progress, interactive


class Terminal(io.StringIO):
    def isatty(self):
        return True


class Result:
    def __init__(self, agree, kind=None, tensors=()):
        self.agree, self.kind, self.crash = agree, kind, None
        self.failing = [type("C", (), {"tensor": t})() for t in tensors]

    def failing_parameters(self):
        return [c.tensor for c in self.failing]


def test_piped_output_gets_no_bar_but_the_counts_are_kept():
    pipe = io.StringIO()
    assert not interactive(pipe)
    with Progress(10, "fuzz reference", stream=pipe) as bar:
        for r in (Result(True), Result(False, "mismatch", ["W1"]), Result(False, "mismatch", ["W1"])):
            bar(r)
    assert pipe.getvalue() == ""
    assert (bar.done, bar.findings) == (3, 1)  # the same failure twice is one finding


def test_a_terminal_shows_cases_findings_and_rate_then_shrinking(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    term = Terminal()
    with Progress(2, "fuzz reference", stream=term, redraw_every=0) as bar:
        bar(Result(True))
        bar(Result(False, "mismatch", ["W1"]))
        bar(Result(False, "shape", ["b2"]))  # a third case: shrinking past the two drawn
    out = term.getvalue()
    assert "fuzz reference" in out and "case/s" in out
    assert "2 findings" in out and "(shrinking)" in out and "3/3" in out


def test_a_dumb_terminal_gets_no_bar(monkeypatch):
    monkeypatch.setenv("TERM", "dumb")
    assert not interactive(Terminal())


def test_runs_without_case_results_advance_by_hand():
    term = Terminal()
    with Progress(5, "mutants", stream=term, enabled=True, unit="mutant") as bar:
        bar.advance(2, findings=1)
    assert (bar.done, bar.findings) == (2, 1) and "mutant" in term.getvalue()


def test_lines_printed_while_a_bar_runs_land_above_it(monkeypatch, capsys):
    monkeypatch.setenv("TERM", "xterm")
    term = Terminal()
    with Progress(3, "audit", stream=term, redraw_every=0, unit="target") as bar, bar.printing():
        bar.advance(1)
        print("  agree     t.one  (20 cases)")
        bar.advance(1, findings=2)
    assert capsys.readouterr().out == "  agree     t.one  (20 cases)\n"
    assert "2 findings" in term.getvalue()
    with Progress(3, "audit", stream=io.StringIO()) as quiet, quiet.printing():  # no bar: print untouched
        print("plain")
    assert capsys.readouterr().out == "plain\n"
