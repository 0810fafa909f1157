"""pytest plugin: "these gradients must match torch" in one line of your own test.

Installed with crosscheck (the ``pytest11`` entry point), nothing to enable::

    from crosscheck import audit_target

    @audit_target(activations=["relu", "sigmoid"], loss="bce")
    def my_backprop(X, Y, params):
        ...
        return [(dW1, db1), (dW2, db2)]

    def test_my_backprop_matches_torch(crosscheck):
        crosscheck.assert_matches_torch(my_backprop)

``assert_matches_torch(fn, **declaration)`` also takes an undecorated
function with the ``audit_target`` arguments, or a ``Target``. It fuzzes the
function against torch.autograd like ``crosscheck audit`` and, when any
gradient disagrees, fails the test with every distinct finding: its one-line
messages, its diagnosis and its shrunk minimal example. Outside a fixture,
``crosscheck.app.plugin.assert_matches_torch`` does the same with default options.

Options (shared with the CLI through ``crosscheck.app.options``):
``--crosscheck-examples N``, ``--crosscheck-seed S``, ``--crosscheck-profile
ci|dev|thorough``, ``--crosscheck-database DIR`` and ``--crosscheck-report
DIR``, which collects every comparison of the session into ``pytest.json``,
``pytest.csv``, ``pytest.md`` and ``pytest.html`` (replayable with
``crosscheck replay DIR N``). The terminal summary gets one line.

Loading the plugin imports neither torch, pandas nor matplotlib: a test
session that never asks for the fixture pays nothing.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from crosscheck.engine.replay import replay_command
from crosscheck.app.options import add_profile_options, add_report_option, add_run_options

PREFIX = "crosscheck-"
#: Examples per target in a test (a test suite runs many targets; the CLI default is 100).
DEFAULT_EXAMPLES = 50
#: Names of the report files ``--crosscheck-report DIR`` writes.
REPORT_STEM = "pytest"


def pytest_addoption(parser) -> None:
    group = parser.getgroup("crosscheck", "crosscheck: gradients checked against torch.autograd")
    add_run_options(group.addoption, prefix=PREFIX, examples=DEFAULT_EXAMPLES)
    add_profile_options(group.addoption, prefix=PREFIX)
    add_report_option(group.addoption, prefix=PREFIX, default=None)


@dataclass
class Check:
    """One ``assert_matches_torch`` call: the target, its run and the test that made it."""

    nodeid: str
    target: object  # Target
    run: object  # FuzzRun
    declaration: dict = field(default_factory=dict)


class Session:
    """Every check of a pytest session, for the report and the terminal summary."""

    def __init__(self, examples: int, seed: int, profile: str | None, database, report: str | None,
                 rootdir: Path | None = None):
        self.examples, self.seed, self.profile, self.database = examples, seed, profile, database
        self.report = report
        self.rootdir = rootdir
        self.checks: list[Check] = []
        self.written: dict[str, Path] = {}

    @classmethod
    def from_config(cls, config) -> "Session":
        opt = config.getoption
        return cls(opt("crosscheck_examples"), opt("crosscheck_seed"), opt("crosscheck_profile"),
                   opt("crosscheck_database"), opt("crosscheck_report"), Path(str(config.rootpath)))

    @property
    def findings(self) -> int:
        return sum(len(c.run.findings) for c in self.checks)

    def database_location(self):
        """``--crosscheck-database``, or the profile's default under the rootdir (not the cwd)."""
        from crosscheck.engine import profiles

        if self.database is not None:
            return self.database
        profile = self.profile or profiles.default_profile()
        if not profiles.get(profile).database:
            return None
        return (self.rootdir or Path.cwd()) / profiles.DEFAULT_DATABASE

    # -- the check --------------------------------------------------------------------
    def check(self, fn, nodeid: str = "", *, examples: int | None = None, seed: int | None = None,
              **declaration) -> object:
        """Fuzz ``fn`` against torch; return the ``FuzzRun``, raise ``AssertionError`` on any finding."""
        __tracebackhide__ = True
        from crosscheck.engine import profiles
        from crosscheck.engine.fuzz import fuzz
        from crosscheck.judge.trajectory import check_target_case  # training code: step by step against torch.optim

        target, decl = as_target(fn, declaration)
        profile = self.profile or profiles.default_profile()
        # keyed by file path and function: two test files of the same name never share saved failures
        db = profiles.database_for(f"{target.file}::{getattr(fn, '__name__', target.name)}",
                                   self.database_location(), profile) if target.file else self.database_location()
        run = fuzz(target, examples=self.examples if examples is None else examples,
                   seed=self.seed if seed is None else seed, profile=profile,
                   database="none" if db is None else db, check=check_target_case)
        first_number = self.findings + 1
        self.checks.append(Check(nodeid, target, run, decl))
        if run.stopped and not run.findings:  # never a silent pass: the check did not finish
            raise AssertionError(f"{target.name}: the check against torch stopped after {len(run.results)} cases "
                                 f"without a verdict: {run.stopped}")
        if run.findings:
            raise AssertionError(failure_message(run, target, seed=self.seed if seed is None else seed,
                                                 profile=profile, first_number=first_number,
                                                 report=self.report_json()))
        return run

    def report_json(self) -> Path | None:
        return Path(self.report) / f"{REPORT_STEM}.json" if self.report else None

    # -- the report ---------------------------------------------------------------------
    def write_report(self) -> dict[str, Path]:
        from crosscheck.engine import profiles
        from crosscheck.reports import session

        self.written = session.write(self.checks, self.report, examples=int(self.examples), seed=self.seed,
                                     profile=self.profile or profiles.default_profile())
        return self.written

    def summary_line(self) -> str:
        cases = sum(len(c.run.results) for c in self.checks)
        tensors = sum(len(r.comparisons) for c in self.checks for r in c.run.results)
        bad = [c for c in self.checks if c.run.findings or c.run.stopped]
        line = (f"crosscheck: {len(self.checks)} target check{'s' if len(self.checks) != 1 else ''}, "
                f"{cases} cases, {tensors} tensors compared against torch; ")
        if bad:
            names = ", ".join(dict.fromkeys(c.target.name for c in bad))
            line += f"{len(bad)} disagree{'s' if len(bad) == 1 else ''} ({names}), {self.findings} finding" \
                    f"{'s' if self.findings != 1 else ''}"
        else:
            line += "all agree"
        if self.written:
            line += f"; report in {self.written.get('html', self.written.get('json'))}"
        return line


