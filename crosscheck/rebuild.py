"""``crosscheck report DIR``: rebuild every report of a run from its results stream alone.

The stream (``DIR/results.jsonl``, see ``stream``) says which command wrote it;
``REBUILDERS`` maps that command to a function ``(contents, directory) ->
{name: path}`` that writes its reports again. A run killed halfway has no
findings records yet: its failures are then reported as first seen, unshrunk,
and the report says so.

Other commands that stream their results register a rebuilder here with
``@rebuilder("audit")``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .cli import EXIT_FINDINGS, EXIT_OK, UsageError, command

REBUILDERS: dict[str, Callable] = {}


def rebuilder(name: str):
    def register(fn):
        REBUILDERS[name] = fn
        return fn
    return register


def fuzz_run_from_stream(contents):
    """A ``fuzz.FuzzRun`` from a stream: results in case order (read lazily), findings, time, and why it stopped."""
    from .campaign import failure_key, finding_from_record
    from .fuzz import Finding, FuzzRun

    header = contents.header
    results = contents.results()
    ends = list(contents.records("end"))
    end = ends[-1] if ends else None
    findings = [finding_from_record(r) for r in contents.records("finding")]
    stopped = end.get("stopped") if end else None
    if end is None or not end.get("complete", False):
        # stopped before shrinking: each distinct failure as first seen
        from .target import Target

        target = Target(header.get("target", "?"), lambda *a, **k: None, _family(header.get("family")))
        first: dict[tuple, Finding] = {}
        for position, r in enumerate(results, start=1):
            if not r.agree:
                key = failure_key(target, r)
                if key not in first:
                    first[key] = Finding(r.kind, r.finding_tensors(), r, position)
        from .diagnosis import diagnose_finding
        for f in first.values():
            f.diagnosis, f.message = diagnose_finding(target, f)
        findings = sorted(first.values(), key=Finding.order)
        done = sum(1 for _ in contents.records("result"))
        stopped = (f"the run stopped after {done} of {header.get('examples', '?')} cases "
                   f"({stopped or 'killed'}); findings are as first seen, not shrunk; rerun with --resume to finish")
    return FuzzRun(header.get("target", "?"), results=results, findings=findings,
                   seconds=float(end.get("seconds", 0.0)) if end else 0.0, stopped=stopped)


def _family(d):
    from .target import Family

    if not d:
        return Family()
    return Family(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})


@rebuilder("fuzz")
def rebuild_fuzz(contents, directory) -> dict:
    from .reports import fuzz as fuzz_report
    from .target import reference_target

    run = fuzz_run_from_stream(contents)
    target = reference_target() if run.target == "reference" else None
    paths = fuzz_report.write(run, directory, target=target)
    return {"paths": paths, "findings": len(run.findings), "cases": len(run.results), "stopped": run.stopped}


def _report_args(p):
    p.add_argument("directory", metavar="DIR", help="a report folder holding results.jsonl")


@command("report", "rebuild every report in DIR from its results stream (results.jsonl)", _report_args)
def cmd_report(args) -> int:
    from .stream import StreamError, read

    directory = Path(args.directory)
    try:
        contents = read(directory)
    except StreamError as e:
        raise UsageError(str(e)) from None
    name = contents.header.get("command")
    if name not in REBUILDERS:
        raise UsageError(f"{directory}: results of `crosscheck {name}` cannot be rebuilt yet "
                         f"(known: {', '.join(sorted(REBUILDERS))})")
    out = REBUILDERS[name](contents, directory)
    files = ", ".join(str(p) for p in out["paths"].values())
    print(f"crosscheck report: {out['cases']} results, {out['findings']} "
          f"finding{'s' if out['findings'] != 1 else ''}; rebuilt {files}")
    if out.get("stopped"):
        print(f"  note: {out['stopped']}")
    return EXIT_FINDINGS if out["findings"] else EXIT_OK
