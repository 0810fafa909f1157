"""Fuzz throughput against the bare compute of the same cases, measured side by side.

    .venv/bin/python benchmarks/throughput.py [--cases 1000] [--repeats 3] [--seed 0] [--no-hypothesis]

For the same seeded cases (``sampler.seeded_case``) it times, in one process
with torch on one thread throughout:

- bare: the reference's forward and backward (``MLP.gradients``) plus torch's
  forward and backward of the same network at the case's dtype (``loss.backward()``
  on leaf tensors, no intermediates kept), on arrays made beforehand: nothing else;
- campaign: ``crosscheck fuzz``'s engine (``campaign.fuzz_campaign``): drawing
  each case, its arrays, the reference, the torch truth, the tolerance judge,
  every tensor compared and each result written to ``results.jsonl``, and the
  shrinking of any finding; no report files;
- crosscheck fuzz: the command itself, in this process (``cli.main(["fuzz", ...])``):
  the campaign above plus every report file (fuzz.csv and its tallies written
  while the cases run, then summary.json, fuzz.md and fuzz.html). Its rate is
  printed twice: with everything, and without the time spent in fuzz.html
  (``html.write_fuzz``, timed on its own in the same run). That HTML time is a
  fixed cost, not a per-case one: its figures draw a sample of at most 3,000
  cases, and matplotlib is imported once (about 0.7 s), so it weighs on a short
  run and fades in a long one;
- hypothesis loop: ``fuzz.fuzz``, Hypothesis drawing every case (the naive loop).

The runs alternate, ``--repeats`` times; it prints cases/s of each and the
median ratio to bare (target: at least 0.5), by the wall clock and by the
processor time of this process: on a machine shared with other work the wall
clock also counts the time others held the cores, which the processor time
leaves out.
"""
from __future__ import annotations

import argparse
import contextlib
import io
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


def bare_seconds(cases) -> tuple[tuple[float, float], int]:
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
    return _since(t0), len(prepared)


def campaign_seconds(n: int, seed: int) -> tuple[tuple[float, float], int]:
    """``crosscheck fuzz``'s engine on ``n`` cases, results streamed, no report files."""
    from crosscheck.campaign import fuzz_campaign
    from crosscheck.target import reference_target

    with tempfile.TemporaryDirectory() as tmp:
        t0 = _clock()
        run = fuzz_campaign(reference_target(), examples=n, seed=seed, report=tmp, diagnose=True)
        seconds = _since(t0)
        count = len(run.results)
    return seconds, count


def command_seconds(n: int, seed: int) -> tuple[tuple[float, float], tuple[float, float], int]:
    """``crosscheck fuzz --examples n`` in this process: (its seconds, the seconds of fuzz.html within them,
    cases checked)."""
    import json

    from crosscheck import cli
    from crosscheck.reports import html

    write_fuzz, spent = html.write_fuzz, [(0.0, 0.0)]

    def timed(*a, **k):
        t = _clock()
        try:
            return write_fuzz(*a, **k)
        finally:
            spent[0] = _since(t)

    html.write_fuzz = timed
    try:
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
            t0 = _clock()
            code = cli.main(["fuzz", "--examples", str(n), "--seed", str(seed), "--report", tmp, "--profile", "ci"])
            seconds = _since(t0)
            count = json.loads((Path(tmp) / "summary.json").read_text())["cases"]
    finally:
        html.write_fuzz = write_fuzz
    if code not in (0, 1):
        raise SystemExit(f"crosscheck fuzz exited {code}")
    return seconds, spent[0], count


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
    bare_seconds(cases[:50])  # warm up torch and NumPy, import matplotlib once
    command_seconds(50, args.seed + 1)
    names = ["bare", "campaign", "crosscheck fuzz", "  without fuzz.html"] + \
        ([] if args.no_hypothesis else ["hypothesis loop"])
    rates = {k: {"wall": [], "cpu": []} for k in names}
    ratios = {k: {"wall": [], "cpu": []} for k in names}
    html_seconds = []
    for r in range(args.repeats):
        (total, in_html, count) = command_seconds(args.cases, args.seed)
        runs = {"bare": bare_seconds(cases), "campaign": campaign_seconds(args.cases, args.seed),
                "crosscheck fuzz": (total, count),
                "  without fuzz.html": ((total[0] - in_html[0], total[1] - in_html[1]), count)}
        html_seconds.append(in_html)
        if not args.no_hypothesis:
            runs["hypothesis loop"] = hypothesis_seconds(args.cases, args.seed)
        for name, ((wall, cpu), n) in runs.items():
            for clock, seconds in (("wall", wall), ("cpu", cpu)):
                rates[name][clock].append(n / seconds)
                ratios[name][clock].append(rates[name][clock][-1] / rates["bare"][clock][-1])
        print(f"repeat {r + 1}: " + ", ".join(f"{k.strip()} {rates[k]['wall'][-1]:.0f}/s ({ratios[k]['wall'][-1]:.2f}x)"
                                               for k in names), flush=True)
    med = statistics.median
    print(f"\n{args.cases} seeded cases, torch threads {torch.get_num_threads()}, medians of {args.repeats}; "
          f"rates by the wall clock and by this process's processor time:")
    print(f"{'':22s}{'cases/s':>10s}{'x bare':>9s}{'cpu cases/s':>14s}{'x bare':>9s}")
    for name in names:
        print(f"{name:22s}{med(rates[name]['wall']):10.0f}{med(ratios[name]['wall']):9.2f}"
              f"{med(rates[name]['cpu']):14.0f}{med(ratios[name]['cpu']):9.2f}")
    print(f"fuzz.html took {med(s[0] for s in html_seconds):.2f} s wall, {med(s[1] for s in html_seconds):.2f} s "
          f"processor per run: a fixed cost (figures of at most 3,000 sampled cases), excluded from the "
          f"'without fuzz.html' line only")
    for name in ("campaign", "crosscheck fuzz", "  without fuzz.html"):
        wall, cpu = med(ratios[name]["wall"]), med(ratios[name]["cpu"])
        print(f"{name.strip()} / bare = {wall:.2f} wall, {cpu:.2f} processor (target >= 0.5: "
              f"{'met' if min(wall, cpu) >= 0.5 else 'met by processor time' if cpu >= 0.5 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
