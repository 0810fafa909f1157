"""One self-contained HTML report: pandas Styler tables and matplotlib figures as inline PNG.

Nothing is fetched when the page is opened (no scripts, fonts or style sheets
from the network): styles are inline and every figure is a ``data:image/png``.
A page has

- the summary tables: the run (or each target) at a glance, errors per tensor
  kind and dtype, activations x loss;
- the error distribution of every tensor kind (W, b, dZ, dA, dX) per dtype: a
  histogram of log10 of the normwise relative error, exact agreement in its own bar;
- per-layer error bars: median relative error per layer and dtype, the whisker
  up to the worst;
- for each finding its minimal example, the diagnosis, the failing
  comparisons, the replay command and a heatmap of |candidate - torch| with the
  elements over budget marked. The heatmap comes from replaying the minimal
  case (``replay.elementwise``), so it needs the target object.

``fuzz_page(run, target)`` and ``targets_page(title, entries)`` build pages;
``write(path, page)`` writes one. Findings are the JSON records the reports
write (``kind``, ``tensors``, ``diagnosis``, ``message``, ``example``,
``comparisons``, ``crash``), so a page can be built from records that came
back from worker processes or from a report on disk as well as from a run.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..vocabulary import tensor_kind, tensor_layer
from .tables import comparisons_frame, pivot

KIND_ORDER = ("W", "b", "dZ", "dA", "dX")
DTYPE_COLORS = {"float64": "#1f77b4", "float32": "#ff7f0e"}
#: Relative errors below this are drawn at this floor (log scales have no 0).
FLOOR = 1e-18
#: ... and above this at this ceiling (a near-zero true gradient can give relative errors of 1e90).
CEILING = 1e3
#: Annotate each heatmap cell with its value up to this many elements.
ANNOTATE_UP_TO = 36

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 72em;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
h3 { margin-top: 1.6em; }
.lead { color: #555; margin-top: 0; }
.verdict-ok { color: #17702f; font-weight: 600; } .verdict-bad { color: #b00020; font-weight: 600; }
table { border-collapse: collapse; margin: .8em 0 1.2em; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; overflow-wrap: anywhere; }
th { background: #f4f4f4; text-align: left; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: .3em; }
code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .88em; background: #f6f6f6; }
pre { padding: .6em .8em; overflow-x: auto; white-space: pre-wrap; }
img.figure { max-width: 100%; height: auto; display: block; margin: .6em 0 1.2em; }
.finding { border-left: 4px solid #b00020; padding-left: 1em; margin: 1.5em 0; }
.note { color: #666; font-size: .9em; }
"""


@dataclass
class TargetEntry:
    """One target of a multi-target page (audit, pytest).

    ``frame`` has one row per case and tensor (``tables.comparisons_frame``);
    ``findings`` are finding records; ``target`` (the Target object) lets the
    page replay each minimal example for its heatmap.
    """

    name: str
    frame: pd.DataFrame
    findings: list[dict]
    verdict: str
    cases: int
    target: object | None = None
    file: str | None = None
    seconds: float = 0.0
    note: str = ""
    extra: dict = field(default_factory=dict)  # more columns for the target's row

    @classmethod
    def from_run(cls, run, target=None, *, name: str | None = None, file: str | None = None, **kw) -> "TargetEntry":
        from .fuzz import finding_dict

        return cls(name or run.target, comparisons_frame(run.results), [finding_dict(f) for f in run.findings],
                   kw.pop("verdict", None) or _verdict(run), len(run.results), target,
                   file or getattr(target, "file", None), run.seconds, kw.pop("note", run.stopped or ""), **kw)


# -- pages ----------------------------------------------------------------------------------