# -- targets ---------------------------------------------------------------------------

def as_target(fn, declaration: dict):
    """A ``Target`` from a Target, an ``@audit_target`` function, or a function plus its declaration.

    The name is ``<file stem>.<function name>``, as ``crosscheck audit`` names
    targets, so reports and replay speak of it the same way.
    """
    from crosscheck.engine import loader
    from crosscheck.model.target import Target, TargetError, audit_target

    if isinstance(fn, Target):
        if declaration:
            raise TargetError(f"assert_matches_torch: {fn.name} is a Target already; "
                              f"drop the arguments {', '.join(sorted(declaration))}")
        return fn, {}
    if not callable(fn):
        raise TargetError(f"assert_matches_torch takes a function (X, Y, params) -> grads, got {type(fn).__name__}")
    decl = getattr(fn, "__crosscheck_target__", None)
    if decl is not None and declaration:
        raise TargetError(f"assert_matches_torch: {fn.__name__} is declared with @audit_target already; "
                          f"drop the arguments {', '.join(sorted(declaration))} or the decorator")
    if decl is None:
        if not declaration:
            raise TargetError(f"assert_matches_torch: say which networks {fn.__name__} takes, either with "
                              f"@audit_target(activations=[...], loss=...) on it or as arguments: "
                              f"assert_matches_torch({fn.__name__}, activations=[...], loss=...)")

        def declared(*args):
            return fn(*args)

        decl = audit_target(**declaration)(declared).__crosscheck_target__
    try:
        file = inspect.getsourcefile(fn)
    except TypeError:
        file = None
    stem = Path(file).stem if file else (getattr(fn, "__module__", None) or "target").rsplit(".", 1)[-1]
    name = f"{stem}.{getattr(fn, '__name__', 'target')}"
    return loader.make_target(name, fn, decl, file), dict(declaration)


