"""``fuzz.csv``, ``fuzz.md``, ``summary.json`` and ``fuzz.html`` for a fuzz run.

The results are read once, one case at a time (a campaign's come back from its
results stream): each case's rows go straight to fuzz.csv and into a
``tables.Tally``, so memory stays flat however long the run.
"""
from __future__ import annotations

import csv
from pathlib import Path

from ..fuzz import Finding, FuzzRun
from .tables import COLUMNS, Tally, comparison_rows, csv_cells, markdown, write_json


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


def summary(run: FuzzRun, tally: Tally) -> dict:
    return {"target": run.target, "cases": tally.cases, "tensors_compared": tally.tensors,
            "disagreements": tally.disagreements, "findings": len(run.findings),
            "max_rel_err": tally.max_rel if tally.max_rel is not None else 0.0,
            "max_rel_err_by_dtype": {dt: (float("nan") if v is None else v)
                                     for dt, v in sorted(tally.max_rel_by_dtype.items())},
            "seconds": round(run.seconds, 3),
            "cases_per_second": round(tally.cases / run.seconds, 1) if run.seconds else None,
            "stopped": run.stopped, "finding_details": [finding_dict(f) for f in run.findings]}


def write(run: FuzzRun, directory: str | Path, target=None) -> dict[str, Path]:
    """The report files; ``target`` (the Target object) lets fuzz.html draw each finding's heatmap."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "fuzz.csv", "md": out / "fuzz.md", "json": out / "summary.json"}
    tally = Tally()
    with open(paths["csv"], "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        for i, result in enumerate(run.results):
            rows = comparison_rows([result], start=i)
            writer.writerows(csv_cells(row) for row in rows)
            tally.add(rows)
    data = summary(run, tally)
    write_json(paths["json"], data)
    lines = [f"# crosscheck fuzz: {run.target}", "",
             f"{data['cases']} cases, {data['tensors_compared']} tensors compared, "
             f"{data['disagreements']} disagreeing tensors, {len(run.findings)} distinct findings; "
             f"worst relative error {data['max_rel_err']:.3g}.", "",
             "## Activations x loss", "", markdown(tally.pivot())]
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

    paths["html"] = html.write_fuzz(run, out / "fuzz.html", target, report=paths["json"], frame=tally.frame(),
                                    totals=tally.totals(), sample=tally.sample_note())
    return paths