def fuzz_page(run, target=None, *, report: str | Path | None = None, title: str | None = None,
              frame: pd.DataFrame | None = None, totals: dict | None = None, sample: str = "") -> str:
    """The page of one fuzz run. ``report`` is the JSON report the replay commands point at.

    A long run passes ``frame`` (rows of a sample of its cases, ``tables.Tally``),
    ``totals`` (the overview's counts over every case) and ``sample`` (a note saying so).
    """
    from .fuzz import finding_dict

    frame = comparisons_frame(run.results) if frame is None else frame
    title = title or f"crosscheck fuzz: {run.target}"
    verdict = _verdict_html(run)
    overview = _overview(run, frame, totals)
    body = [f"<h1>{_e(title)}</h1>", f"<p class='lead'>{verdict}</p>",
            _table(overview, "The run", text_columns=("", "value")),
            *([f"<p class='note'>{_e(sample)}</p>"] if sample else []),
            *_common_sections(frame),
            "<h2>Findings</h2>"]
    body += _findings_html([(target, finding_dict(f)) for f in run.findings], report, start=1)
    return _document(title, body)


def targets_page(title: str, entries: list[TargetEntry], *, report: str | Path | None = None,
                 intro: str = "") -> str:
    """One page for several targets (``crosscheck audit``, ``pytest --crosscheck-report``)."""
    frames = [e.frame for e in entries if len(e.frame)]
    frame = pd.concat(frames, ignore_index=True) if frames else comparisons_frame([])
    rows = []
    for e in entries:
        f = e.frame
        rel = _finite(f["max_rel_err"]) if len(f) else pd.Series(dtype=float)
        rows.append({"target": e.name, "file": _short_path(e.file), "verdict": e.verdict, "cases": e.cases,
                     "tensors compared": int(len(f)), "findings": len(e.findings),
                     "worst relative error": float(rel.max()) if len(rel) else 0.0,
                     "seconds": round(e.seconds, 2), **e.extra, "note": e.note})
    table = pd.DataFrame(rows)
    n_bad = sum(1 for r in rows if r["verdict"] != "agree")
    lead = (f"<span class='verdict-ok'>every target agrees with torch</span>" if not n_bad else
            f"<span class='verdict-bad'>{n_bad} of {len(rows)} target{'s' if len(rows) != 1 else ''} "
            f"disagree{'s' if n_bad == 1 else ''} with torch</span>")
    body = [f"<h1>{_e(title)}</h1>", f"<p class='lead'>{lead}. {_e(intro)}</p>",
            _table(table, "Targets", text_columns=("target", "file", "verdict", "note"),
                   verdict_column="verdict"),
            *_common_sections(frame), "<h2>Findings</h2>"]
    any_finding, number = False, 1
    for e in entries:
        if not e.findings:
            continue
        any_finding = True
        body.append(f"<h3>{_e(e.name)}</h3>")
        body += _findings_html([(e.target, f) for f in e.findings], report, start=number, heading_level=4)
        number += len(e.findings)
    if not any_finding:
        body.append("<p class='verdict-ok'>Every gradient agrees with torch.</p>")
    return _document(title, body)


