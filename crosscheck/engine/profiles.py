"""Hypothesis profiles for crosscheck runs, and the example database that keeps failures.

=========  ==============================  ==========================================  =====================
profile    examples                        example database                            for
=========  ==============================  ==========================================  =====================
ci         the command's default           none: a run depends on ``--seed`` alone    CI logs
dev        the command's default           ``.crosscheck/examples``: failures kept,    a developer's machine
                                           replayed first next time
thorough   10 x the command's default      ``.crosscheck/examples``                    nightly runs
=========  ==============================  ==========================================  =====================

A run's cases depend only on its seed (``run_seed``): ``--seed S`` when given;
else ``ci`` uses seed 0, so a CI log can be replayed, and ``dev`` and
``thorough`` draw a fresh seed each run, so reruns try new cases (the seed is
printed and recorded in every report, and ``--seed S`` draws the same cases
again). No profile has a deadline (a slow first torch call is not a failure).
Hypothesis's health checks stay on, but for ``SUPPRESSED_HEALTH_CHECKS``, which
cannot apply to crosscheck's test functions (see there). ``--examples N``
given explicitly always wins over the profile's count. Without ``--profile``, runs use ``ci``
when the ``CI`` environment variable is set (as GitHub Actions, GitLab and
``.ci/run`` do) and ``dev`` otherwise, the rule Hypothesis itself follows.

The database is Hypothesis's own ``DirectoryBasedExampleDatabase``, keyed per
target: Hypothesis keys saved examples by a digest of the test function, which
is the same inner function for every target of ``fuzz``, so ``TargetDatabase``
puts each target's entries under its key, ``database_key``: the target's file
(its absolute path) and function, so two files of the same name never share
entries. Hypothesis's other files (its cache of constants found in the code
under test) go to ``HYPOTHESIS_HOME`` beside the database (``hypothesis_home``),
so a run leaves one ``.crosscheck/`` folder and no ``.hypothesis/``. On the next run Hypothesis
replays the saved minimal examples before drawing new ones, and stops there
when they still fail (``FuzzRun.replayed`` counts them).

Light at import time (the pytest plugin reads the names): Hypothesis is
imported only when a database is made.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE = ".crosscheck/examples"
#: Hypothesis's own storage (``HYPOTHESIS_STORAGE_DIRECTORY``) during a crosscheck run: beside the database.
HYPOTHESIS_HOME = ".crosscheck/hypothesis"
#: The seed of every ci run without ``--seed``.
CI_SEED = 0
#: Fresh seeds are drawn below this (short enough to type back after ``--seed``).
SEED_RANGE = 2**31
#: Values of ``--database`` that turn the example database off.
NO_DATABASE = ("none", "off", "")


@dataclass(frozen=True)
class Profile:
    name: str
    examples_factor: int  # times the command's default example count
    database: bool  # keep failures in DEFAULT_DATABASE and replay them first
    fresh_seed: bool  # without --seed, a new seed each run (else CI_SEED)
    about: str


PROFILES = {
    "ci": Profile("ci", 1, False, False, "seed 0, the command's default examples, no example database, no deadline"),
    "dev": Profile("dev", 1, True, True, "a fresh seed each run, failures kept in .crosscheck/examples and replayed "
                   "first, no deadline"),
    "thorough": Profile("thorough", 10, True, True, "as dev, with 10x the default examples"),
}
PROFILE_NAMES = tuple(PROFILES)


def in_ci(environ=os.environ) -> bool:
    return environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def default_profile(environ=os.environ) -> str:
    """``ci`` when the ``CI`` environment variable is set, else ``dev``."""
    return "ci" if in_ci(environ) else "dev"


def get(name: str | None) -> Profile:
    """The profile called ``name`` (``None``: the default for this environment)."""
    name = default_profile() if name is None else name
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}: choose from {', '.join(PROFILE_NAMES)}") from None


class DefaultCount(int):
    """An example count the user did not give: a profile may scale it (``--profile thorough``).

    It is an int like any other; ``example_count`` tells it apart from
    an explicit ``--examples N``, which always wins.
    """


def example_count(profile: str | None, examples: int) -> int:
    """The examples to draw: ``examples`` as given, or the profile's multiple of a default count.

    A count the user did not give arrives as ``options.DefaultCount``; any other
    int is explicit and wins.
    """
    if profile is None or not isinstance(examples, DefaultCount):
        return int(examples)
    return int(examples) * get(profile).examples_factor


def run_seed(seed: int | None, profile: str | None) -> int:
    """The seed of a run: ``seed`` when given; else ``CI_SEED`` under ``ci`` (and with no profile), and a
    fresh one under ``dev`` and ``thorough`` (``Profile.fresh_seed``)."""
    if seed is not None:
        return int(seed)
    if profile is None or not get(profile).fresh_seed:
        return CI_SEED
    import secrets

    return secrets.randbelow(SEED_RANGE)


#: Health checks that cannot apply to crosscheck's test functions, so they are off; every other stays on.
#: ``function_scoped_fixture`` and ``differing_executors``: the Hypothesis test is crosscheck's own inner
#: function, which takes no pytest fixture and is no method, so neither check has anything to look at.
#: ``nested_given``: the pytest plugin's check may be called from a user's own ``@given`` test, and then
#: crosscheck's run is inside theirs by design; the cases it draws depend on its own seed, not on theirs.
SUPPRESSED_HEALTH_CHECKS = ("function_scoped_fixture", "differing_executors", "nested_given")


def hypothesis_settings(profile: str | None) -> dict:
    """Keyword arguments for ``hypothesis.settings`` that every profile shares.

    Derandomization is the caller's ``@seed``; the database comes from
    ``database_for``; health checks but ``SUPPRESSED_HEALTH_CHECKS`` stay on, and
    those the loaded Hypothesis profile suppresses (``--hypothesis-profile``).
    """
    from hypothesis import HealthCheck, settings

    if profile is not None:
        get(profile)  # a bad name fails here, before any case is drawn
    theirs = set(settings.default.suppress_health_check)
    suppressed = [h for h in HealthCheck if h.name in SUPPRESSED_HEALTH_CHECKS or h in theirs]
    return dict(deadline=None, report_multiple_bugs=True, suppress_health_check=suppressed, print_blob=False)


@contextlib.contextmanager
def hypothesis_home(root=None):
    """Within the block, Hypothesis keeps its files in ``root/HYPOTHESIS_HOME`` (default: the current folder's),
    in this process and in the processes it starts; both are restored after.

    For the front ends (the CLI, the pytest plugin's checks): without it Hypothesis makes ``.hypothesis/``
    in the working folder for its cache of constants, even when no example database is kept.
    """
    from hypothesis import configuration

    where = str(Path(root or ".") / HYPOTHESIS_HOME)
    saved_env = os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY")
    saved_home = getattr(configuration, "__hypothesis_home_directory", None)
    os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = where
    configuration.set_hypothesis_home_dir(where)
    try:
        yield Path(where)
    finally:
        configuration.set_hypothesis_home_dir(saved_home)
        if saved_env is None:
            os.environ.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
        else:
            os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = saved_env


def database_location(location, profile: str | None):
    """Where failures are kept: an ``ExampleDatabase``, a folder, or ``None`` for no database.

    ``location`` is what the user gave (``--database``): a path, ``"none"``, an
    ``ExampleDatabase``, or ``None`` for the profile's choice (no profile: no database).
    """
    if location is None:
        if profile is None or not get(profile).database:
            return None
        return Path(DEFAULT_DATABASE)
    if isinstance(location, (str, os.PathLike)):
        if str(location).strip().lower() in NO_DATABASE:
            return None
        path = Path(location)
        if path.exists() and not path.is_dir():
            raise ValueError(f"--database {location}: is a file; give a folder for the example database "
                             f"(it is created if missing) or 'none'")
        return path
    return location  # an ExampleDatabase already


def database_key(target) -> str:
    """What a target's saved examples are filed under: ``/abs/path/file.py::name`` (a ``Target``, or any
    object with ``name`` and ``file``), or the name alone for a target with no file (or a plain string).

    The absolute path keeps apart two files of the same name in different folders; the name (for
    targets loaded from files, ``<file stem>.<function>``) keeps apart the functions of one file.
    """
    if isinstance(target, str):
        return target
    name, file = target.name, getattr(target, "file", None)
    return f"{Path(file).resolve()}::{name}" if file else name


def database_for(target, location, profile: str | None):
    """The example database for one target (``database_key``), or ``None``."""
    where = database_location(location, profile)
    if where is None:
        return None
    from hypothesis.database import DirectoryBasedExampleDatabase

    inner = DirectoryBasedExampleDatabase(str(where)) if isinstance(where, Path) else where
    return _target_database_class()(inner, database_key(target))


_CLASS = None


def _target_database_class():
    """``TargetDatabase``, defined on first use so importing this module does not load Hypothesis."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    from hypothesis.database import ExampleDatabase

    class TargetDatabase(ExampleDatabase):
        """One target's share of an example database: every key is prefixed with its ``database_key``.

        ``replayed`` counts the saved examples handed back for the test's
        primary key before the run saved anything: the failures replayed first.
        """

        def __init__(self, inner, key: str):
            super().__init__()
            self.inner, self.prefix = inner, key.encode() + b"\x00"
            self.replayed = 0
            self._written = False

        def __repr__(self) -> str:
            return f"TargetDatabase({self.inner!r}, {self.prefix[:-1].decode()!r})"

        def __eq__(self, other) -> bool:
            return isinstance(other, type(self)) and (self.inner, self.prefix) == (other.inner, other.prefix)

        def _key(self, key: bytes) -> bytes:
            return self.prefix + key

        def fetch(self, key: bytes):
            primary = not (key.endswith(b".secondary") or key.endswith(b".pareto"))
            for value in self.inner.fetch(self._key(key)):
                if primary and not self._written:
                    self.replayed += 1
                yield value

        def save(self, key: bytes, value: bytes) -> None:
            self._written = True
            self.inner.save(self._key(key), value)

        def delete(self, key: bytes, value: bytes) -> None:
            self._written = True
            self.inner.delete(self._key(key), value)

        def move(self, src: bytes, dest: bytes, value: bytes) -> None:
            self._written = True
            self.inner.move(self._key(src), self._key(dest), value)

    _CLASS = TargetDatabase
    return _CLASS
