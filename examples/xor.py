"""Train XOR with the reference: a 2-4-1 network, sigmoid units, binary cross-entropy.

    python examples/xor.py [--optimizer sgd|momentum|adam|adamw] [--steps N] [--lr LR] [--seed S]

Prints the loss every few hundred steps and the final predictions; exits 1 if a
prediction is not within 0.1 of its target (XOR not learned).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import crosscheck.reference as r  # noqa: E402

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
Y = np.array([[0], [1], [1], [0]], dtype=float)
#: A learning rate that solves XOR within the default steps, per optimizer.
LEARNING_RATES = {"sgd": 2.0, "momentum": 0.5, "adam": 0.05, "adamw": 0.05}
OPTIMIZERS = {"sgd": lambda lr: r.SGD(lr=lr), "momentum": lambda lr: r.SGD(lr=lr, momentum=0.9),
              "adam": lambda lr: r.Adam(lr=lr), "adamw": lambda lr: r.AdamW(lr=lr, weight_decay=1e-4)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: one that works for the optimizer)")
    p.add_argument("--seed", type=int, default=1, help="seed of the initial weights")
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error(f"--steps must be at least 1, got {args.steps}")

    lr = args.lr if args.lr is not None else LEARNING_RATES[args.optimizer]
    net = r.MLP([2, 4, 1], ["sigmoid", "sigmoid"], rng=np.random.default_rng(args.seed))
    print(f"XOR with {net}, BCE, {args.optimizer} lr={lr:g}, {args.steps} full-batch steps")
    every = max(args.steps // 10, 1)

    def report(step, loss):
        if step % every == 0 or step == args.steps - 1:
            print(f"  step {step:5d}  loss {loss:.5f}")

    r.train(net, X, Y, loss="bce", optimizer=OPTIMIZERS[args.optimizer](lr), steps=args.steps, callback=report)
    out = net(X)
    print("predictions:")
    for x, y, a in zip(X, Y, out):
        print(f"  {x.astype(int)} -> {a[0]:.3f}  (target {int(y[0])})")
    worst = float(np.max(np.abs(out - Y)))
    solved = worst < 0.1
    if solved:
        print(f"solved: every prediction is within {worst:.2g} of its target")
    else:
        print(f"NOT solved: a prediction is {worst:.2g} away from its target (more than 0.1); "
              f"try more --steps or another --lr")
    return 0 if solved else 1


if __name__ == "__main__":
    sys.exit(main())
