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
``crosscheck replay DIR N``). The report folder is checked and locked when
pytest starts (``engine.lock``): a file, a path under a file, a read-only
place or a folder another run is writing is a usage error before any test
runs. The terminal summary gets one line; the header names the seed.

Hypothesis's own options, where they apply: ``--hypothesis-seed S`` is the
seed when ``--crosscheck-seed`` is not given; ``--hypothesis-profile NAME``
chooses crosscheck's profile when NAME is one (ci, dev, thorough) and
``--crosscheck-profile`` is not given; any loaded Hypothesis profile's
settings that crosscheck does not set itself (verbosity, phases, the health
checks it suppresses) carry over to every check. crosscheck sets the example
count, the seed, the example database and the deadline.

Under pytest-xdist (``pytest -n N``) the controller draws the seed, every
worker uses it, and the workers' checks come back to the controller
(``workeroutput``), which writes one report and one summary line; failure
messages then name findings by id (``crosscheck replay DIR ID``), since their
numbers are only known once every worker is done.

Loading the plugin imports neither torch, pandas nor matplotlib: a test
session that never asks for the fixture pays nothing.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from crosscheck.engine.replay import replay_command
from crosscheck.app.options import add_fragile_option, add_profile_options, add_report_option, add_run_options

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
    add_fragile_option(group.addoption, prefix=PREFIX)


@dataclass
class Check:
    """One ``assert_matches_torch`` call: the target, its run and the test that made it."""

    nodeid: str
    target: object  # Target
    run: object  # FuzzRun
    declaration: dict = field(default_factory=dict)


class Session:
    """Every check of a pytest session, for the report and the terminal summary."""

    def __init__(self, examples: int, seed: int | None, profile: str | None, database, report: str | None,
                 rootdir: Path | None = None, *, distributed: bool = False, allow_fragile: bool = False):
        from crosscheck.engine import profiles

        self.examples, self.profile, self.database = examples, profile, database
        self.seed = profiles.run_seed(seed, profile or profiles.default_profile())
        self.report = report
        self.rootdir = rootdir
        self.distributed = distributed  # a pytest-xdist worker: findings are numbered only when merged
        self.allow_fragile = allow_fragile  # fragile findings (``judge.fragility``) do not fail a test
        self.checks: list[Check] = []
        self.written: dict[str, Path] = {}
        self.folder = None  # the report folder's claim (``engine.lock``), held by the controller
        self.merged = False  # checks of pytest-xdist workers were added (``pytest_testnodedown``)

    @classmethod
    def from_config(cls, config) -> "Session":
        opt = config.getoption
        seed = opt("crosscheck_seed")
        if seed is None:
            seed = hypothesis_seed(config.getoption("hypothesis_seed", None))
        worker = getattr(config, "workerinput", None)
        if worker is not None and "crosscheck_seed" in worker:
            seed = worker["crosscheck_seed"]  # the controller's, one seed for the whole session
        return cls(opt("crosscheck_examples"), seed, chosen_profile(config), opt("crosscheck_database"),
                   opt("crosscheck_report"), Path(str(config.rootpath)), distributed=worker is not None,
                   allow_fragile=bool(opt("crosscheck_allow_fragile")))

    @property
    def findings(self) -> int:
        return sum(len(c.run.findings) for c in self.checks)

    @property
    def fragile(self) -> int:
        """Findings that are fragile (right where finite, inf or NaN at edge data), counted apart."""
        return sum(1 for c in self.checks for f in c.run.findings if f.fragile)

    def failed(self, run) -> bool:
        """Does this run fail its test: any finding, unless every one is fragile and fragile ones are allowed."""
        from crosscheck.judge.fragility import allowed

        return not allowed(run.findings, self.allow_fragile)

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
        with profiles.hypothesis_home(self.rootdir):  # Hypothesis's files in .crosscheck/, not .hypothesis/
            # the example database is keyed by file path and function (``profiles.database_key``): two test
            # files of the same name never share saved failures
            run = fuzz(target, examples=self.examples if examples is None else examples,
                       seed=self.seed if seed is None else seed, profile=profile,
                       database=self.database_location(), check=check_target_case)
        first_number = self.findings + 1
        self.checks.append(Check(nodeid, target, run, decl))
        if run.stopped and not run.findings:  # never a silent pass: the check did not finish
            raise AssertionError(f"{target.name}: the check against torch stopped after {len(run.results)} cases "
                                 f"without a verdict: {run.stopped}")
        if self.failed(run):
            raise AssertionError(failure_message(run, target, seed=self.seed if seed is None else seed,
                                                 profile=profile, first_number=None if self.distributed
                                                 else first_number, report=self.report_json()))
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
        fragile = [c for c in self.checks if c.run.findings and all(f.fragile for f in c.run.findings)
                   and not c.run.stopped]
        bad = [c for c in self.checks if (c.run.findings or c.run.stopped) and c not in fragile]
        line = (f"crosscheck: {len(self.checks)} target check{'s' if len(self.checks) != 1 else ''}, "
                f"{cases} cases, {tensors} tensors compared against torch; ")
        parts = []
        if bad:
            names = ", ".join(dict.fromkeys(c.target.name for c in bad))
            parts.append(f"{len(bad)} disagree{'s' if len(bad) == 1 else ''} ({names})")
        if fragile:
            names = ", ".join(dict.fromkeys(c.target.name for c in fragile))
            parts.append(f"{len(fragile)} fragile ({names}{'; allowed' if self.allow_fragile else ''})")
        if parts:
            line += ", ".join(parts) + f", {self.findings} finding{'s' if self.findings != 1 else ''}"
            if self.fragile:
                line += f" ({self.fragile} fragile)"
        else:
            line += "all agree"
        line += f" (seed {self.seed})"
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


