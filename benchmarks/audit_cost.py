"""What a finding costs the user: the audit of the tutorials, and a failing pytest check.

    .venv/bin/python benchmarks/audit_cost.py [--repeats 3] [--seed 1] [--baseline PATH]
                                              [--no-audit] [--no-check]

Two commands a user runs, each in a fresh process, timed from outside:

- **audit**: ``crosscheck audit examples/tutorials --seed S --database none``, the main job's
  audit (``make run``), with a fixed seed and no example database so that every run draws,
  checks and shrinks the same cases. Printed: the command's wall time, and each target's time
  as audit.json records it (their sum is "per-target"). Processor time is left out: not every
  process of an audit is waited for by the command (a checkout from before the sandbox ran its
  targets in a pool), so what the system counts for its children does not compare;
- **failing check**: a pytest file of one test, ``crosscheck.assert_matches_torch`` on a
  two-layer target with one bug, the output sigmoid's derivative left out (every case fails:
  the check shrinks it, diagnoses it, explains it with its line and fails the test). Printed:
  the test's own time (pytest's ``call`` duration) and the processor time of the whole pytest
  process. A second test file holds the README's typical tutorial bug, the ReLU mask built from
  the input X: it crashes when the input and hidden widths differ and is wrong where they agree,
  so the check shrinks two failures.

``--baseline PATH`` runs the same commands on another checkout of crosscheck (its own
``examples/tutorials``, its modules first on the import path), alternating with this one
repeat by repeat, and prints the ratio of the medians: this checkout's time over the
baseline's. The failing check loads the plugin by its module path, ``crosscheck.app.plugin``
here, or ``crosscheck.plugin`` in a checkout from before the layered package.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

#: the failing check's test file: a two-layer ReLU/sigmoid network, MSE, with the lines of dZ2 and dZ1
TEST_FILE = """
import numpy as np
from crosscheck import audit_target


@audit_target(activations=["relu", "sigmoid"], loss="mse")
def two_layer(X, Y, params):
    (W1, b1), (W2, b2) = params
    z1 = X @ W1.T + b1
    a1 = np.maximum(z1, 0)
    a2 = 1 / (1 + np.exp(-(a1 @ W2.T + b2)))
    {dZ2}
    {dZ1}
    return [(dZ1.T @ X, dZ1.sum(0)), (dZ2.T @ a1, dZ2.sum(0))]


def test_two_layer(crosscheck):
    crosscheck.assert_matches_torch(two_layer)
"""

#: each check's two backward lines, one of them wrong
CHECKS = {
    "output-derivative-missing": TEST_FILE.format(
        dZ2="dZ2 = 2 * (a2 - Y) / Y.size          # the bug: no a2 * (1 - a2)",
        dZ1="dZ1 = (dZ2 @ W2) * (z1 > 0)"),
    "relu-mask-from-input": TEST_FILE.format(
        dZ2="dZ2 = 2 * (a2 - Y) / Y.size * a2 * (1 - a2)",
        dZ1="dZ1 = (dZ2 @ W2) * (X > 0)            # the bug: the mask of the input, not of z1"),
}


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _env(checkout: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTHONPATH")}
    env["PYTHONPATH"] = str(checkout)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the plugin is named below, by the checkout's own module
    return env


def _run(cmd: list[str], checkout: Path, cwd: Path) -> tuple[subprocess.CompletedProcess, float, float]:
    cpu, wall = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=_env(checkout), capture_output=True, text=True, timeout=900)
    return proc, time.perf_counter() - wall, _children_cpu() - cpu


def audit_once(checkout: Path, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "crosscheck", "audit", "examples/tutorials", "--seed", str(seed),
               "--database", "none", "--report", tmp]
        proc, wall, cpu = _run(cmd, checkout, checkout)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"audit failed in {checkout} (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        data = json.loads((Path(tmp) / "audit.json").read_text())
    targets = {t["name"]: (t["seconds"], t["examples"]) for t in data["targets"]}
    return {"wall": wall, "cpu": cpu, "targets": targets, "per_target": sum(s for s, _ in targets.values())}


def _plugin_module(checkout: Path) -> str:
    return "crosscheck.app.plugin" if (checkout / "crosscheck" / "app" / "plugin.py").exists() else "crosscheck.plugin"


def check_once(checkout: Path, name: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        test = Path(tmp) / f"test_{name.replace('-', '_')}.py"
        test.write_text(CHECKS[name].lstrip())
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", _plugin_module(checkout), "-p", "no:cacheprovider",
               "--durations=0", "--durations-min=0", str(test)]
        proc, wall, cpu = _run(cmd, checkout, Path(tmp))
    if proc.returncode != 1 or "assert_matches_torch" not in proc.stdout + proc.stderr:
        raise SystemExit(f"the failing check did not fail as expected in {checkout} (exit {proc.returncode}):\n"
                         f"{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    call = re.search(r"([\d.]+)s call\s", proc.stdout)
    return {"wall": wall, "cpu": cpu, "call": float(call.group(1)) if call else float("nan")}


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--baseline", type=Path, help="another checkout of crosscheck to compare with")
    p.add_argument("--no-audit", action="store_true")
    p.add_argument("--no-check", action="store_true")
    args = p.parse_args(argv)
    checkouts = {"this": HERE}
    if args.baseline is not None:
        base = args.baseline.resolve()
        if not (base / "crosscheck" / "__init__.py").exists():
            raise SystemExit(f"--baseline {args.baseline}: not a checkout of crosscheck (no crosscheck/__init__.py)")
        checkouts["baseline"] = base
    print(f"load average at start: {os.getloadavg()[0]:.2f}; repeats {args.repeats}; seed {args.seed}")

    if not args.no_audit:
        runs = {k: [] for k in checkouts}
        for i in range(args.repeats):
            for k, path in checkouts.items():
                r = audit_once(path, args.seed)
                runs[k].append(r)
                print(f"  audit {k:8} repeat {i + 1}: wall {r['wall']:.1f} s, per-target "
                      f"{r['per_target']:.1f} s (" + ", ".join(f"{n.split('.')[-1]} {s:.1f} s/{c}"
                                                              for n, (s, c) in r["targets"].items()) + ")")
        print("audit of examples/tutorials, medians:")
        for k in checkouts:
            print(f"  {k:8} wall {_median(runs[k], 'wall'):.1f} s, per-target {_median(runs[k], 'per_target'):.1f} s")
        if "baseline" in runs:
            for key in ("wall", "per_target"):
                print(f"  ratio this / baseline, {key}: {_median(runs['this'], key) / _median(runs['baseline'], key):.2f}")

    if not args.no_check:
        for name in CHECKS:
            runs = {k: [] for k in checkouts}
            for i in range(args.repeats):
                for k, path in checkouts.items():
                    r = check_once(path, name)
                    runs[k].append(r)
                    print(f"  check {name} {k:8} repeat {i + 1}: test {r['call']:.1f} s, pytest wall "
                          f"{r['wall']:.1f} s, cpu {r['cpu']:.1f} s")
            print(f"failing check ({name}), medians:")
            for k in checkouts:
                print(f"  {k:8} test {_median(runs[k], 'call'):.1f} s, pytest wall {_median(runs[k], 'wall'):.1f} s, "
                      f"cpu {_median(runs[k], 'cpu'):.1f} s")
            if "baseline" in runs:
                print(f"  ratio this / baseline, test: {_median(runs['this'], 'call') / _median(runs['baseline'], 'call'):.2f}")


if __name__ == "__main__":
    main()
