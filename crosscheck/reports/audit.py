"""``audit.json``, ``audit.csv``, ``audit.md`` and ``audit.html`` for an audit run.

``audit.json`` holds the records exactly as the runner built them (see
``crosscheck.audit.record``); the other three are views of it: the CSV has one
row per target and tensor, the Markdown and HTML files a summary table and, per
target, its tensors and its findings with their minimal examples.
"""
from __future__ import annotations

import html as _html
import math
from pathlib import Path

import pandas as pd

from crosscheck.model.records import VERDICTS
from crosscheck.reports.tables import markdown, write_json

CSV_COLUMNS = ["target", "file", "verdict", "tensor", "agree", "max_abs_err", "max_rel_err", "mismatch_fraction",
               "cases", "failing_cases", "statuses", "convention_cases"]


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
    from crosscheck.reports import html  # figures and heatmaps: reports.html

    paths["html"].write_text(html_report(data, html.audit_sections(data, report=paths["json"],
                                                                       heatmaps=getattr(run, "heatmaps", None))))
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
            rows.append({**head, "tensor": x["name"], "agree": x["agree"], "max_abs_err": x["max_abs_err"],
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
    """One row per tensor; errors accepted as conventions (not bugs) are counted apart, not in the worst errors."""
    rows = [{"tensor": x["name"], "agree": {True: "yes", False: "NO", None: "never compared"}[x["agree"]],
             "failing cases": f"{x['failing_cases']} / {x['cases']}", "max abs err": x["max_abs_err"],
             "max rel err": x["max_rel_err"], "mismatch fraction": x["mismatch_fraction"],
             "conventions": (f"{x['convention_cases']} cases: {x.get('convention_note') or 'accepted'}"
                             if x.get("convention_cases") else "-")}
            for x in target["tensors"]]
    return pd.DataFrame(rows, columns=["tensor", "agree", "failing cases", "max abs err", "max rel err",
                                       "mismatch fraction", "conventions"])


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


def _headline(data: dict) -> str:
    s, opts = data["summary"], data["settings"]
    verdicts = ", ".join(f"{s[v]} {v}" for v in VERDICTS if s.get(v))
    return (f"{s['targets']} target{'s' if s['targets'] != 1 else ''} ({verdicts}); up to {opts['examples']} "
            f"cases each, seed {opts['seed']}, time limit {opts['timeout']:g} s per target; "
            f"{s['seconds']:.1f} s in all.")


# -- Markdown ------------------------------------------------------------------------

def markdown_report(data: dict) -> str:
    lines = ["# crosscheck audit", "", _headline(data), "",
             "Every target's gradients are compared with torch.autograd in float64 on cases drawn by "
             "Hypothesis; each distinct failure is shrunk to a minimal example.", "",
             markdown(summary_frame(data))]
    for t in data["targets"]:
        lines += ["", f"## {t['name']}: {t['verdict']}", "", f"- file: `{t['file']}`"
                  + (f", line {t['line']}" if t.get("line") else "")]
        if t["verdict"] == "invalid":
            lines += [f"- {t['reason']}", ""]
            continue
        lines += [f"- declared: {declaration_text(t)}",
                  f"- {t['examples']} cases checked in {t.get('seconds', 0):.1f} s"
                  + (f"; {t['stopped']}" if t.get("stopped") else ""), "", markdown(target_tensor_frame(t))]
        if not t["findings"]:
            lines += ["Every gradient agrees with torch.", ""]
        for i, f in enumerate(t["findings"], 1):
            what = ", ".join(f["tensors"]) or (f.get("crash") or {}).get("type", "")
            lines += [f"### {i}. {f['kind']}: {what}", "", f["message"], "",
                      f"- diagnosis: {', '.join(f['diagnosis']) or '-'}"]
            if f.get("example"):
                lines.append(f"- {'minimal example' if f.get('shrunk') else 'example (not shrunk)'}: "
                             f"`{f['example']}`")
            if f.get("comparisons"):
                lines += ["", "```", *[c["message"] for c in f["comparisons"]], "```"]
            lines.append("")
    return "\n".join(lines) + "\n"


# -- HTML ------------------------------------------------------------------------------

_VERDICT_COLOURS = {"agree": "#d7f0d7", "disagree": "#f7d4d4", "fragile": "#f7f0c8", "crashed": "#f7e3c8",
                    "timeout": "#f0e6f7", "invalid": "#e4e4e4"}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; font-size: 0.9em; }
th { background: #f3f3f3; }
code, pre { background: #f6f6f6; font-size: 0.85em; }
pre { padding: 0.6em; overflow-x: auto; }
.finding { border-left: 4px solid #c55; padding-left: 0.8em; margin: 0.8em 0; }
"""


def _number(v) -> str:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f"{v:.3g}" if math.isfinite(v) else str(v)
    return str(v)


def _styled(frame: pd.DataFrame, colour_column: str | None = None) -> str:
    """A frame as an HTML table through pandas' Styler (numbers in 3 significant digits)."""
    styler = frame.style.hide(axis="index").format(_number)
    if colour_column == "verdict":
        styler = styler.map(lambda v: f"background-color: {_VERDICT_COLOURS.get(v, '')}", subset=["verdict"])
    elif colour_column == "agree":
        styler = styler.map(lambda v: "background-color: #f7d4d4" if v == "NO" else "", subset=["agree"])
    return styler.to_html()


def html_report(data: dict, extra_sections: dict | None = None) -> str:
    """The whole ``audit.html`` page, self-contained.

    ``extra_sections`` maps a target name to HTML inserted after that target's
    tensor table (for plots); the key ``""`` puts HTML after the summary.
    """
    extra = extra_sections or {}
    e = _html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', "<title>crosscheck audit</title>",
             f"<style>{_STYLE}</style></head><body>", "<h1>crosscheck audit</h1>", f"<p>{e(_headline(data))}</p>",
             _styled(summary_frame(data), "verdict"), extra.get("", "")]
    for t in data["targets"]:
        parts.append(f'<h2 id="{e(t["name"])}">{e(t["name"])}: {e(t["verdict"])}</h2>')
        parts.append(f"<p>file <code>{e(t['file'])}</code>"
                     + (f", line {t['line']}" if t.get("line") else "") + "</p>")
        if t["verdict"] == "invalid":
            parts.append(f"<p>{e(t['reason'])}</p>")
            continue
        parts.append(f"<p>declared: {e(declaration_text(t))}; {t['examples']} cases checked"
                     + (f"; {e(t['stopped'])}" if t.get("stopped") else "") + "</p>")
        parts.append(_styled(target_tensor_frame(t), "agree"))
        parts.append(extra.get(t["name"], ""))
        if not t["findings"]:
            parts.append("<p>Every gradient agrees with torch.</p>")
        for i, f in enumerate(t["findings"], 1):
            what = ", ".join(f["tensors"]) or (f.get("crash") or {}).get("type", "")
            parts.append(f'<div class="finding"><h3>{i}. {e(f["kind"])}: {e(what)}</h3><p>{e(f["message"])}</p>'
                         f"<p>diagnosis: {e(', '.join(f['diagnosis']) or '-')}</p>")
            if f.get("example"):
                label = "minimal example" if f.get("shrunk") else "example (not shrunk)"
                parts.append(f"<p>{label}: <code>{e(str(f['example']))}</code></p>")
            if f.get("comparisons"):
                parts.append("<pre>" + e("\n".join(c["message"] for c in f["comparisons"])) + "</pre>")
            parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
