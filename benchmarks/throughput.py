"""Fuzz throughput against the bare compute of the same cases, measured side by side.

    .venv/bin/python benchmarks/throughput.py [--cases 400] [--repeats 3] [--seed 0]

For the same seeded cases (``sampler.seeded_case``) it times, in one process
with torch on one thread throughout:

- bare: the reference's forward and backward (``MLP.gradients``) plus torch's
  forward and backward of the same network at the case's dtype (``loss.backward()``
  on leaf tensors, no intermediates kept), on arrays made beforehand: nothing else;
- campaign: ``crosscheck fuzz``'s engine (``campaign.fuzz_campaign``): drawing
  each case, its arrays, the reference, the torch truth, the tolerance judge,
  every tensor compared and each result written to ``results.jsonl``, and the
  shrinking of any finding;
- campaign + reports: the same, plus fuzz.csv, fuzz.md, summary.json and fuzz.html;
- hypothesis loop: ``fuzz.fuzz``, Hypothesis drawing every case (the naive loop).

The runs alternate, ``--repeats`` times; it prints cases/s of each and the
median ratio to bare (target: campaign at least 0.5).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bare_rate(cases) -> float:
    """Cases per second of the reference plus torch forward and backward, nothing else."""
    import torch

    from crosscheck.oracle import TORCH_DTYPES, torch_loss
    from reference import MLP

    prepared = [(c, *c.arrays()) for c in cases]
    start = time.perf_counter()
    for c, X, Y, params in prepared:
        net = c.network
        MLP(net.sizes, net.activations, params).gradients(X, Y, net.loss, net.reduction)
        Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
        Pt = [(torch.from_numpy(W).requires_grad_(), torch.from_numpy(b).requires_grad_()) for W, b in params]
        Xt.requires_grad_()
        torch_loss(net, Xt, Yt, Pt).backward()
    return len(prepared) / (time.perf_counter() - start)


def campaign_rate(n: int, seed: int, reports: bool) -> tuple[float, int]:
    from crosscheck.campaign import fuzz_campaign
    from crosscheck.target import reference_target

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run = fuzz_campaign(reference_target(), examples=n, seed=seed, report=tmp, diagnose=True)
        if reports:
            from crosscheck.reports import fuzz as fuzz_report
            fuzz_report.write(run, tmp, target=reference_target())
        seconds = time.perf_counter() - start
        count = len(run.results)
    return count / seconds, count


def hypothesis_rate(n: int, seed: int) -> float:
    from crosscheck.fuzz import fuzz
    from crosscheck.target import reference_target

    start = time.perf_counter()
    run = fuzz(reference_target(), examples=n, seed=seed, diagnose=True)
    return len(run.results) / (time.perf_counter() - start)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=400)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-hypothesis", action="store_true", help="skip the naive Hypothesis loop")
    args = p.parse_args(argv)

    import torch

    from crosscheck.campaign import single_thread_torch
    from crosscheck.sampler import seeded_case

    single_thread_torch()
    cases = [seeded_case(args.seed, i) for i in range(args.cases)]
    bare_rate(cases[:20])  # warm up torch and NumPy
    campaign_rate(20, args.seed + 1, False)
    rows: dict[str, list[float]] = {"bare": [], "campaign": [], "campaign + reports": [], "hypothesis loop": []}
    ratios: dict[str, list[float]] = {k: [] for k in rows if k != "bare"}
    for r in range(args.repeats):
        bare = bare_rate(cases)
        rows["bare"].append(bare)
        camp, count = campaign_rate(args.cases, args.seed, False)
        rows["campaign"].append(camp)
        ratios["campaign"].append(camp / bare)
        full, _ = campaign_rate(args.cases, args.seed, True)
        rows["campaign + reports"].append(full)
        ratios["campaign + reports"].append(full / bare)
        if not args.no_hypothesis:
            hyp = hypothesis_rate(args.cases, args.seed)
            rows["hypothesis loop"].append(hyp)
            ratios["hypothesis loop"].append(hyp / bare)
        print(f"repeat {r + 1}: bare {bare:.0f}/s, campaign {camp:.0f}/s ({camp / bare:.2f}x bare, "
              f"{count} results), with reports {full:.0f}/s"
              + (f", hypothesis loop {rows['hypothesis loop'][-1]:.0f}/s" if not args.no_hypothesis else ""),
              flush=True)
    print(f"\n{args.cases} seeded cases, torch threads {torch.get_num_threads()}, medians of {args.repeats}:")
    print(f"{'':22s}{'cases/s':>10s}{'x bare':>10s}")
    for name, values in rows.items():
        if not values:
            continue
        ratio = statistics.median(ratios[name]) if name in ratios else 1.0
        print(f"{name:22s}{statistics.median(values):10.0f}{ratio:10.2f}")
    ok = statistics.median(ratios["campaign"]) >= 0.5
    print(f"\ncampaign / bare = {statistics.median(ratios['campaign']):.2f} (target >= 0.5: {'met' if ok else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
