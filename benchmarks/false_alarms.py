"""False alarms: disagreements reported on random cases of correct code. The target is 0.

    .venv/bin/python benchmarks/false_alarms.py [--cases 100000] [--workers 2] [--seed 0]
                                                [--dtypes float32,float64] [--targets reference,column]

For each dtype, ``--cases`` cases are drawn by Hypothesis from
``crosscheck.drawing.strategies.cases()`` (every data regime: kinks, saturation, clamps,
tiny and large magnitudes, widths and batches of 1) and checked with
``check_case`` for each correct target:

- ``reference``: the reference NumPy implementation (every tensor, intermediates too);
- ``column``: ``benchmarks/column_layout.py``, correct code written another way
  (column layout, naive sigmoid, ReLU'(0) = 1, fused sigmoid + BCE derivative),
  computing at the case's dtype: a float32 audit-style target on float32 cases.

Printed per dtype and target: cases, disagreements (false alarms), cases whose
verdict needed each lazy piece of the rule (rounding bound, conventions, the
noise pass, the arbiter), tensors accepted with a convention note, and cases per
second; then the first few false alarms in full. Work is split over
``--workers`` processes (torch limited to one thread each), each drawing its own
Hypothesis seeds in chunks. A figure-printing script run by hand, not a test.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from multiprocessing import get_context
from pathlib import Path

CHUNK = 2000
PIECES = ("rounding", "conventions", "noise", "arbiter")


def _targets(names, dtype):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from column_layout import column_target

    from crosscheck.model.target import reference_target
    made = {"reference": reference_target, "column": lambda: column_target(dtype)}
    return [(n, made[n]()) for n in names]


def _chunk(args):
    dtype, n, seed, names = args
    import torch
    torch.set_num_threads(1)
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    from crosscheck.judge.check import check_case
    from crosscheck.drawing.strategies import cases

    targets = _targets(names, dtype)
    counts = {name: Counter() for name, _ in targets}
    alarms: list[tuple[str, str, str]] = []
    seconds = {name: 0.0 for name, _ in targets}

    @hseed(seed)
    @settings(max_examples=n, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(cases(dtypes=(dtype,)))
    def draw(case):
        for name, target in targets:
            start = time.perf_counter()
            r = check_case(target, case)
            seconds[name] += time.perf_counter() - start
            c = counts[name]
            c["cases"] += 1
            c["alarms"] += not r.agree
            for piece in r.measured:
                c[piece] += 1
            c["noted"] += sum(1 for t in r.comparisons if t.conventions or t.note.startswith("not a finding"))
            if not r.agree and len(alarms) < 5:
                alarms.append((name, repr(case.to_dict()), r.message()))

    draw()
    return dtype, counts, seconds, alarms


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=100_000, help="cases per dtype (default 100000)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--targets", default="reference,column")
    a = p.parse_args(argv)
    dtypes, names = a.dtypes.split(","), a.targets.split(",")
    bad = [n for n in names if n not in ("reference", "column")]
    if bad or a.cases < 1 or a.workers < 1:
        print(f"false_alarms: --targets takes reference,column and --cases/--workers positive ints", file=sys.stderr)
        return 2
    jobs = []
    for d in dtypes:
        left, i = a.cases, 0
        while left > 0:
            n = min(CHUNK, left)
            jobs.append((d, n, a.seed * 1_000_003 + i * 7919 + (d == "float32"), names))
            left, i = left - n, i + 1
    totals = {(d, n): Counter() for d in dtypes for n in names}
    busy = {(d, n): 0.0 for d in dtypes for n in names}
    alarms: list = []
    start = time.perf_counter()
    done = 0
    with get_context("spawn").Pool(a.workers) as pool:
        for dtype, counts, seconds, found in pool.imap_unordered(_chunk, jobs):
            for name in counts:
                totals[dtype, name].update(counts[name])
                busy[dtype, name] += seconds[name]
            alarms += found
            done += 1
            if done % 10 == 0 or done == len(jobs):
                got = sum(c["cases"] for (d, n), c in totals.items() if n == names[0])
                print(f"  {got} cases, {sum(c['alarms'] for c in totals.values())} false alarms, "
                      f"{time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    wall = time.perf_counter() - start
    print(f"{'dtype':<8} {'target':<10} {'cases':>7} {'alarms':>6} " + " ".join(f"{p:>11}" for p in PIECES)
          + f" {'noted':>6} {'ms/check':>8}")
    for (d, n), c in totals.items():
        print(f"{d:<8} {n:<10} {c['cases']:>7} {c['alarms']:>6} " + " ".join(f"{c[p]:>11}" for p in PIECES)
              + f" {c['noted']:>6} {1000 * busy[d, n] / max(c['cases'], 1):8.2f}")
    cases_total = sum(c["cases"] for (d, n), c in totals.items() if n == names[0])
    alarms_total = sum(c["alarms"] for c in totals.values())
    print(f"{cases_total} cases ({', '.join(dtypes)}), {len(names)} target(s) each: {alarms_total} false alarms; "
          f"{wall:.0f} s wall on {a.workers} worker(s), {cases_total / wall:.1f} cases/s "
          f"({cases_total * len(names) / wall:.1f} checks/s)")
    for name, case, message in alarms[:5]:
        print(f"\n{name}: {case}\n  " + message.replace("\n", "\n  "))
    return 0 if alarms_total == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
