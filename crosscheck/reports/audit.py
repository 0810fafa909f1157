"""``audit.json``, ``audit.csv``, ``audit.md`` and ``audit.html`` for an audit run.

``audit.json`` holds the records exactly as the runner built them (see
``crosscheck.audit.record``); the other three are views of it: the CSV has one
row per target and tensor, the Markdown and HTML files a summary table and, per
target, its tensors and its findings with their minimal examples (the HTML page
is built here and rendered by ``reports.html``, the renderer of every page).
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from crosscheck.model.records import VERDICTS
from crosscheck.reports.tables import markdown, markdown_text as md, write_json

CSV_COLUMNS = ["target", "file", "verdict", "tensor", "agree", "ratio", "max_abs_err", "max_rel_err",
               "mismatch_fraction", "cases", "failing_cases", "statuses", "convention_cases"]


def audit_data(run) -> dict:
    """The content of ``audit.json`` for an ``AuditRun``."""
    from crosscheck import __version__

    counts = {v: sum(1 for r in run.records if r["verdict"] == v) for v in VERDICTS}
    return {"crosscheck": __version__, "settings": {**run.options.to_dict(), "files": run.files},
            "summary": {"targets": len(run.records), **counts, "seconds": round(run.seconds, 3)},
            "targets": run.records}


def write(run, directory: str | Path) -> dict[str, Path]:
    """Write the four report files into ``directory``; returns their paths by format."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    data = audit_data(run)
    paths = {"json": out / "audit.json", "csv": out / "audit.csv", "md": out / "audit.md", "html": out / "audit.html"}
    write_json(paths["json"], data)
    tensor_frame(data).to_csv(paths["csv"], index=False)
    paths["md"].write_text(markdown_report(data))
    from crosscheck.reports import html  # the page, its figures and heatmaps: reports.html

    html.write(paths["html"], html_page(data, report=paths["json"], heatmaps=getattr(run, "heatmaps", None)))
    return paths


# -- frames ------------------------------------------------------------------------

def tensor_frame(data: dict) -> pd.DataFrame:
    """One row per target and tensor (one row with no tensor for a target that never ran)."""
    rows = []
    for t in data["targets"]:
        head = {"target": t["name"], "file": t["file"], "verdict": t["verdict"]}
        if not t["tensors"]:
            rows.append({**head, "tensor": "", "agree": None})
        for x in t["tensors"]:
            rows.append({**head, "tensor": x["name"], "agree": x["agree"], "ratio": x.get("ratio", math.nan),
                         "max_abs_err": x["max_abs_err"],
                         "max_rel_err": x["max_rel_err"], "mismatch_fraction": x["mismatch_fraction"],
                         "cases": x["cases"], "failing_cases": x["failing_cases"],
                         "statuses": ", ".join(f"{k} {v}" for k, v in x["statuses"].items()),
                         "convention_cases": x.get("convention_cases", 0)})
    return pd.DataFrame(rows, columns=CSV_COLUMNS)


def summary_frame(data: dict) -> pd.DataFrame:
    rows = []
    for t in data["targets"]:
        flagged = [x["name"] for x in t["tensors"] if x["agree"] is False]
        rows.append({"target": t["name"], "verdict": t["verdict"], "cases": t["examples"],
                     "findings": len(t["findings"]), "flagged tensors": ", ".join(flagged) or "-",
                     "file": t["file"]})
    return pd.DataFrame(rows, columns=["target", "verdict", "cases", "findings", "flagged tensors", "file"])


def target_tensor_frame(target: dict) -> pd.DataFrame:
    """One row per tensor, its worst error over its allowance first; errors accepted as conventions (not bugs) are
    counted apart, not in the worst errors."""
    rows = [{"tensor": x["name"], "agree": {True: "yes", False: "NO", None: "never compared"}[x["agree"]],
             "failing cases": f"{x['failing_cases']} / {x['cases']}",
             "error / allowed": x.get("ratio", math.nan), "max abs err": x["max_abs_err"],
             "max rel err": x["max_rel_err"], "mismatch fraction": x["mismatch_fraction"],
             "conventions": (f"{x['convention_cases']} cases: {x.get('convention_note') or 'accepted'}"
                             if x.get("convention_cases") else "-")}
            for x in target["tensors"]]
    return pd.DataFrame(rows, columns=["tensor", "agree", "failing cases", "error / allowed", "max abs err",
                                       "max rel err", "mismatch fraction", "conventions"])


def declaration_text(target: dict) -> str:
    d = target.get("declaration") or {}
    if not d:
        return ""
    parts = [f"activations {', '.join(d['activations'])}", f"loss {d['loss']}/{d['reduction']}"]
    if d.get("sizes"):
        parts.append("sizes " + "-".join("*" if s is None else str(s) for s in d["sizes"]))
    if d.get("batch"):
        parts.append(f"batch {d['batch']}")
    parts.append(d.get("dtype") or "float64")
    options = [f"{k} {d[k]}" for k in ("scale", "l2", "l2_bias", "leaky_slope")
               if d.get(k) not in (None, 1.0 if k == "scale" else 0.01 if k == "leaky_slope" else 0.0)]
    options += ["L2 divided by the batch"] if d.get("l2_by_batch") else []
    options += ["no biases"] if d.get("bias") is False else []
    parts += options
    recovered = "gradients recovered as (old - new) / lr, as precise as the parameters' rounding allows"
    if d.get("returns") == "update":
        parts.append(f"returns updated parameters (lr {d['lr']:g}; {recovered})")
    elif d.get("returns") == "step":
        parts.append(f"returns (parameters before, after) of one SGD step of its own parameters (lr {d['lr']:g}; "
                     f"the truth at the parameters before; {recovered})")
    else:
        parts.append("returns gradients")
    return "; ".join(parts)


