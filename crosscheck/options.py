"""Option definitions shared by the CLI and the pytest plugin, so they cannot drift.

``add_run_options(add, prefix)`` calls ``add(flag, **kwargs)`` for each option,
with argparse-compatible keyword arguments (pytest's ``addoption`` takes the same).
"""
from __future__ import annotations

DEFAULT_REPORT_DIR = "reports"


def add_run_options(add, prefix: str = "", examples: int = 100) -> None:
    add(f"--{prefix}examples", type=int, default=examples, metavar="N",
        help=f"cases to draw per target (default {examples})")
    add(f"--{prefix}seed", type=int, default=0, metavar="S", help="random seed; same seed, same cases (default 0)")


def add_report_option(add, prefix: str = "", default: str | None = DEFAULT_REPORT_DIR) -> None:
    add(f"--{prefix}report", default=default, metavar="DIR",
        help=f"folder for the report files (default {default})" if default else "folder for the report files")
