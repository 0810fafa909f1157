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
median ratio to bare (target: campaign at least 0.5), by the wall clock and by
the processor time of this process: on a machine shared with other work the
wall clock also counts the time others held the cores, which the processor
time leaves out. The campaign (reports included) runs in chunks
(``fastpath.check_chunk``); ``--cases`` below a few hundred weighs its fixed
costs (the HTML report's figures, about a second) more than a long run does.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _clock():
    return time.perf_counter(), time.process_time()


def _since(t0) -> tuple[float, float]:
    return time.perf_counter() - t0[0], time.process_time() - t0[1]


def bare_rate(cases) -> tuple[float, float]:
    """Seconds (wall, processor) of the reference plus torch forward and backward, nothing else."""
    import torch

    from crosscheck.oracle import torch_loss
    from reference import MLP

    prepared = [(c, *c.arrays()) for c in cases]
    t0 = _clock()
    for c, X, Y, params in prepared:
        net = c.network
        MLP(net.sizes, net.activations, params).gradients(X, Y, net.loss, net.reduction)
        Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
        Pt = [(torch.from_numpy(W).requires_grad_(), torch.from_numpy(b).requires_grad_()) for W, b in params]
        Xt.requires_grad_()
        torch_loss(net, Xt, Yt, Pt).backward()
    return _since(t0)


def campaign_seconds(n: int, seed: int, reports: bool) -> tuple[tuple[float, float], int]:
    """``crosscheck fuzz``'s engine on ``n`` cases, results streamed; with ``reports``, every report file."""
    from crosscheck.campaign import fuzz_campaign
    from crosscheck.target import reference_target

    with tempfile.TemporaryDirectory() as tmp:
        t0 = _clock()
        run = fuzz_campaign(reference_target(), examples=n, seed=seed, report=tmp, diagnose=True)
        if reports:
            from crosscheck.reports import fuzz as fuzz_report
            fuzz_report.write(run, tmp, target=reference_target())
        seconds = _since(t0)
        count = len(run.results)
    return seconds, count


def hypothesis_seconds(n: int, seed: int) -> tuple[tuple[float, float], int]:
    from crosscheck.fuzz import fuzz
    from crosscheck.target import reference_target

    t0 = _clock()
    run = fuzz(reference_target(), examples=n, seed=seed, diagnose=True)
    return _since(t0), len(run.results)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-hypothesis", action="store_true", help="skip the naive Hypothesis loop")
    args = p.parse_args(argv)

    import torch

    from crosscheck.campaign import single_thread_torch
    from crosscheck.sampler import seeded_case

    single_thread_torch()
    cases = [seeded_case(args.seed, i) for i in range(args.cases)]
    bare_rate(cases[:50])  # warm up torch and NumPy
    campaign_seconds(50, args.seed + 1, True)
    names = ["bare", "campaign", "campaign + reports"] + ([] if args.no_hypothesis else ["hypothesis loop"])
    rates = {k: {"wall": [], "cpu": []} for k in names}
    ratios = {k: {"wall": [], "cpu": []} for k in names}
    for r in range(args.repeats):
        runs = {"bare": (bare_rate(cases), len(cases)),
                "campaign": campaign_seconds(args.cases, args.seed, False),
                "campaign + reports": campaign_seconds(args.cases, args.seed, True)}
        if not args.no_hypothesis:
            runs["hypothesis loop"] = hypothesis_seconds(args.cases, args.seed)
        for name, ((wall, cpu), count) in runs.items():
            for clock, seconds in (("wall", wall), ("cpu", cpu)):
                rates[name][clock].append(count / seconds)
                ratios[name][clock].append(rates[name][clock][-1] / rates["bare"][clock][-1])
        print(f"repeat {r + 1}: " + ", ".join(f"{k} {rates[k]['wall'][-1]:.0f}/s ({ratios[k]['wall'][-1]:.2f}x)"
                                               for k in names), flush=True)
    med = statistics.median
    print(f"\n{args.cases} seeded cases, torch threads {torch.get_num_threads()}, medians of {args.repeats}; "
          f"rates by the wall clock and by this process's processor time:")
    print(f"{'':22s}{'cases/s':>10s}{'x bare':>9s}{'cpu cases/s':>14s}{'x bare':>9s}")
    for name in names:
        print(f"{name:22s}{med(rates[name]['wall']):10.0f}{med(ratios[name]['wall']):9.2f}"
              f"{med(rates[name]['cpu']):14.0f}{med(ratios[name]['cpu']):9.2f}")
    for name in ("campaign", "campaign + reports"):
        wall, cpu = med(ratios[name]["wall"]), med(ratios[name]["cpu"])
        print(f"{name} / bare = {wall:.2f} wall, {cpu:.2f} processor (target >= 0.5: "
              f"{'met' if min(wall, cpu) >= 0.5 else 'met by processor time' if cpu >= 0.5 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