def failure_message(run, target, *, seed: int, profile: str, first_number: int = 1, report=None) -> str:
    """Every distinct finding: its messages (the one template), diagnosis and minimal example."""
    import json

    n = len(run.findings)
    head = (f"{target.name}: gradients disagree with torch: {n} distinct finding{'s' if n != 1 else ''} "
            f"in {len(run.results)} cases (seed {seed}, profile {profile})")
    lines = [head]
    if run.replayed:
        lines.append(f"({run.replayed} failing example{'s' if run.replayed != 1 else ''} saved by an earlier run "
                     f"replayed first from the example database)")
    for i, f in enumerate(run.findings, first_number):
        what = ", ".join(f.tensors) or (f.result.crash or {}).get("type", "")
        lines += ["", f"{i}. {f.kind} in {what}" + (f" (diagnosis: {', '.join(f.diagnosis)})" if f.diagnosis else "")]
        lines.append(f"   {f.message}")
        if f.result.crash is None:
            lines += [f"   {c.message}" for c in f.result.failing]
        lines.append(f"   minimal example: {f.case.describe()}")
        lines.append(f"   case: {json.dumps(f.case.to_dict())}")
        if report is not None:
            lines.append(f"   replay: {replay_command(report, i)}")
    if run.stopped:
        lines.append(f"note: the run stopped early: {run.stopped}")
    return "\n".join(lines)


# -- the fixture and the helper ------------------------------------------------------------

class Checker:
    """What the ``crosscheck`` fixture gives a test."""

    def __init__(self, session: Session, nodeid: str):
        self._session, self._nodeid = session, nodeid

    def assert_matches_torch(self, fn, *, examples: int | None = None, seed: int | None = None, **declaration):
        """Fuzz ``fn`` against torch.autograd; fail the test with the shrunk examples if any gradient disagrees.

        ``fn`` is an ``@audit_target`` function, a plain function plus the
        ``audit_target`` arguments (``activations``, ``loss``, ...), or a
        ``Target``. Returns the ``FuzzRun`` when everything agrees.
        """
        __tracebackhide__ = True
        return self._session.check(fn, self._nodeid, examples=examples, seed=seed, **declaration)


_SESSION_KEY = pytest.StashKey[Session]()


def pytest_configure(config) -> None:
    config.stash[_SESSION_KEY] = Session.from_config(config)


@pytest.fixture
def crosscheck(request) -> Checker:
    """Check your backprop against torch: ``crosscheck.assert_matches_torch(my_backprop)``."""
    return Checker(request.config.stash[_SESSION_KEY], request.node.nodeid)


def assert_matches_torch(fn, *, examples: int | None = None, seed: int = 0, profile: str | None = None,
                         database=None, **declaration):
    """The fixture's check without pytest options (unittest, scripts, notebooks).

    ``examples`` defaults to ``DEFAULT_EXAMPLES`` (scaled by the profile);
    the example database, under the dev and thorough profiles, is
    ``.crosscheck/examples`` in the current folder.
    """
    __tracebackhide__ = True
    from crosscheck.app.options import DefaultCount

    session = Session(DefaultCount(DEFAULT_EXAMPLES), seed, profile, database, None)
    return session.check(fn, examples=examples, **declaration)


def pytest_sessionfinish(session, exitstatus) -> None:
    s = session.config.stash.get(_SESSION_KEY, None)
    if s is not None and s.report and s.checks and not hasattr(session.config, "workerinput"):
        s.write_report()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    s = config.stash.get(_SESSION_KEY, None)
    if s is None or not s.checks:
        return
    terminalreporter.write_line(s.summary_line(), red=bool(s.findings), green=not s.findings)
