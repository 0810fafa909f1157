"""The report of a pytest session (``pytest --crosscheck-report DIR``).

Every ``assert_matches_torch`` call of the session is one target entry, in
the order the tests ran. The files follow the CLI's reports:

- ``pytest.csv``: one row per case and tensor, the columns of ``fuzz.csv``
  plus the test that made the check;
- ``pytest.json``: ``{"session": {...}, "targets": [...]}``, each target in
  the shape of ``audit.json`` (name, file, function, test, declaration,
  verdict, examples, tensors, findings) so ``crosscheck replay DIR N`` rebuilds
  any finding;
- ``pytest.md`` and ``pytest.html`` (``reports.html``).
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from crosscheck.model.records import verdict
from crosscheck.engine.replay import replay_command
from crosscheck.reports.tables import comparisons_frame, markdown, write_json

STEM = "pytest"


def declaration(target) -> dict:
    """The ``audit_target`` arguments of a target as JSON-ready values (extra ones under ``options``)."""
    family = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(target.family).items()}
    return {**family, "returns": target.returns, "lr": target.lr, "options": dict(target.options or {})}


def tensor_rows(frame: pd.DataFrame) -> list[dict]:
    """Per tensor over every case: agree (never mismatched), worst errors, worst mismatching fraction."""
    f = frame[frame["tensor"].astype(str) != ""]
    rows = []
    for name, g in f.groupby("tensor", sort=False):
        rows.append({"name": name, "agree": bool(g["agree"].astype(bool).all()), "ratio": float(g["ratio"].max()),
                     "max_abs_err": float(g["max_abs_err"].max()), "max_rel_err": float(g["max_rel_err"].max()),
                     "mismatch_fraction": float(g["mismatch_fraction"].max())})
    return rows


def target_record(check, frame: pd.DataFrame) -> dict:
    t, run = check.target, check.run
    return {"name": t.name, "file": t.file, "function": getattr(t.fn, "__name__", None), "test": check.nodeid,
            "declaration": declaration(t), "verdict": verdict(f.verdict_kind for f in run.findings), "examples": len(run.results),
            "seconds": round(run.seconds, 3), "replayed": run.replayed, "stopped": run.stopped,
            "tensors": tensor_rows(frame), "findings": [f.to_dict() for f in run.findings]}


def write(checks: list, directory: str | Path, *, examples: int, seed: int, profile: str) -> dict[str, Path]:
    from crosscheck.reports import html

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / f"{STEM}.{k}" for k in ("csv", "json", "md", "html")}
    frames = []
    records = []
    for c in checks:
        f = comparisons_frame(c.run.results)
        records.append(target_record(c, f))
        frames.append(f.assign(test=c.nodeid))
    frame = pd.concat(frames, ignore_index=True) if frames else comparisons_frame([]).assign(test="")
    frame.to_csv(paths["csv"], index=False)
    data = {"session": {"examples": examples, "seed": seed, "profile": profile, "checks": len(checks),
                        "cases": sum(r["examples"] for r in records), "tensors_compared": int(len(frame)),
                        "findings": sum(len(r["findings"]) for r in records),
                        "fragile": sum(1 for r in records for f in r["findings"] if f.get("fragile")),
                        "fragile_targets": sum(1 for r in records if r["verdict"] == "fragile")},
            "targets": records}
    write_json(paths["json"], data)
    paths["md"].write_text(_markdown(records, data["session"], paths["json"]))
    entries = [html.TargetEntry.from_run(c.run, c.target, name=c.target.name, verdict=r["verdict"],
                                         extra={"test": c.nodeid})
               for c, r in zip(checks, records)]
    html.write(paths["html"], html.targets_page("crosscheck: pytest session", entries, report=paths["json"],
                                                intro=f"{len(checks)} checks, seed {seed}, profile {profile}."))
    return paths


def _markdown(records: list[dict], session: dict, report: Path) -> str:
    rows = pd.DataFrame([{"target": r["name"], "test": r["test"], "verdict": r["verdict"], "cases": r["examples"],
                          "findings": len(r["findings"]),
                          "worst_ratio": max((t["ratio"] for t in r["tensors"]), default=0.0),
                          "worst_rel_err": max((t["max_rel_err"] for t in r["tensors"]), default=0.0)}
                         for r in records])
    lines = ["# crosscheck: pytest session", "",
             f"{session['checks']} checks, {session['cases']} cases, {session['tensors_compared']} tensors compared, "
             f"{session['findings']} findings"
             + (f" ({session['fragile']} fragile)" if session["fragile"] else "") + f" (seed {session['seed']}, profile {session['profile']}).", "",
             "## Targets", "", markdown(rows), "## Findings", ""]
    number = 0
    for r in records:
        for f in r["findings"]:
            number += 1
            what = ", ".join(f["tensors"]) or (f.get("crash") or {}).get("type", "")
            lines += [f"### {number}. {r['name']}: {'fragile' if f.get('fragile') else f['kind']} in {what}", "",
                      *([f"- {f['fragile']}"] if f.get("fragile") else []), f"- test: `{r['test']}`", f"- diagnosis: {', '.join(f['diagnosis']) or '-'}",
                      f"- {f['message']}", f"- minimal example: `{f['example']}`",
                      f"- replay: `{replay_command(report, number)}`", ""]
            if f["comparisons"]:
                lines += ["```", *[c["message"] for c in f["comparisons"]], "```", ""]
    if not number:
        lines.append("Every gradient agrees with torch.\n")
    return "\n".join(lines)