def write(path: str | Path, page: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def write_fuzz(run, path: str | Path, target=None, *, report: str | Path | None = None, **page) -> Path:
    return write(path, fuzz_page(run, target, report=report, **page))


def audit_sections(data: dict, *, report: str | Path | None = None, heatmaps: bool = True,
                   timeout: float = 60.0) -> dict[str, str]:
    """Figures for ``audit.html`` (the ``extra_sections`` of ``reports.audit.html_report``).

    ``""``: the error distributions per tensor kind and dtype and the per-layer
    bars, over the worst error of every target and tensor (an audit record keeps
    no per-case rows). Per target: each finding's replay command and the heatmap
    of its minimal example. The audited code runs again for the heatmap, so it
    runs as it ran in the audit: in a child process with a time limit
    (``audit.isolation``); a child that fails only costs the heatmap.
    """
    rows = []
    for t in data.get("targets", []):
        dtype = (t.get("declaration") or {}).get("dtype") or "float64"
        for x in t.get("tensors") or []:
            if x.get("agree") is None:
                continue
            rows.append({"target": t["name"], "tensor": x["name"], "dtype": dtype, "agree": bool(x["agree"]),
                         "max_rel_err": _num(x["max_rel_err"]), "max_abs_err": _num(x["max_abs_err"]),
                         "torch_err": math.nan, "case": 0, "activations": "", "loss": ""})
    frame = pd.DataFrame(rows, columns=["target", "tensor", "dtype", "agree", "max_rel_err", "max_abs_err",
                                        "torch_err", "case", "activations", "loss"])
    out = {"": "".join([
        "<h2>Errors per tensor kind and dtype</h2>",
        "<p class='note'>Over every target and tensor, the worst relative error the audit saw (normwise).</p>",
        _img(error_distribution_figure(frame, unit="target tensors"), "error distributions per tensor kind and dtype"),
        _img(layer_error_figure(frame), "median and worst relative error per layer and dtype")])}
    number = 0
    for t in data.get("targets", []):
        parts = []
        for i, f in enumerate(t.get("findings") or [], 1):
            number += 1  # replay numbers findings across targets, in report order
            drawable = [c["tensor"] for c in f.get("comparisons") or [] if c.get("status") in ("mismatch", "nonfinite")]
            what = ", ".join(f.get("tensors") or []) or (f.get("crash") or {}).get("type", "")
            head = f"<p><b>{i}. {_e(f.get('kind'))}: {_e(what)}</b>"
            if report is not None and isinstance(f.get("example"), dict):
                head += f": replay with <code>crosscheck replay {_e(str(report))} {number}</code>"
            head += "</p>"
            if heatmaps and drawable and isinstance(f.get("example"), dict) and \
                    not (t.get("declaration") or {}).get("options"):
                head += _isolated_heatmap(t, f["example"], drawable, timeout)
            parts.append(head)
        if parts:
            out[t["name"]] = "".join(parts)
    return out


def _isolated_heatmap(record: dict, example: dict, tensors: list[str], timeout: float) -> str:
    from ..audit.isolation import Limits, run_job

    job = {"kind": "elementwise", "spec": record, "example": example, "tensors": tensors}
    outcome = run_job(job, Limits(timeout))
    if outcome.ended != "done":
        why = (outcome.error or {}).get("message") or outcome.ended
        return f"<p class='note'>No heatmap: replaying the minimal example did not finish ({_e(why)}).</p>"
    fig = heatmap_figure(outcome.value)
    if fig is None:
        return "<p class='note'>No heatmap: the replay returned no array for the failing tensors.</p>"
    return ("<p class='note'>Heatmap of the replayed minimal example: |candidate - torch| per element, "
            "elements over budget outlined in red.</p>" + _img(fig, f"heatmap of {', '.join(tensors)}"))


# -- sections shared by every page -----------------------------------------------------------

def _common_sections(frame: pd.DataFrame) -> list[str]:
    out = ["<h2>Errors per tensor kind and dtype</h2>",
           "<p class='note'>Relative errors are normwise: the largest absolute difference over the tensor's "
           "largest true magnitude. torch error: torch's own error at the candidate's precision (the noise the "
           "budget is built from).</p>",
           _table(kind_dtype_table(frame), "Per tensor kind and dtype", text_columns=("kind", "dtype"),
                  bad_columns=("disagreements",)),
           _img(error_distribution_figure(frame), "error distributions per tensor kind and dtype"),
           "<h2>Errors per layer</h2>",
           _img(layer_error_figure(frame), "median and worst relative error per layer and dtype"),
           "<h2>Activation x loss</h2><p>A case counts under every activation it uses.</p>",
           _table(pivot(frame), "Cases per activation and loss",
                  text_columns=("activation", "loss"),
                  bad_columns=("disagreements",))]
    return out


def kind_dtype_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per tensor kind and dtype: tensors, disagreements, median/worst relative error, worst torch error."""
    cols = ["kind", "dtype", "tensors", "disagreements", "median rel err", "worst rel err", "worst abs err",
            "worst torch err"]
    f = _with_kind(frame)
    if f.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for (kind, dtype), g in f.groupby(["kind", "dtype"], sort=False):
        rel, ab = _finite(g["max_rel_err"]), _finite(g["max_abs_err"])
        rows.append({"kind": kind, "dtype": dtype, "tensors": len(g),
                     "disagreements": int((~g["agree"].astype(bool)).sum()),
                     "median rel err": float(rel.median()) if len(rel) else math.nan,
                     "worst rel err": float(g["max_rel_err"].max()),
                     "worst abs err": float(ab.max()) if len(ab) else math.nan,
                     "worst torch err": float(g["torch_err"].max())})
    out = pd.DataFrame(rows, columns=cols)
    out["order"] = out["kind"].map({k: i for i, k in enumerate(KIND_ORDER)})
    if out["worst torch err"].isna().all():  # measured only where a budget needed it, and nowhere here
        out = out.drop(columns="worst torch err")
    return out.sort_values(["order", "dtype"]).drop(columns="order").reset_index(drop=True)


# -- figures ----------------------------------------------------------------------------------

def error_distribution_figure(frame: pd.DataFrame, unit: str = "tensors"):
    """One histogram per tensor kind of log10(relative error), a color per dtype; exact zeros in their own bar."""
    from matplotlib.figure import Figure

    f = _with_kind(frame)
    kinds = [k for k in KIND_ORDER if k in set(f["kind"])] if not f.empty else []
    fig = Figure(figsize=(2.6 * max(len(kinds), 1) + 0.6, 2.9), layout="constrained")
    if not kinds:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no tensors compared", ha="center", va="center")
        ax.set_axis_off()
        return fig
    axes = fig.subplots(1, len(kinds), sharey=True, squeeze=False)[0]
    rel_all = _finite(f["max_rel_err"])
    top = min(math.ceil(math.log10(max(float(rel_all.max()) if len(rel_all) else 1.0, 1.0))) + 1,
              math.log10(CEILING))
    bins = np.arange(math.log10(FLOOR), top + 0.01, 0.5)
    for ax, kind in zip(axes, kinds):
        g = f[f["kind"] == kind]
        notes = []
        for dtype, color in DTYPE_COLORS.items():
            rel = _finite(g.loc[g["dtype"] == dtype, "max_rel_err"])
            if not len(rel):
                continue
            zeros = int((rel <= 0).sum())
            logs = np.log10(np.clip(rel[rel > 0].to_numpy(), FLOOR, CEILING))
            ax.hist(logs, bins=bins, color=color, alpha=0.6, label=dtype)
            if zeros:
                ax.bar(bins[0] - 1, zeros, width=0.9, color=color, alpha=0.6, hatch="//")
            bad = int((~g.loc[g["dtype"] == dtype, "max_rel_err"].map(math.isfinite)).sum())
            if bad:
                notes.append(f"+{bad} {dtype} non-finite")
        n_bad = int((~g["agree"].astype(bool)).sum())
        if n_bad:
            notes.insert(0, f"{n_bad} disagree")
        ax.set_title(kind + (f"\n({', '.join(notes)})" if notes else ""), fontsize=9,
                     color="#b00020" if n_bad else "black")
        ax.set_xlabel("log10 relative error", fontsize=8)
        ax.set_xticks([bins[0] - 1, -15, -10, -5, 0][: 5 if top >= 0 else 4])
        ax.set_xticklabels(["exact", "-15", "-10", "-5", "0"][: 5 if top >= 0 else 4], fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel(unit, fontsize=8)
    axes[-1].legend(fontsize=7, loc="upper right")
    fig.suptitle("log10 relative error per tensor kind; the hatched bar (exact) counts errors of exactly 0; "
                 f"errors over {CEILING:g} are counted at {CEILING:g}", fontsize=9)
    return fig


def layer_error_figure(frame: pd.DataFrame):
    """Per layer and dtype: a bar at the median relative error, a whisker up to the worst (log scale)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 3.0), layout="constrained")
    ax = fig.add_subplot()
    f = _with_kind(frame)
    if f.empty:
        ax.text(0.5, 0.5, "no tensors compared", ha="center", va="center")
        ax.set_axis_off()
        return fig
    f = f.assign(layer=f["tensor"].map(tensor_layer))
    layers = sorted(set(f["layer"]), key=lambda l: (l == 0, l))  # dX (layer 0) last: the input
    dtypes = [d for d in DTYPE_COLORS if d in set(f["dtype"])]
    width = 0.8 / max(len(dtypes), 1)
    for j, dtype in enumerate(dtypes):
        xs, med, worst = [], [], []
        for i, layer in enumerate(layers):
            rel = _finite(f.loc[(f["layer"] == layer) & (f["dtype"] == dtype), "max_rel_err"])
            if not len(rel):
                continue
            xs.append(i + (j - (len(dtypes) - 1) / 2) * width)
            med.append(min(max(float(rel.median()), FLOOR), CEILING))
            worst.append(min(max(float(rel.max()), FLOOR), CEILING))
        if not xs:
            continue
        med_a, worst_a = np.array(med), np.array(worst)
        ax.bar(xs, med_a, width=width * 0.9, color=DTYPE_COLORS[dtype], alpha=0.75, label=dtype,
               bottom=0, log=True)
        ax.errorbar(xs, med_a, yerr=[np.zeros_like(med_a), worst_a - med_a], fmt="none", ecolor="#333",
                    capsize=3, linewidth=1)
    ax.set_yscale("log")
    ax.set_ylim(FLOOR / 10, None)
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels([f"layer {l}" if l else "input (dX)" for l in layers], fontsize=8)
    ax.set_ylabel("relative error", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
    ax.set_title(f"Per layer: bar = median, whisker = worst (drawn within {FLOOR:g} .. {CEILING:g})", fontsize=9)
    return fig


def heatmap_figure(views: dict):
    """|candidate - torch| of each tensor (log10 colors), elements over budget outlined in red."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    views = {k: v for k, v in views.items() if v.candidate is not None}
    if not views:
        return None
    n = len(views)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(3.6 * cols, 3.0 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_axis_off()
    for ax, (name, v) in zip(axes, views.items()):
        diff = np.atleast_2d(v.difference)
        over = np.atleast_2d(v.over)
        finite = np.isfinite(diff)
        shown = np.where(finite, np.log10(np.clip(diff, FLOOR, None)), np.nan)
        # Colors run from the smallest budget (or difference) up to the largest difference, at least
        # one decade: a 1x1 minimal example still shows where it sits against its budget.
        allowed = np.log10(np.clip(np.atleast_2d(v.allowed), FLOOR, None))
        hi = float(np.nanmax(shown)) if np.isfinite(shown).any() else 0.0
        lo = min(float(np.nanmin(shown)) if np.isfinite(shown).any() else hi, float(allowed.min()))
        lo = min(lo, hi - 1.0)
        small = max(diff.shape) <= 40
        im = ax.imshow(shown, cmap="viridis", vmin=lo, vmax=hi, aspect="equal" if small else "auto",
                       interpolation="nearest")
        if small:
            ax.set_xticks(range(diff.shape[1]) if diff.shape[1] <= 12 else range(0, diff.shape[1], 5))
            ax.set_yticks(range(diff.shape[0]) if diff.shape[0] <= 12 else range(0, diff.shape[0], 5))
        for (i, j) in zip(*np.nonzero(over)):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.6))
        for (i, j) in zip(*np.nonzero(~finite)):
            ax.text(j, i, "NaN" if np.isnan(np.atleast_2d(v.candidate)[i, j]) else "inf", ha="center",
                    va="center", color="red", fontsize=7)
        if diff.size <= ANNOTATE_UP_TO:
            for (i, j), d in np.ndenumerate(diff):
                if np.isfinite(d):
                    ax.text(j, i, f"{d:.2g}", ha="center", va="center", fontsize=7.5,
                            color="white" if shown[i, j] < (lo + hi) / 2 else "black")
        shape = "x".join(map(str, v.truth.shape)) or "scalar"
        ax.set_title(f"{name} ({shape}): {int(over.sum())} / {over.size} over budget", fontsize=8.5)
        ax.set_xlabel("in" if tensor_kind(name) == "W" else "unit", fontsize=7)
        ax.set_ylabel("out" if tensor_kind(name) == "W" else ("sample" if v.truth.ndim == 2 else ""), fontsize=7)
        ax.tick_params(labelsize=6)
        bar = fig.colorbar(im, ax=ax, shrink=0.8)
        bar.set_label("log10 |candidate - torch|", fontsize=7)
        bar.ax.tick_params(labelsize=6)
    return fig


# -- findings ------------------------------------------------------------------------------------

def _findings_html(pairs, report, start: int, heading_level: int = 3) -> list[str]:
    if not pairs:
        return ["<p class='verdict-ok'>Every gradient agrees with torch.</p>"]
    out = []
    for i, (target, f) in enumerate(pairs, start):
        out.append(finding_html(i, f, target, report=report, heading_level=heading_level))
    return out


def finding_html(number: int, finding: dict, target=None, *, report=None, heading_level: int = 3) -> str:
    """One finding record: heading, diagnosis, minimal example, replay command, failing comparisons, heatmap."""
    crash = finding.get("crash")
    what = ", ".join(finding.get("tensors") or []) or (crash or {}).get("type", "")
    h = f"h{heading_level}"
    parts = [f"<div class='finding' id='finding-{number}'><{h}>{number}. {_e(finding.get('kind', '?'))}: "
             f"{_e(what)}</{h}>"]
    labels = ", ".join(finding.get("diagnosis") or [])
    parts.append(f"<p><b>Diagnosis{' (' + _e(labels) + ')' if labels else ''}:</b> "
                 f"{_e(finding.get('message', ''))}</p>")
    example = finding.get("example")
    case = _case(example, target)
    if example:
        seen = f" (first seen at case {finding['first_seen']})" if finding.get("first_seen") else ""
        parts.append(f"<p><b>Minimal example:</b> {_e(case.describe() if case else '')}{seen}<br>"
                     f"<code>{_e(json.dumps(example))}</code></p>")
    if report is not None and example:
        parts.append(f"<p><b>Replay:</b> <code>crosscheck replay {_e(str(report))} {number}</code></p>")
    if crash:
        parts.append(f"<pre>{_e(crash.get('traceback') or crash.get('type', '') + ': ' + crash.get('message', ''))}"
                     f"</pre>")
        return "".join(parts) + "</div>"
    comparisons = finding.get("comparisons") or []
    rows = [{"tensor": c.get("tensor"), "status": c.get("status"),
             "mismatching": f"{c.get('mismatches')} / {c.get('size')}", "worst abs err": _num(c.get("max_abs_err")),
             "allowed": _num(c.get("allowed_abs_err")), "torch err": _num(c.get("torch_err")),
             "rel err": _num(c.get("max_rel_err")),
             "at": "" if c.get("worst_index") is None else str(tuple(c["worst_index"])),
             "message": c.get("message", "")} for c in comparisons]
    parts.append(_table(pd.DataFrame(rows), "Failing tensors",
                        text_columns=("tensor", "status", "mismatching", "at", "message")))
    drawable = [c["tensor"] for c in comparisons if c.get("status") in ("mismatch", "nonfinite")]
    parts.append(_heatmap_html(target, case, drawable))
    return "".join(parts) + "</div>"


def _case(example, target):
    if not isinstance(example, dict):
        return None
    from ..replay import case_from_example

    try:
        return case_from_example(example, target)
    except ValueError:
        return None


def _heatmap_html(target, case, drawable: list[str]) -> str:
    from ..replay import elementwise

    if target is None or case is None:
        return "<p class='note'>No heatmap: the page was built without the target to replay.</p>"
    if not drawable:
        return "<p class='note'>No heatmap: the failing tensors have the wrong shape or are missing.</p>"
    try:
        with np.errstate(all="ignore"):
            views = elementwise(target, case, drawable)
    except Exception as e:  # the target fails differently on a second run: say so, keep the page
        return f"<p class='note'>No heatmap: replaying the minimal example raised {_e(type(e).__name__)}: {_e(e)}</p>"
    fig = heatmap_figure(views)
    if fig is None:
        return "<p class='note'>No heatmap: the replay returned no array for the failing tensors.</p>"
    return ("<p class='note'>Heatmap of the replayed minimal example: |candidate - torch| per element, "
            "elements over budget outlined in red.</p>" + _img(fig, f"heatmap of {', '.join(drawable)}"))


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


# -- helpers ------------------------------------------------------------------------------------

def _verdict(run) -> str:
    if not run.findings:
        return "agree"
    return "crashed" if all(f.kind == "crash" for f in run.findings) else "disagree"


def _verdict_html(run) -> str:
    n = len(run.findings)
    if not n:
        return f"<span class='verdict-ok'>Every gradient agrees with torch</span> on {len(run.results)} cases."
    return (f"<span class='verdict-bad'>{n} distinct finding{'s' if n != 1 else ''}</span> "
            f"in {len(run.results)} cases.")


def _overview(run, frame: pd.DataFrame, totals: dict | None = None) -> pd.DataFrame:
    rel = _finite(frame["max_rel_err"]) if len(frame) else pd.Series(dtype=float)
    rows = [("target", run.target), ("cases", len(run.results)), ("tensors compared", len(frame)),
            ("disagreeing tensors", int((~frame["agree"].astype(bool)).sum()) if len(frame) else 0),
            ("distinct findings", len(run.findings)),
            ("worst relative error", float(rel.max()) if len(rel) else 0.0)]
    for dtype, g in frame.groupby("dtype") if len(frame) else []:
        r = _finite(g["max_rel_err"])
        rows.append((f"worst relative error, {dtype}", float(r.max()) if len(r) else math.nan))
    if totals:  # counts over every case of a run whose frame is a sample
        rows = [(k, totals.get(k, v)) for k, v in rows if not k.startswith("worst relative error, ")]
        rows += [(k, v) for k, v in totals.items() if k.startswith("worst relative error, ")]
    rows.append(("seconds", round(run.seconds, 2)))
    if run.seconds:
        rows.append(("cases per second", round(len(run.results) / run.seconds, 1)))
    if getattr(run, "replayed", 0):
        rows.append(("saved failures replayed first", run.replayed))
    if run.stopped:
        rows.append(("stopped early", run.stopped))
    return pd.DataFrame([{"": k, "value": v if isinstance(v, str) else _fmt(v)} for k, v in rows])


def _with_kind(frame: pd.DataFrame) -> pd.DataFrame:
    f = frame[frame["tensor"].astype(str) != ""] if len(frame) else frame
    if f.empty:
        return f.assign(kind=pd.Series(dtype=str))
    return f.assign(kind=f["tensor"].map(tensor_kind))


def _finite(s: pd.Series) -> pd.Series:
    s = pd.to_numeric(s, errors="coerce")
    return s[np.isfinite(s)]


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return "-"  # not measured (torch's own error is measured only where a budget needs it)
        return f"{v:.3g}" if math.isfinite(v) else str(v)
    return str(v)


def _short_path(path: str | None) -> str:
    """A file path relative to the current folder when it is under it."""
    if not path:
        return ""
    import os

    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _table(frame: pd.DataFrame, caption: str, *, text_columns=(), bad_columns=(), verdict_column=None) -> str:
    if frame.empty:
        return f"<p class='note'>{_e(caption)}: none.</p>"
    styler = frame.style.hide(axis="index").set_caption(_e(caption)).format(_fmt, escape="html")
    text = [c for c in frame.columns if c in text_columns]
    if text:
        styler = styler.set_properties(subset=text, **{"text-align": "left"})
    for col in bad_columns:
        if col in frame.columns:
            styler = styler.map(lambda v: "color: #b00020; font-weight: 600" if _positive(v) else "",
                                subset=[col])
    if verdict_column in frame.columns:
        styler = styler.map(lambda v: "color: #17702f; font-weight: 600" if v == "agree"
                            else "color: #b00020; font-weight: 600", subset=[verdict_column])
    return styler.to_html()


def _positive(v) -> bool:
    try:
        return float(v) > 0
    except (TypeError, ValueError):
        return False


def _img(fig, alt: str) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img class='figure' alt='{_e(alt)}' src='data:image/png;base64,{data}'>"


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _document(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body) + "\n<p class='note'>Written by crosscheck. Torch in float64 is the truth; "
            "each element's budget is measured on the case itself (see the README).</p></body></html>\n")
