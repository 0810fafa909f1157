"""Our cross-check against ``torch.autograd.gradcheck`` on the same networks, cases per second.

    .venv/bin/python benchmarks/gradcheck_compare.py [--cases 100] [--repeats 2] [--seed 0]

For the same seeded cases (``sampler.seeded_case``, the campaign's distribution)
it times, in one process with torch on one thread:

- crosscheck: ``check_case`` of the reference implementation on each case (its
  arrays, the NumPy forward and backward, the torch float64 truth, every tensor
  judged), and the campaign's stage-by-stage ``fastpath.check_chunk``;
- gradcheck: ``torch.autograd.gradcheck`` of the case's loss as a function of
  X and every W and b, in float64 (gradcheck's own advice), with its defaults:
  central differences of every input element, compared with the analytical
  Jacobian that autograd gives;
- gradcheck fast mode: ``fast_mode=True``, the same check along one random
  direction (Jacobian-vector products instead of the whole Jacobian).

They do not check the same thing: gradcheck asks whether torch's backward
agrees with finite differences of torch's forward; crosscheck asks whether
hand-written NumPy gradients agree with torch's, tensor by tensor, with a budget
measured on the case. The comparison is of cost per network checked. The
runs alternate, ``--repeats`` times; medians and the ratios are printed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def crosscheck_seconds(cases) -> float:
    from crosscheck.judge.check import check_case
    from crosscheck.model.target import reference_target

    target = reference_target()
    start = time.perf_counter()
    for case in cases:
        check_case(target, case)
    return time.perf_counter() - start


def chunk_seconds(cases, chunk: int = 64) -> float:
    from crosscheck.judge.fastpath import check_chunk
    from crosscheck.model.target import reference_target

    target = reference_target()
    start = time.perf_counter()
    for i in range(0, len(cases), chunk):
        check_chunk(target, cases[i:i + chunk])
    return time.perf_counter() - start


def gradcheck_inputs(case):
    """(function of X, W1, b1, ..., inputs as float64 leaf tensors) for ``torch.autograd.gradcheck``."""
    import torch

    from crosscheck.judge.oracle import torch_loss

    X, Y, params = case.arrays()
    Yt = torch.from_numpy(Y.astype("float64"))
    inputs = [torch.from_numpy(X.astype("float64")).requires_grad_()]
    for W, b in params:
        inputs += [torch.from_numpy(W.astype("float64")).requires_grad_(),
                   torch.from_numpy(b.astype("float64")).requires_grad_()]

    def loss(X, *flat):
        pairs = list(zip(flat[0::2], flat[1::2]))
        return torch_loss(case.network, X, Yt, pairs)

    return loss, tuple(inputs)


def gradcheck_seconds(cases, fast_mode: bool) -> tuple[float, int]:
    """Seconds for gradcheck of every case, and how many it passed."""
    import torch

    prepared = [gradcheck_inputs(c) for c in cases]
    passed = 0
    start = time.perf_counter()
    for fn, inputs in prepared:
        passed += bool(torch.autograd.gradcheck(fn, inputs, fast_mode=fast_mode, raise_exception=False))
    return time.perf_counter() - start, passed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=100)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from crosscheck.engine.campaign import single_thread_torch
    from crosscheck.drawing.sampler import seeded_case

    single_thread_torch()
    cases = [seeded_case(args.seed, i) for i in range(args.cases)]
    elements = [sum(c.network.sizes[i] * c.network.sizes[i + 1] + c.network.sizes[i + 1]
                    for i in range(c.network.depth)) + c.batch * c.network.sizes[0] for c in cases]
    crosscheck_seconds(cases[:20])
    gradcheck_seconds(cases[:5], False)
    rates: dict[str, list[float]] = {"crosscheck (check_case)": [], "crosscheck (check_chunk)": [],
                                     "gradcheck": [], "gradcheck fast_mode": []}
    passed = {}
    for r in range(args.repeats):
        rates["crosscheck (check_case)"].append(len(cases) / crosscheck_seconds(cases))
        rates["crosscheck (check_chunk)"].append(len(cases) / chunk_seconds(cases))
        for name, fast in (("gradcheck", False), ("gradcheck fast_mode", True)):
            seconds, passed[name] = gradcheck_seconds(cases, fast)
            rates[name].append(len(cases) / seconds)
        print(f"repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f}/s" for k, v in rates.items()), flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"\n{len(cases)} seeded cases (inputs per case: median {statistics.median(elements):.0f}, "
          f"max {max(elements)} elements of X, W, b), torch threads 1, medians of {args.repeats}:")
    print(f"{'':28s}{'cases/s':>10s}{'x gradcheck':>13s}{'x fast_mode':>13s}")
    for name, rate in med.items():
        print(f"{name:28s}{rate:10.1f}{rate / med['gradcheck']:13.2f}{rate / med['gradcheck fast_mode']:13.2f}")
    for name in ("gradcheck", "gradcheck fast_mode"):
        print(f"{name} passed {passed[name]} of {len(cases)} cases (on the rest, finite differences of torch's "
              f"own forward missed its backward by more than gradcheck's default tolerances)")
    ours = med["crosscheck (check_case)"]
    print(f"\ncrosscheck / gradcheck = {ours / med['gradcheck']:.1f}x, "
          f"crosscheck / gradcheck fast_mode = {ours / med['gradcheck fast_mode']:.1f}x (check_case, one case at a time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
