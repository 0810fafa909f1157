"""What a trajectory check costs: seconds per trajectory and per step, by optimizer and dtype.

    python benchmarks/trajectory.py [--cases N] [--steps K]

Draws N cases (fixed seeds, so runs compare), checks K steps of the reference
against torch.optim for each optimizer, and prints the time per trajectory and
per step, how many trajectories needed the noise runs (the floor alone did not
decide), and the ratio of the full check to the torch float64 trajectory alone
(the least any check must do).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crosscheck.model.cases import REGIMES, Case, Network  # noqa: E402
from crosscheck.model.optimizer_spec import OPTIMIZERS, OptimizerSpec  # noqa: E402
from crosscheck.judge.trajectory import LOSS, TrainingCase, check_reference, torch_trajectory  # noqa: E402

NETWORKS = [Network((4, 8, 1), ("tanh", "sigmoid"), "bce"),
            Network((6, 16, 16, 3), ("relu", "relu", "identity"), "mse"),
            Network((3, 5, 2), ("sigmoid", "identity"), "bce_with_logits", "sum")]
LR = {"sgd": 0.1, "momentum": 0.05, "adam": 0.01, "adamw": 0.01}


def cases(n: int, dtype: str):
    return [Case(NETWORKS[i % len(NETWORKS)], 8, dtype, REGIMES[i % 3], i) for i in range(n)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=12)
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args(argv)
    check_reference(TrainingCase(cases(1, "float64")[0], OptimizerSpec.make("sgd", lr=0.1), 1))  # warm up imports
    print(f"{args.cases} cases x {args.steps} steps per optimizer and dtype")
    print(f"{'optimizer':10s} {'dtype':8s} {'ms/trajectory':>14s} {'ms/step':>8s} {'noise runs':>11s} "
          f"{'vs torch f64 only':>18s} {'agree':>6s}")
    for name in OPTIMIZERS:
        spec = OptimizerSpec.make(name, lr=LR[name])
        for dtype in ("float64", "float32"):
            full, bare, noisy, agree = [], [], 0, 0
            for case in cases(args.cases, dtype):
                X, Y, params = case.arrays()
                t0 = time.perf_counter()
                torch_trajectory(case.network, X, Y, params, spec, args.steps, "float64")
                bare.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                res = check_reference(TrainingCase(case, spec, args.steps))
                full.append(time.perf_counter() - t0)
                noisy += any(c.tensor != LOSS and c.torch_err == c.torch_err and c.torch_err > 0
                             for cs in res.per_step.values() for c in cs)
                agree += res.agree
            ms = 1000 * statistics.median(full)
            print(f"{name:10s} {dtype:8s} {ms:14.1f} {ms / args.steps:8.2f} {noisy:5d}/{args.cases:<5d} "
                  f"{statistics.median(full) / statistics.median(bare):17.2f}x {agree:3d}/{args.cases}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