def failure_message(run, target, *, seed: int, profile: str, first_number: int | None = 1, report=None) -> str:
    """Every distinct finding: its messages (the one template), diagnosis and minimal example.

    The replay line names a finding by its number in the report (from ``first_number``), or, with
    ``first_number=None`` (a pytest-xdist worker, numbers unknown yet), by its id.
    """
    import json

    n = len(run.findings)
    fragile = sum(1 for f in run.findings if f.fragile)
    word = "are fragile (right where finite, inf or NaN at edge data)" if fragile == n else "disagree with torch"
    head = (f"{target.name}: gradients {word}: {n} distinct finding{'s' if n != 1 else ''}"
            + (f" ({fragile} fragile)" if fragile and fragile != n else "")
            + f" in {len(run.results)} cases (seed {seed}, profile {profile})")
    lines = [head]
    if run.replayed:
        lines.append(f"({run.replayed} failing example{'s' if run.replayed != 1 else ''} saved by an earlier run "
                     f"replayed first from the example database)")
    for i, f in enumerate(run.findings, first_number or 1):
        what = ", ".join(f.tensors) or (f.result.crash or {}).get("type", "")
        lines += ["", f"{i}. {f.verdict_kind} in {what}" + (f" (diagnosis: {', '.join(f.diagnosis)})" if f.diagnosis else "")]
        if f.fragile:
            lines.append(f"   {f.fragile}")
        lines.append(f"   {f.message}")
        if f.result.crash is None:
            lines += [f"   {c.message}" for c in f.result.failing]
        lines.append(f"   minimal example: {f.case.describe()}")
        lines.append(f"   case: {json.dumps(f.case.to_dict())}")
        if report is not None:
            which = str(i) if first_number is not None else f.id
            lines.append(f"   replay: {replay_command(report, which)}")
    if run.stopped:
        lines.append(f"note: the run stopped early: {run.stopped}")
    if fragile == n:
        lines.append("note: --crosscheck-allow-fragile (allow_fragile=True outside pytest) lets fragile findings pass")
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


def chosen_profile(config) -> str | None:
    """``--crosscheck-profile``, else ``--hypothesis-profile`` when it names one of crosscheck's profiles."""
    from crosscheck.engine.profiles import PROFILE_NAMES

    profile = config.getoption("crosscheck_profile")
    if profile is None:
        theirs = config.getoption("hypothesis_profile", None)
        profile = theirs if theirs in PROFILE_NAMES else None
    return profile


def hypothesis_seed(value) -> int | None:
    """``--hypothesis-seed`` as a crosscheck seed: its number, or for any other text a number made from it."""
    if value is None:
        return None
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    import zlib

    return zlib.crc32(text.encode())


def pytest_configure(config) -> None:
    session = Session.from_config(config)
    config.stash[_SESSION_KEY] = session
    if session.report and not hasattr(config, "workerinput"):  # checked and locked before any test runs
        from crosscheck.engine.lock import FolderError, claim

        try:
            session.folder = claim(session.report, option="--crosscheck-report")
        except FolderError as e:
            raise pytest.UsageError(str(e)) from None


def pytest_unconfigure(config) -> None:
    s = config.stash.get(_SESSION_KEY, None)
    if s is not None and s.folder is not None:
        s.folder.release()
        s.folder = None


def pytest_report_header(config) -> str | None:
    s = config.stash.get(_SESSION_KEY, None)
    if s is None or hasattr(config, "workerinput"):
        return None
    from crosscheck.engine import profiles

    return f"crosscheck profile {s.profile or profiles.default_profile()}, seed {s.seed}" + (
        f", report folder {s.report}" if s.report else "")


