"""A fuzz run read back from its results stream (``DIR/results.jsonl``, see ``stream``): what
``crosscheck report DIR`` rebuilds every report from. A run killed halfway has no findings records
yet: its failures are then reported as first seen, unshrunk, and the report says so.
"""
from __future__ import annotations


def fuzz_run_from_stream(contents):
    """A ``fuzz.FuzzRun`` from a stream: results in case order (read lazily), findings, time, and why it stopped."""
    from crosscheck.engine.fuzz import Finding, FuzzRun, failure_key

    header = contents.header
    results = contents.results()
    ends = list(contents.records("end"))
    end = ends[-1] if ends else None
    findings = contents.findings()
    stopped = end.get("stopped") if end else None
    if end is None or not end.get("complete", False):
        # stopped before shrinking: each distinct failure as first seen
        from crosscheck.model.target import Target

        target = Target(header.get("target", "?"), lambda *a, **k: None, _family(header.get("family")))
        first: dict[tuple, Finding] = {}
        for position, r in enumerate(results, start=1):
            if not r.agree:
                key = failure_key(target, r)
                if key not in first:
                    first[key] = Finding(r.kind, r.finding_tensors(), r, position, shrunk=False)
        from crosscheck.diagnosis import diagnose_finding
        for f in first.values():
            f.diagnosis, f.message = diagnose_finding(target, f)
        findings = sorted(first.values(), key=Finding.order)
        done = contents.count("result")
        stopped = (f"the run stopped after {done} of {header.get('examples', '?')} cases "
                   f"({stopped or 'killed'}); findings are as first seen, not shrunk; rerun with --resume to finish")
    stopped = "; ".join(filter(None, [stopped, contents.skipped_note()])) or None
    return FuzzRun(header.get("target", "?"), results=results, findings=findings,
                   seconds=float(end.get("seconds", 0.0)) if end else 0.0, stopped=stopped,
                   skipped_lines=contents.skipped, seed=header.get("seed"))


def _family(d):
    from crosscheck.model.target import Family

    if not d:
        return Family()
    return Family(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})
