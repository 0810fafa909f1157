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

from crosscheck.engine.rebuild import fuzz_run_from_stream
from crosscheck.app.cli import EXIT_FINDINGS, EXIT_OK, UsageError, command, console

REBUILDERS: dict[str, Callable] = {}


def rebuilder(name: str):
    def register(fn):
        REBUILDERS[name] = fn
        return fn
    return register


@rebuilder("fuzz")
def rebuild_fuzz(contents, directory) -> dict:
    from crosscheck.reports import fuzz as fuzz_report
    from crosscheck.model.target import reference_target

    run = fuzz_run_from_stream(contents)
    target = reference_target() if run.target == "reference" else None
    paths = fuzz_report.write(run, directory, target=target)
    return {"paths": paths, "findings": len(run.findings), "cases": len(run.results), "stopped": run.stopped}


def _report_args(p):
    p.add_argument("directory", metavar="DIR", help="a report folder holding results.jsonl")


@command("report", "rebuild every report in DIR from its results stream (results.jsonl)", _report_args)
def cmd_report(args) -> int:
    from crosscheck.engine.stream import StreamError, read

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
    console(args).final(f"crosscheck report: {out['cases']} results, {out['findings']} "
                        f"finding{'s' if out['findings'] != 1 else ''}; rebuilt {files}")
    if out.get("stopped"):
        print(f"  note: {out['stopped']}")
    return EXIT_FINDINGS if out["findings"] else EXIT_OK
