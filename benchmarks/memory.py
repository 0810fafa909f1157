"""Peak resident memory of ``crosscheck fuzz`` with reports, at 1,000 and at 100,000 cases.

    .venv/bin/python benchmarks/memory.py [--sizes 1000 100000] [--seed 0]

Each size runs in a fresh process: ``crosscheck fuzz --examples N --report DIR
--database none`` (the campaign, its results stream and fuzz.csv written as
cases complete, shrinking, then fuzz.md, summary.json and fuzz.html). The child samples
its own resident size every 0.2 s and reports the size once everything is
imported, the peak while checking cases, and the peak over the whole command
(``ru_maxrss``). Memory is flat when the peak does not grow with the number of
cases. 100,000 cases take a few minutes on two cores.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, threading, time
sys.path.insert(0, {root!r})

def rss_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")

import crosscheck.campaign, crosscheck.judge.check, crosscheck.reports.fuzz, crosscheck.reports.html, torch, pandas
import matplotlib.figure
from crosscheck.app import cli
from crosscheck.reports import fuzz as fuzz_report

state = {{"phase": "campaign", "peak": {{"campaign": 0.0, "reports": 0.0}}, "samples": []}}
start = time.perf_counter()

def sample():
    while True:
        r = rss_mb()
        state["peak"][state["phase"]] = max(state["peak"][state["phase"]], r)
        state["samples"].append((round(time.perf_counter() - start, 1), state["phase"], round(r, 1)))
        time.sleep(0.2)

finish = fuzz_report.FuzzReport.finish
def timed_finish(*a, **k):
    state["phase"] = "reports"
    return finish(*a, **k)
fuzz_report.FuzzReport.finish = timed_finish

after_imports = rss_mb()
threading.Thread(target=sample, daemon=True).start()
code = cli.main(["fuzz", "--examples", "{n}", "--seed", "{seed}", "--report", {report!r}, "--database", "none"])
print(json.dumps({{"code": code, "after_imports": after_imports, "peak_campaign": state["peak"]["campaign"],
                  "peak_reports": state["peak"]["reports"],
                  "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": time.perf_counter() - start, "samples": state["samples"][::max(1, len(state["samples"]) // 12)]}}))
"""


def measure(n: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as report:
        code = CHILD.format(root=str(ROOT), n=n, seed=seed, report=report)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode not in (0, 1):
            raise SystemExit(f"the {n}-case run failed:\n{out.stderr[-2000:]}")
        data = json.loads(out.stdout.strip().splitlines()[-1])
        data["stream_mb"] = (Path(report) / "results.jsonl").stat().st_size / 2**20
        data["csv_mb"] = (Path(report) / "fuzz.csv").stat().st_size / 2**20
    return data


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 100000])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rows = []
    for n in args.sizes:
        t = time.perf_counter()
        d = measure(n, args.seed)
        rows.append((n, d))
        print(f"{n} cases: exit {d['code']}, {time.perf_counter() - t:.0f} s; RSS after imports "
              f"{d['after_imports']:.0f} MB, peak while checking (and writing fuzz.csv) {d['peak_campaign']:.0f} MB, "
              f"peak while writing the other reports {d['peak_reports']:.0f} MB, peak overall (ru_maxrss) {d['ru_maxrss']:.0f} MB; "
              f"results.jsonl {d['stream_mb']:.1f} MB, fuzz.csv {d['csv_mb']:.1f} MB", flush=True)
        print("  samples (s, phase, MB): " + ", ".join(f"{s}/{ph[0]}/{mb}" for s, ph, mb in d["samples"]))
    if len(rows) > 1:
        (n0, d0), (n1, d1) = rows[0], rows[-1]
        print(f"\npeak RSS {d0['ru_maxrss']:.0f} MB at {n0} cases, {d1['ru_maxrss']:.0f} MB at {n1} cases: "
              f"{d1['ru_maxrss'] / d0['ru_maxrss']:.2f}x for {n1 / n0:.0f}x the cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
