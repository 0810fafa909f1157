"""Sensitivity: is every mutant of the corpus still caught under the tolerance rule?

    .venv/bin/python benchmarks/sensitivity.py [--examples 100] [--seed 0] [--workers 2] [--select NAME]

For each mutant (``crosscheck.mutants.corpus``) the fuzzer runs ``--examples``
cases of the mutant's family. Printed per mutant: caught (the fuzzer reports a
finding), the fraction of drawn cases that disagreed (how often the rule sees the
bug on a random case, shrinking excluded), the examples needed for the first
finding, and the arbiter's verdicts on the minimal example. Last line: the
caught rate. A figure-printing script, run by hand (not a test).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from multiprocessing import get_context


def _one(args):
    name, examples, seed = args
    import torch
    torch.set_num_threads(1)
    from crosscheck.fuzz import fuzz
    from crosscheck.mutants.corpus import corpus

    (mutant,) = [m for m in corpus() if m.name == name]
    drawn: list = []
    start = time.perf_counter()
    run = fuzz(mutant.target(), examples=examples, seed=seed, diagnose=False, on_result=drawn.append)
    seconds = time.perf_counter() - start
    first = min((f.first_seen for f in run.findings), default=None)
    # the generate phase alone: results before the first finding's shrinking began
    generated = drawn[:first] if first else drawn
    seen = sum(1 for r in generated if not r.agree)
    verdicts = sorted({c.arbiter for f in run.findings for c in f.result.failing if c.arbiter})
    return dict(name=name, caught=bool(run.findings), first=first, cases=len(drawn), seconds=seconds,
                seen=seen, generated=len(generated), verdicts=verdicts,
                kinds=sorted({f.kind for f in run.findings}))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--select", default=None, help="only mutants whose name contains this")
    a = p.parse_args(argv)
    try:
        from crosscheck.mutants.corpus import corpus
    except ImportError as e:
        print(f"sensitivity: the mutant corpus (crosscheck/mutants) is not available: {e}", file=sys.stderr)
        return 2
    names = [m.name for m in corpus(a.select)]
    if not names:
        print(f"sensitivity: no mutant matches {a.select!r}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    jobs = [(n, a.examples, a.seed) for n in names]
    if a.workers > 1:
        with get_context("spawn").Pool(a.workers) as pool:
            rows = pool.map(_one, jobs, chunksize=1)
    else:
        rows = [_one(j) for j in jobs]
    width = max(len(n) for n in names)
    print(f"{'mutant':<{width}}  caught  first  seen/drawn  verdicts")
    for r in rows:
        frac = f"{r['seen']}/{r['generated']}"
        print(f"{r['name']:<{width}}  {'yes' if r['caught'] else 'NO':<6}  {r['first'] or '-':>5}  {frac:>10}  "
              f"{','.join(r['verdicts']) or '-'}")
    caught = sum(r["caught"] for r in rows)
    print(f"caught {caught} / {len(rows)} mutants ({100 * caught / len(rows):.1f}%), "
          f"{a.examples} examples each, {time.perf_counter() - start:.0f} s")
    return 0 if caught == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
