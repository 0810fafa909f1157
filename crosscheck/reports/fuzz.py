"""``fuzz.csv``, ``fuzz.md`` and ``summary.json`` for a fuzz run."""
from __future__ import annotations

import math
from pathlib import Path

from ..fuzz import Finding, FuzzRun
from .tables import comparisons_frame, markdown, pivot, write_json


def finding_dict(f: Finding) -> dict:
    from ..replay import finding_id

    r = f.result
    d = {"kind": f.kind, "tensors": f.tensors, "diagnosis": f.diagnosis, "message": f.message,
         "first_seen": f.first_seen, "example": r.case.to_dict(), "crash": r.crash,
         "comparisons": [c.to_dict() for c in r.failing]}
    for extra in ("localization", "matches"):  # attached by crosscheck.diagnosis
        if getattr(f, extra, None) is not None:
            d[extra] = getattr(f, extra)
    return {"id": finding_id(r.target, d), **d}


def summary(run: FuzzRun, frame) -> dict:
    rel = frame["max_rel_err"].replace([math.inf], math.nan).dropna()
    by_dtype = {dt: float(g["max_rel_err"].max()) for dt, g in frame.groupby("dtype")} if len(frame) else {}
    return {"target": run.target, "cases": len(run.results), "tensors_compared": int(len(frame)),
            "disagreements": int((~frame["agree"].astype(bool)).sum()) if len(frame) else 0,
            "findings": len(run.findings), "max_rel_err": float(rel.max()) if len(rel) else 0.0,
            "max_rel_err_by_dtype": by_dtype, "seconds": round(run.seconds, 3),
            "cases_per_second": round(len(run.results) / run.seconds, 1) if run.seconds else None,
            "stopped": run.stopped, "finding_details": [finding_dict(f) for f in run.findings]}


def write(run: FuzzRun, directory: str | Path, target=None) -> dict[str, Path]:
    """The report files; ``target`` (the Target object) lets fuzz.html draw each finding's heatmap."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    frame = comparisons_frame(run.results)
    paths = {"csv": out / "fuzz.csv", "md": out / "fuzz.md", "json": out / "summary.json"}
    frame.to_csv(paths["csv"], index=False)
    data = summary(run, frame)
    write_json(paths["json"], data)
    lines = [f"# crosscheck fuzz: {run.target}", "",
             f"{data['cases']} cases, {data['tensors_compared']} tensors compared, "
             f"{data['disagreements']} disagreeing tensors, {len(run.findings)} distinct findings; "
             f"worst relative error {data['max_rel_err']:.3g}.", "",
             "## Activations x loss", "", markdown(pivot(frame))]
    lines += ["## Findings", ""]
    if not run.findings:
        lines.append("Every gradient agrees with torch.\n")
    for i, f in enumerate(run.findings, 1):
        lines += [f"### {i}. {f.kind}: {', '.join(f.tensors) or f.result.crash['type']}", "",
                  f"- diagnosis: {', '.join(f.diagnosis) or '-'}", f"- {f.message}",
                  f"- minimal example: `{f.case.describe()}` (first seen at case {f.first_seen})",
                  f"- replay: `crosscheck replay {paths['json']} {i}` (case `{f.case.to_dict()}`)", ""]
        if f.result.failing:
            lines += ["```", f.result.message(), "```", ""]
    paths["md"].write_text("\n".join(lines))
    from . import html

    paths["html"] = html.write_fuzz(run, out / "fuzz.html", target, report=paths["json"])
    return paths
