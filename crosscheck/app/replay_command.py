"""``crosscheck replay REPORT [FINDING]``: the command over ``engine.replay``, and its printed form."""
from __future__ import annotations

import json
from pathlib import Path

from crosscheck.app.cli import EXIT_FINDINGS, EXIT_OK, UsageError, command
from crosscheck.engine.replay import (REPORT_FILES, Entry, Replay, ReplayError, elementwise, entries, replay,
                                      replay_command, report_files)


def format_replay(r: Replay, *, max_elements: int = 16) -> str:
    e, res = r.entry, r.result
    lines = [f"finding {e.number} of {r.report} ({e.id})",
             f"target: {r.target.name}" + (f" ({r.target.file})" if getattr(r.target, "file", None) else ""),
             f"case: {r.case.describe()}",
             f"      {json.dumps(r.case.to_dict())}"]
    if e.finding.get("diagnosis") or e.finding.get("message"):
        lines.append(f"recorded diagnosis: {', '.join(e.finding.get('diagnosis') or []) or '-'}: "
                     f"{e.finding.get('message', '')}")
    if res.crash is not None:
        lines.append(f"replayed: the target raised {res.crash['type']}: {res.crash['message']}")
    else:
        lines.append(f"replayed: {'every tensor agrees with torch' if res.agree else res.kind}"
                     f" (loss {res.loss!r})")
        for c in res.comparisons:
            lines.append(f"  {'ok ' if c.agree else 'BAD'} {c.message if not c.agree else _agree_line(c)}")
        small = [c.tensor for c in res.failing if c.size <= max_elements and c.status in ("mismatch", "nonfinite")]
        if small:
            lines += _element_lines(r, small)
    if not r.deterministic:
        lines.append("not deterministic: two calls on this case returned different values (a target must give "
                     "the same gradients for the same arrays; look for global state, an unseeded generator or "
                     "arrays changed in place)")
    if r.identical:
        lines.append("same figures as the report, bit for bit")
    else:
        lines.append("differs from the report (did the target's code change?):")
        lines += [f"  {d}" for d in r.differences]
    return "\n".join(lines)


def _agree_line(c) -> str:
    return (f"{c.tensor}: agrees; worst absolute difference {c.max_abs_err:.3g} (allowed {c.allowed_abs_err:.3g}), "
            f"relative {c.max_rel_err:.3g}" + (f"; {c.note}" if c.note else ""))


def _element_lines(r: Replay, tensors: list[str]) -> list[str]:
    import numpy as np

    try:
        views = elementwise(r.target, r.case, tensors)
    except Exception as exc:  # the target failed on this second run
        return [f"  (element view unavailable: {type(exc).__name__}: {exc})"]
    lines = ["elements of the failing tensors (candidate, torch, |difference|, allowed):"]
    for name, v in views.items():
        if v.candidate is None:
            continue
        over = v.over
        for idx in np.ndindex(v.truth.shape):
            mark = "  <- over budget" if over[idx] else ""
            lines.append(f"  {name}{list(idx)}: {float(v.candidate[idx])!r:>24} {float(v.truth[idx])!r:>24} "
                         f"{v.difference[idx]:10.3g} {v.allowed[idx]:10.3g}{mark}")
    return lines


def _list_lines(path: Path, found: list[Entry]) -> str:
    if not found:
        return f"{path}: no findings; every gradient agreed"
    lines = [f"{path}: {len(found)} finding{'s' if len(found) != 1 else ''}; replay one with "
             f"`{replay_command(path, 'N')}`:"]
    for e in found:
        example = e.finding.get("example")
        lines.append(f"  {e.number}. {e.id}" + (f"  {json.dumps(example)}" if example else ""))
    return "\n".join(lines)


def _add_arguments(p) -> None:
    p.add_argument("report", metavar="REPORT",
                   help=f"a report file ({', '.join(REPORT_FILES)}) or the folder holding it")
    p.add_argument("finding", metavar="FINDING", nargs="?",
                   help="the finding's number in the report (1, 2, ...) or its id TARGET:KIND:TENSORS; "
                        "without it the findings are listed")


def cmd_replay(args) -> int:
    try:
        if args.finding is None:  # every report of a folder: fuzz, audit and pytest may share one
            print("\n".join(_list_lines(*entries(path)) for path in report_files(args.report)))
            return EXIT_OK
        r = replay(args.report, args.finding)
    except ReplayError as e:
        raise UsageError(str(e)) from None
    print(format_replay(r))
    return EXIT_OK if r.agree else EXIT_FINDINGS


command("replay", "rerun a finding of a report on its exact minimal example and print the comparison",
        _add_arguments)(cmd_replay)