def headline(data: dict) -> str:
    s, opts = data["summary"], data["settings"]
    verdicts = ", ".join(f"{s[v]} {v}" for v in VERDICTS if s.get(v))
    return (f"{s['targets']} target{'s' if s['targets'] != 1 else ''} ({verdicts}); up to {opts['examples']} "
            f"cases each, seed {opts['seed']}, time limit {opts['timeout']:g} s per target; "
            f"{s['seconds']:.1f} s in all.")


# -- Markdown ------------------------------------------------------------------------

def markdown_report(data: dict) -> str:
    lines = ["# crosscheck audit", "", headline(data), "",
             "Every target's gradients are compared with torch.autograd in float64 on cases drawn by "
             "Hypothesis; each distinct failure is shrunk to a minimal example.", "",
             markdown(summary_frame(data))]
    for t in data["targets"]:
        lines += ["", f"## {md(t['name'])}: {t['verdict']}", "", f"- file: `{t['file']}`"
                  + (f", line {t['line']}" if t.get("line") else "")]
        if t["verdict"] == "invalid":
            lines += [f"- {md(t['reason'])}", ""]
            continue
        lines += [f"- declared: {md(declaration_text(t))}",
                  f"- {t['examples']} cases checked in {t.get('seconds', 0):.1f} s"
                  + (f"; {md(t['stopped'])}" if t.get("stopped") else ""), "",
                  "Per tensor, the worst over every case checked (each finding below quotes its minimal "
                  "example's own figures):", "", markdown(target_tensor_frame(t))]
        if not t["findings"]:
            lines += ["Every gradient agrees with torch.", ""]
        for i, f in enumerate(t["findings"], 1):
            what = ", ".join(f["tensors"]) or (f.get("crash") or {}).get("type", "")
            lines += [f"### {i}. {md(f['kind'])}: {md(what)}", "", md(f["message"]), "",
                      f"- diagnosis: {md(', '.join(f['diagnosis']) or '-')}"]
            if f.get("example"):
                lines.append(f"- {'minimal example' if f.get('shrunk') else 'example (not shrunk)'}: "
                             f"`{f['example']}`")
            if f.get("comparisons"):
                lines += ["", "```", *[c["message"] for c in f["comparisons"]], "```"]
            lines.append("")
    return "\n".join(lines) + "\n"


# -- HTML: the page of every renderer (reports.html) -----------------------------------

def html_page(data: dict, *, report: str | Path | None = None, heatmaps: dict | None = None) -> str:
    """``audit.html`` from the content of ``audit.json`` (``audit_data``), rendered by ``reports.html``.

    ``heatmaps`` is the heatmap data the audit computed while each target's process was up (this module runs
    no audited code): target name -> index of the finding in its record -> ``{tensor: replay.Elementwise, or
    its fields as lists}``, or a string saying why there is none. An audit record keeps no per-case rows, so
    each target's figure is its worst error / allowed per tensor.
    """
    from crosscheck.reports import figures, html

    heatmaps = heatmaps or {}
    ratio = figures.RATIO_LABEL
    summary = summary_frame(data)
    worst = [figures.worst_ratio(t["tensors"]) for t in data["targets"]]
    if any(math.isfinite(w) for w in worst):  # (records written before tensors carried their ratio have none)
        summary.insert(4, f"worst {ratio}", worst)
    sections = [html.Section("", [html.Text(headline(data)), html.table(
        summary, "Targets", text_columns=("target", "flagged tensors", "file"), wide_columns=("file",),
        verdict_column="verdict", bad_columns=("findings",), ratio_columns=(f"worst {ratio}",))])]
    number = 0
    for i, t in enumerate(data["targets"], 1):
        blocks = [html.Code("file", str(t["file"]) + (f", line {t['line']}" if t.get("line") else ""))]
        if t["verdict"] == "invalid":
            blocks.append(html.Text(str(t.get("reason", "")), "bad"))
            sections.append(html.Section(f"{t['name']}: invalid", blocks, id=f"target-{i}", css="target"))
            continue
        blocks.append(html.Text(f"declared: {declaration_text(t)}; {t['examples']} cases checked"
                                + (f"; {t['stopped']}" if t.get("stopped") else "")))
        tensors = target_tensor_frame(t)
        ratios = [figures.record_ratio(x) for x in t["tensors"]]
        blocks.append(html.table(tensors, f"{t['name']}: per tensor, the worst over every case checked", text_columns=("tensor", "agree", "conventions"),
                                 wide_columns=("conventions",), ratio_columns=(ratio,)))
        if t["tensors"]:
            blocks.append(html.figure(figures.tensor_ratios, f"worst {ratio} per tensor of {t['name']}",
                                      [x["name"] for x in t["tensors"]], ratios,
                                      [x["agree"] for x in t["tensors"]], f"{t['name']}: worst {ratio} per tensor"))
        if not t["findings"]:
            blocks.append(html.Text("Every gradient agrees with torch.", "ok"))
        for index, f in enumerate(t["findings"]):
            number += 1  # replay numbers findings across targets, in report order
            views = (heatmaps.get(t["name"]) or {}).get(index)
            heat = None if f.get("crash") or not html.drawable_tensors(f) else html.heatmap_of(views)
            case = html.case_of(f.get("example"), None)
            blocks.append(html.finding_view(number, f, report=report, case_text=case.describe() if case else "",
                                            heatmap=heat))
        sections.append(html.Section(f"{t['name']}: {t['verdict']}", blocks, id=f"target-{i}", css="target"))
    return html.render(html.Page("crosscheck audit", html.targets_lead([t["verdict"] for t in data["targets"]]),
                                 sections))
