"""Option definitions shared by the CLI and the pytest plugin, so they cannot drift.

``add_run_options(add, prefix)`` calls ``add(flag, **kwargs)`` for each option,
with argparse-compatible keyword arguments (pytest's ``addoption`` takes the same).
"""
from __future__ import annotations

from crosscheck.engine.profiles import DEFAULT_DATABASE, PROFILE_NAMES, DefaultCount

DEFAULT_REPORT_DIR = "reports"


def add_run_options(add, prefix: str = "", examples: int = 100) -> None:
    add(f"--{prefix}examples", type=int, default=DefaultCount(examples), metavar="N",
        help=f"cases to draw per target (default {examples}; 10x under --{prefix}profile thorough)")
    add_seed_option(add, prefix)


def add_seed_option(add, prefix: str = "") -> None:
    """``--seed S``; without it the profile decides (``profiles.run_seed``: ci 0, dev and thorough fresh)."""
    add(f"--{prefix}seed", type=int, default=None, metavar="S",
        help="random seed; same seed, same cases (default: 0 under the ci profile, a fresh seed each run under "
             "dev and thorough, printed and recorded in the reports)")


def add_output_options(add) -> None:
    """``-q`` and ``-v`` (every command): how much is printed."""
    add("-q", "--quiet", dest="verbosity", action="store_const", const=-1, default=0,
        help="print only errors and the final line")
    add("-v", "--verbose", dest="verbosity", action="store_const", const=1,
        help="print more: the settings of the run and every failing tensor of each finding")


def add_report_option(add, prefix: str = "", default: str | None = DEFAULT_REPORT_DIR) -> None:
    add(f"--{prefix}report", default=default, metavar="DIR",
        help=f"folder for the report files (default {default})" if default else "folder for the report files")


def add_profile_options(add, prefix: str = "") -> None:
    """``--profile`` and ``--database``: how Hypothesis runs and where failures are kept (see ``profiles``)."""
    add_profile_option(add, prefix)
    add(f"--{prefix}database", default=None, metavar="DIR",
        help=f"folder of Hypothesis's example database, where failures are kept and replayed first next "
             f"time (default {DEFAULT_DATABASE} under the dev and thorough profiles, none under ci); "
             f"'none' turns it off")


def add_profile_option(add, prefix: str = "") -> None:
    """``--profile ci|dev|thorough`` alone (commands without an example database)."""
    add(f"--{prefix}profile", choices=PROFILE_NAMES, default=None,
        help="Hypothesis profile: ci (seed 0, no example database; the default when $CI is set), "
             "dev (the default otherwise: a fresh seed each run, failures kept and replayed first), "
             "thorough (as dev, 10x the examples)")


def add_fragile_option(add, prefix: str = "") -> None:
    """``--allow-fragile``: fragile targets (right where finite, inf or NaN at edge data) do not fail the run."""
    add(f"--{prefix}allow-fragile", action="store_true", default=False,
        help="exit 0 when every finding is fragile: the gradients agree wherever the code's values are finite, "
             "and it returns inf or NaN only at edge data (outputs that round to 0 or 1)")


def add_workers_option(add, prefix: str = "", what: str = "cases") -> None:
    """``--workers N``: processes to spread the work over (``campaign.distribute``)."""
    add(f"--{prefix}workers", type=int, default=1, metavar="N",
        help=f"processes to spread the {what} over (default 1); reports are the same for any N")


def add_scale_options(add, prefix: str = "") -> None:
    """``--workers``, ``--scheduler`` and ``--resume``: where the checks run and how a stopped run goes on
    (see ``campaign``)."""
    add_workers_option(add, prefix)
    add(f"--{prefix}scheduler", default=None, metavar="ADDRESS",
        help="run the cases on a dask.distributed cluster, e.g. tcp://10.0.0.5:8786 "
             "(needs pip install 'crosscheck[dask]')")
    add(f"--{prefix}resume", action="store_true", default=False,
        help="skip the cases already in the report folder's results stream from an earlier run with the "
             "same arguments (one killed halfway, say)")
    add_overwrite_option(add, prefix)


def add_overwrite_option(add, prefix: str = "") -> None:
    """``--overwrite``: replace the results stream an earlier run left in the report folder (``engine.lock``)."""
    add(f"--{prefix}overwrite", action="store_true", default=False,
        help="replace the results stream of an earlier run in the report folder (without it, or --resume, "
             "such a folder is refused)")