@pytest.fixture
def crosscheck(request) -> Checker:
    """Check your backprop against torch: ``crosscheck.assert_matches_torch(my_backprop)``."""
    return Checker(request.config.stash[_SESSION_KEY], request.node.nodeid)


def assert_matches_torch(fn, *, examples: int | None = None, seed: int = 0, profile: str | None = None,
                         database=None, allow_fragile: bool = False, **declaration):
    """The fixture's check without pytest options (unittest, scripts, notebooks).

    ``examples`` defaults to ``DEFAULT_EXAMPLES`` (scaled by the profile);
    the example database, under the dev and thorough profiles, is
    ``.crosscheck/examples`` in the current folder.
    """
    __tracebackhide__ = True
    from crosscheck.app.options import DefaultCount

    session = Session(DefaultCount(DEFAULT_EXAMPLES), seed, profile, database, None, allow_fragile=allow_fragile)
    return session.check(fn, examples=examples, **declaration)


def pytest_sessionfinish(session, exitstatus) -> None:
    s = session.config.stash.get(_SESSION_KEY, None)
    if s is None:
        return
    if hasattr(session.config, "workerinput"):  # a pytest-xdist worker: the controller reports
        session.config.workeroutput[WORKER_OUTPUT] = checks_to_text(s.checks)
        return
    if s.report and s.checks:
        if s.merged:  # workers finish in any order: the report lists the checks by test
            s.checks.sort(key=lambda c: c.nodeid)
        s.write_report()


# -- pytest-xdist: the workers' checks, merged by the controller --------------------------------

#: Key of a worker's checks in its ``workeroutput`` (JSON text: what execnet carries as it is).
WORKER_OUTPUT = "crosscheck_checks"


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist controller: every worker checks with the controller's seed."""
    s = node.config.stash.get(_SESSION_KEY, None)
    if s is not None:
        node.workerinput["crosscheck_seed"] = s.seed


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """xdist controller: a worker is done; its checks join the session's."""
    s = node.config.stash.get(_SESSION_KEY, None)
    text = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT)
    if s is not None and text:
        s.checks.extend(checks_from_text(text))
        s.merged = True


def checks_to_text(checks: list[Check]) -> str:
    """A worker's checks as JSON: each target's declaration and its run (results and findings in full)."""
    import json
    from dataclasses import asdict

    out = []
    for c in checks:
        t, run = c.target, c.run
        out.append({"nodeid": c.nodeid, "declaration": c.declaration,
                    "target": {"name": t.name, "function": getattr(t.fn, "__name__", None), "file": t.file,
                               "family": asdict(t.family), "returns": t.returns, "lr": t.lr,
                               "options": dict(t.options or {})},
                    "run": {"target": run.target, "seed": run.seed, "seconds": run.seconds, "stopped": run.stopped,
                            "replayed": run.replayed, "results": [r.to_dict() for r in run.results],
                            "findings": [f.to_dict() for f in run.findings]}})
    return json.dumps(out)


def checks_from_text(text: str) -> list[Check]:
    """The checks of ``checks_to_text``, for the controller's report. Their targets carry the declaration, file
    and function name; the function itself stayed in the worker, and calling it says so."""
    import json

    from crosscheck.engine.fuzz import FuzzRun
    from crosscheck.engine.rebuild import _family
    from crosscheck.model.records import CaseResult, Finding
    from crosscheck.model.target import Target

    checks = []
    for d in json.loads(text):
        t, r = d["target"], d["run"]
        run = FuzzRun(r["target"], results=[CaseResult.from_dict(x) for x in r["results"]],
                      findings=[Finding.from_dict(x) for x in r["findings"]], seconds=r["seconds"],
                      stopped=r["stopped"], replayed=r["replayed"], seed=r["seed"])
        target = Target(t["name"], _in_worker(t["function"] or t["name"]), _family(t["family"]), t["returns"],
                        t["lr"], file=t["file"], options=t["options"])
        checks.append(Check(d["nodeid"], target, run, d["declaration"]))
    return checks


def _in_worker(name: str):
    """The stand-in for a function that ran in a pytest-xdist worker: named like it, refusing to run here."""
    def ran_in_a_worker(*args, **kwargs):
        raise RuntimeError(f"{name} ran in a pytest-xdist worker; import it from its file to run it again")

    ran_in_a_worker.__name__ = ran_in_a_worker.__qualname__ = name
    return ran_in_a_worker


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    s = config.stash.get(_SESSION_KEY, None)
    if s is None or not s.checks:
        return
    bad = any(s.failed(c.run) or c.run.stopped for c in s.checks)
    terminalreporter.write_line(s.summary_line(), red=bad, green=not bad)
