"""The README's install line works for a project of the user's own.

A copy of this checkout is installed with ``pip install -c constraints.txt CHECKOUT`` into a fresh
virtual environment, offline: the environment sees this interpreter's packages (torch, NumPy, ...) the way
``--system-site-packages`` would, so pip only builds and installs crosscheck itself. Then, in a project
folder that has its own ``reference`` package, the installed crosscheck must import from the environment,
answer ``--version``, fuzz, and check the project's backprop through the pytest plugin, while the project's
``reference`` stays the project's.
"""
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: What a checkout's top folder holds that an install does not need (and caches that would make the copy slow).
SKIP_AT_TOP = {".git", ".venv", "reports", ".hypothesis", ".crosscheck", "build", "dist", "tests", "benchmarks",
               "examples"}


def skip(folder: str, names: list[str]) -> set[str]:
    top = Path(folder) == ROOT
    return {n for n in names if (top and n in SKIP_AT_TOP) or n == "__pycache__" or n.endswith(".egg-info")}

MYNET = '''\
"""The project's own backprop: one dense layer, no activation, mean squared error."""
import numpy as np

from reference import WHOSE  # the project's own package, not crosscheck's


def grads(X, Y, params):
    (W, b), = params
    A = X @ W.T + b
    dA = 2 * (A - Y) / A.size  # d mean((A - Y)^2) / dA
    return [(dA.T @ X, dA.sum(axis=0))]
'''

TEST = '''\
from crosscheck import audit_target

import mynet
from reference import WHOSE


@audit_target(activations=["identity"], loss="mse")
def one_layer(X, Y, params):
    return mynet.grads(X, Y, params)


def test_the_project_keeps_its_own_reference_package():
    assert WHOSE == "the project's"


def test_one_layer_matches_torch(crosscheck):
    crosscheck.assert_matches_torch(one_layer)
'''


def run(args, cwd, env, timeout=300) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout[-3000:]}" \
                                 f"\n{proc.stderr[-3000:]}"
    return proc


@dataclass
class Installed:
    """A fresh environment with crosscheck installed from a copy of this checkout, and a project beside it."""

    bin: Path
    python: Path
    site: Path
    project: Path
    env: dict


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    tmp = tmp_path_factory.mktemp("install")
    checkout = tmp / "crosscheck-checkout"
    shutil.copytree(ROOT, checkout, symlinks=True, ignore=skip)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # as --system-site-packages would: this interpreter's packages are seen, after the environment's own
    (site / "outer_site_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", CI="true", PIP_NO_INDEX="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")

    # the README's line, offline: no index, and setuptools from the environment rather than a download
    run([python, "-m", "pip", "install", "-q", "--no-build-isolation", "-c", checkout / "constraints.txt",
         checkout], tmp, env)

    project = tmp / "myproject"
    (project / "reference").mkdir(parents=True)
    (project / "reference" / "__init__.py").write_text('WHOSE = "the project\'s"\n')
    (project / "mynet.py").write_text(MYNET)
    (project / "tests").mkdir()
    (project / "tests" / "test_backprop.py").write_text(TEST)
    return Installed(bin_dir, python, site, project, env)


def test_the_installed_crosscheck_works_in_a_project_with_its_own_reference_package(installed):
    i = installed
    where = run([i.python, "-c", "import crosscheck, crosscheck.reference as r, reference; "
                                 "print(crosscheck.__file__); print(r.__file__); print(reference.WHOSE)"],
                i.project, i.env).stdout.splitlines()
    assert Path(where[0]).is_relative_to(i.site) and Path(where[1]).is_relative_to(i.site), where
    assert where[2] == "the project's"

    # the reference fuzzed from inside the project: crosscheck's reference, not the project's
    run([i.bin / "crosscheck", "fuzz", "--examples", "5", "--report", "fuzz-report", "--database", "none"],
        i.project, i.env)
    assert (i.project / "fuzz-report" / "fuzz.html").is_file()  # the page's templates are installed

    tests = run([i.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--crosscheck-examples", "10",
                 "--crosscheck-report", "crosscheck-report", "tests"], i.project, i.env).stdout
    assert "2 passed" in tests, tests
    assert (i.project / "crosscheck-report" / "pytest.html").is_file()


def test_the_installed_command_says_its_version(installed):
    assert "0.1.0" in run([installed.bin / "crosscheck", "--version"], installed.project, installed.env).stdout


def test_nothing_imports_the_reference_by_its_old_top_level_name():
    """``reference`` is installed as ``crosscheck.reference`` only: an import of a top-level ``reference`` works
    in this checkout (its folder is on the path) and fails, or imports the user's own package, once installed."""
    import ast

    found = []
    for folder in ("crosscheck", "tests", "benchmarks", "examples"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "test_install.py" or "reference" in path.relative_to(ROOT).parts[1:2]:
                continue  # this file's project of its own; crosscheck/reference itself (relative imports)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
                found += [f"{path.relative_to(ROOT)}:{node.lineno}" for n in names
                          if n == "reference" or n.startswith("reference.")]
    assert not found, "import crosscheck.reference instead of reference in: " + ", ".join(found)
