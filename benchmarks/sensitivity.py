"""Sensitivity: is every mutant of the corpus still caught under the tolerance rule?

    .venv/bin/python benchmarks/sensitivity.py [--examples 100] [--seed 0] [--workers 2] [--select NAME]

For each mutant (``crosscheck.diagnosis.corpus``): the fraction of ``--examples``
random cases of its family that disagree under the rule (how often one case shows
the bug, no shrinking), then a fuzz run of ``--examples`` cases: caught (a
finding), the examples needed for the first finding, the smallest minimal example
(sizes, batch) and the arbiter's verdicts on the minimal examples. Last line: the
caught rate. A figure-printing script, run by hand (not a test).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from multiprocessing import get_context


def _rate(target, examples: int, seed: int) -> tuple[int, int]:
    """(disagreeing, drawn) over ``examples`` random cases of the target's family, no shrinking."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    from crosscheck.judge.check import check_case
    from crosscheck.drawing.strategies import for_target

    counts = [0, 0]

    @hseed(seed)
    @settings(max_examples=examples, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(for_target(target))
    def draw(case):
        counts[1] += 1
        counts[0] += not check_case(target, case).agree

    draw()
    return counts[0], counts[1]


def _one(args):
    name, examples, seed = args
    import torch
    torch.set_num_threads(1)
    from crosscheck.engine.fuzz import fuzz
    from crosscheck.diagnosis.corpus import corpus

    (mutant,) = [m for m in corpus() if m.name == name]
    target = mutant.target()
    start = time.perf_counter()
    seen, drawn = _rate(target, examples, seed)
    run = fuzz(target, examples=examples, seed=seed, diagnose=False)
    first = min((f.first_seen for f in run.findings), default=None)
    verdicts = sorted({c.arbiter for f in run.findings for c in f.result.failing if c.arbiter})
    smallest = min((f.case for f in run.findings), key=lambda c: (sum(c.network.sizes), c.batch), default=None)
    return dict(name=name, caught=bool(run.findings), first=first, seconds=time.perf_counter() - start,
                seen=seen, generated=drawn, verdicts=verdicts,
                minimal=f"{'-'.join(map(str, smallest.network.sizes))} b{smallest.batch}" if smallest else "-")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--select", default=None, help="only mutants whose name contains this")
    a = p.parse_args(argv)
    try:
        from crosscheck.diagnosis.corpus import corpus
    except ImportError as e:
        print(f"sensitivity: the mutant corpus (crosscheck/mutants) is not available: {e}", file=sys.stderr)
        return 2
    names = [m.name for m in corpus(a.select)]
    if not names:
        print(f"sensitivity: no mutant matches {a.select!r}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    jobs = [(n, a.examples, a.seed) for n in names]
    width = max(len(n) for n in names)
    print(f"{'mutant':<{width}}  caught  first  seen/drawn  minimal     seconds  verdicts", flush=True)
    rows = []

    def show(r):
        rows.append(r)
        frac = f"{r['seen']}/{r['generated']}"
        print(f"{r['name']:<{width}}  {'yes' if r['caught'] else 'NO':<6}  {r['first'] or '-':>5}  {frac:>10}  "
              f"{r['minimal']:<10}  {r['seconds']:7.1f}  {','.join(r['verdicts']) or '-'}", flush=True)

    if a.workers > 1:
        with get_context("spawn").Pool(a.workers) as pool:
            for r in pool.imap_unordered(_one, jobs):
                show(r)
    else:
        for j in jobs:
            show(_one(j))
    caught = sum(r["caught"] for r in rows)
    seen, drawn = sum(r["seen"] for r in rows), sum(r["generated"] for r in rows)
    print(f"caught {caught} / {len(rows)} mutants ({100 * caught / len(rows):.1f}%), {a.examples} examples each; "
          f"random cases disagreeing: {seen} / {drawn} ({100 * seen / max(drawn, 1):.1f}%); "
          f"{time.perf_counter() - start:.0f} s")
    return 0 if caught == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
