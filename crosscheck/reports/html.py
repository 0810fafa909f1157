"""One self-contained HTML report: plain HTML tables, SVG summary figures and matplotlib heatmaps.

Nothing is fetched when the page is opened (no scripts, fonts or style sheets
from the network): styles are inline and every figure is a ``data:`` image, the
summary figures SVG written by ``svg`` (milliseconds; matplotlib would take a
second to import and draw them), each finding's heatmap a matplotlib PNG.
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

from crosscheck.model.records import FOLDED
from crosscheck.model.vocabulary import tensor_kind, tensor_layer
from crosscheck.engine.replay import replay_command
from crosscheck.reports import svg
from crosscheck.reports.tables import comparisons_frame, pivot

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
        return cls(name or run.target, comparisons_frame(run.results), [f.to_dict() for f in run.findings],
                   kw.pop("verdict", None) or _verdict(run), len(run.results), target,
                   file or getattr(target, "file", None), run.seconds, kw.pop("note", run.stopped or ""), **kw)


# -- pages ----------------------------------------------------------------------------------

#: The columns of ``tables.COLUMNS`` that ``fuzz_page`` reads from its ``frame`` when it is given
#: ``activation_loss`` (``Tally.frame(FRAME_COLUMNS)`` builds only these).
FRAME_COLUMNS = ["tensor", "dtype", "agree", "max_rel_err", "max_abs_err", "torch_err"]


def fuzz_page(run, target=None, *, report: str | Path | None = None, title: str | None = None,
              frame: pd.DataFrame | None = None, totals: dict | None = None, sample: str = "",
              activation_loss: pd.DataFrame | None = None) -> str:
    """The page of one fuzz run. ``report`` is the JSON report the replay commands point at.

    A long run passes ``frame`` (rows of a sample of its cases, ``tables.Tally``),
    ``totals`` (the overview's counts over every case) and ``sample`` (a note saying so).
    ``activation_loss``: the activation x loss table when the caller has it already
    (``Tally.pivot()``, equal to ``tables.pivot(frame)`` when the frame holds every row),
    else it is computed from ``frame``.
    """

    frame = comparisons_frame(run.results) if frame is None else frame
    title = title or f"crosscheck fuzz: {run.target}"
    verdict = _verdict_html(run)
    overview = _overview(run, frame, totals)
    body = [f"<h1>{_e(title)}</h1>", f"<p class='lead'>{verdict}</p>",
            _table(overview, "The run", text_columns=("", "value")),
            *([f"<p class='note'>{_e(sample)}</p>"] if sample else []),
            *_common_sections(frame, activation_loss),
            "<h2>Findings</h2>"]
    body += _findings_html([(target, f.to_dict()) for f in run.findings], report, start=1)
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
    lead = ("<span class='verdict-ok'>every target agrees with torch</span>" if not n_bad else
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


def audit_sections(data: dict, *, report: str | Path | None = None,
                   heatmaps: dict[str, dict[int, dict]] | None = None) -> dict[str, str]:
    """Figures for ``audit.html`` (the ``extra_sections`` of ``reports.audit.html_report``).

    ``""``: the error distributions per tensor kind and dtype and the per-layer
    bars, over the worst error of every target and tensor (an audit record keeps
    no per-case rows). Per target: each finding's replay command and the heatmap
    of its minimal example, drawn from ``heatmaps`` (target name -> finding index
    in its record -> tensor -> ``replay.Elementwise``), which the audit computed
    while the target's process was up; this module runs no audited code.
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
        _svg_img(error_distribution_figure(frame, unit="target tensors"),
                 "error distributions per tensor kind and dtype"),
        _svg_img(layer_error_figure(frame), "median and worst relative error per layer and dtype")])}
    number = 0
    for t in data.get("targets", []):
        parts = []
        for i, f in enumerate(t.get("findings") or [], 1):
            number += 1  # replay numbers findings across targets, in report order
            drawable = [c["tensor"] for c in f.get("comparisons") or [] if c.get("status") in ("mismatch", "nonfinite")]
            what = ", ".join(f.get("tensors") or []) or (f.get("crash") or {}).get("type", "")
            head = f"<p><b>{i}. {_e(f.get('kind'))}: {_e(what)}</b>"
            if report is not None and isinstance(f.get("example"), dict):
                head += f": replay with <code>{_e(replay_command(report, number))}</code>"
            head += "</p>"
            views = ((heatmaps or {}).get(t["name"]) or {}).get(i - 1)
            if views and drawable:
                head += _drawn_heatmap(views, drawable)
            parts.append(head)
        if parts:
            out[t["name"]] = "".join(parts)
    return out


def _drawn_heatmap(views: dict, tensors: list[str]) -> str:
    fig = heatmap_figure(views)
    if fig is None:
        return "<p class='note'>No heatmap: the target returned no array for the failing tensors.</p>"
    return ("<p class='note'>Heatmap of the minimal example: |candidate - torch| per element, "
            "elements over budget outlined in red.</p>" + _img(fig, f"heatmap of {', '.join(tensors)}"))


# -- sections shared by every page -----------------------------------------------------------

def _common_sections(frame: pd.DataFrame, activation_loss: pd.DataFrame | None = None) -> list[str]:
    errors = _Errors.of(frame)  # read once for the table and both figures
    out = ["<h2>Errors per tensor kind and dtype</h2>",
           "<p class='note'>Relative errors are normwise: the largest absolute difference over the tensor's "
           "largest true magnitude. torch error: torch's own error at the candidate's precision (the noise the "
           "budget is built from).</p>",
           _table(kind_dtype_table(frame, errors), "Per tensor kind and dtype", text_columns=("kind", "dtype"),
                  bad_columns=("disagreements",)),
           _svg_img(error_distribution_figure(frame, errors=errors),
                    "error distributions per tensor kind and dtype"),
           "<h2>Errors per layer</h2>",
           _svg_img(layer_error_figure(frame, errors), "median and worst relative error per layer and dtype"),
           "<h2>Activation x loss</h2><p>A case counts under every activation it uses.</p>",
           _table(pivot(frame) if activation_loss is None else activation_loss, "Cases per activation and loss",
                  text_columns=("activation", "loss"),
                  bad_columns=("disagreements",))]
    return out


def kind_dtype_table(frame: pd.DataFrame, errors: "_Errors | None" = None) -> pd.DataFrame:
    """Per tensor kind and dtype: tensors, disagreements, median/worst relative error, worst torch error.

    Rows in ``KIND_ORDER``, then by dtype. The worst relative and torch errors skip NaN (``inf`` counts);
    the median relative and worst absolute errors are over finite values only.
    """
    cols = ["kind", "dtype", "tensors", "disagreements", "median rel err", "worst rel err", "worst abs err",
            "worst torch err"]
    e = _Errors.of(frame) if errors is None else errors  # (the frame's, when a page has them already)
    if not len(e.kind):
        return pd.DataFrame(columns=cols)
    rows = []
    for kind in KIND_ORDER:
        in_kind = e.kind == kind
        for dtype in sorted(set(e.dtype[in_kind])):
            chosen = in_kind & (e.dtype == dtype)
            rel, ab = e.rel[chosen], e.abs[chosen]
            finite_rel, finite_abs = rel[np.isfinite(rel)], ab[np.isfinite(ab)]
            rows.append({"kind": kind, "dtype": dtype, "tensors": int(chosen.sum()),
                         "disagreements": int((~e.agree[chosen]).sum()),
                         "median rel err": float(np.median(finite_rel)) if len(finite_rel) else math.nan,
                         "worst rel err": _max_skipping_nan(rel),
                         "worst abs err": float(finite_abs.max()) if len(finite_abs) else math.nan,
                         "worst torch err": _max_skipping_nan(e.torch[chosen])})
    out = pd.DataFrame(rows, columns=cols)
    if out["worst torch err"].isna().all():  # measured only where a budget needed it, and nowhere here
        out = out.drop(columns="worst torch err")
    return out


def _max_skipping_nan(a: np.ndarray) -> float:
    """The largest value of ``a`` that is not NaN (``inf`` included), NaN if there is none (pandas' ``max``)."""
    a = a[~np.isnan(a)]
    return float(a.max()) if len(a) else math.nan


# -- figures ----------------------------------------------------------------------------------

@dataclass
class _Errors:
    """The columns the tables and figures need, as NumPy arrays over the rows that name a tensor.

    One pass over the frame instead of a pandas selection per kind, dtype and layer:
    each distinct tensor name is parsed once (``tensor_kind``, ``tensor_layer``) and
    spread to its rows. ``rel``, ``abs`` and ``torch`` are the relative, absolute and
    torch errors as floats (NaN where missing or not a number); ``agree`` is the
    verdict as ``bool(value)``, as pandas' ``astype(bool)`` reads it.
    """

    kind: np.ndarray
    layer: np.ndarray
    dtype: np.ndarray
    rel: np.ndarray
    abs: np.ndarray
    torch: np.ndarray
    agree: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame) -> "_Errors":
        if not len(frame):
            return cls(*(np.array([], dtype=t) for t in (str, int, str, float, float, float, bool)))
        codes, names = pd.factorize(frame["tensor"].astype(str))
        # a crash row names no tensor, the row of a folded case (``CaseResult.folded``) no single one
        named = np.array([n not in ("", FOLDED) for n in names], dtype=bool)
        keep = named[codes]
        codes = codes[keep]
        kinds = np.array([tensor_kind(n) if m else "" for n, m in zip(names, named)], dtype=str)
        layers = np.array([tensor_layer(n) if m else 0 for n, m in zip(names, named)], dtype=int)

        def floats(column: str) -> np.ndarray:
            return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)[keep]

        return cls(kinds[codes], layers[codes], frame["dtype"].astype(str).to_numpy(dtype=str)[keep],
                   floats("max_rel_err"), floats("max_abs_err"), floats("torch_err"),
                   frame["agree"].astype(bool).to_numpy(dtype=bool)[keep])


#: Pixel geometry of the histogram panels (one per tensor kind) and of the per-layer bars.
PANEL_WIDTH, PANEL_GAP, PANEL_HEIGHT = 236, 14, 190


def error_distribution_figure(frame: pd.DataFrame, unit: str = "tensors", errors: "_Errors | None" = None) -> str:
    """One histogram per tensor kind of log10(relative error), a color per dtype; exact zeros in their own
    bar. SVG text (``svg``): each histogram is one filled step outline, the panels share their y axis."""
    e = _Errors.of(frame) if errors is None else errors  # (the frame's, when a page has them already)
    present = set(e.kind)
    kinds = [k for k in KIND_ORDER if k in present]
    if not kinds:
        return _no_tensors(PANEL_WIDTH + 72, PANEL_HEIGHT + 60)
    finite = np.isfinite(e.rel)
    worst = float(e.rel[finite].max()) if finite.any() else 1.0
    top = min(math.ceil(math.log10(max(worst, 1.0))) + 1, math.log10(CEILING))
    bins = np.arange(math.log10(FLOOR), top + 0.01, 0.5)
    exact = bins[0] - 1  # where the bar of exact zeros stands, left of the first bin
    panels = []  # per kind: [(dtype, color, counts per bin, exact zeros)], title notes, disagreements
    for kind in kinds:
        in_kind = e.kind == kind
        drawn, notes = [], []
        for dtype, color in DTYPE_COLORS.items():
            chosen = in_kind & (e.dtype == dtype)
            rel = e.rel[chosen & finite]
            if not len(rel):
                continue
            counts, _ = np.histogram(np.log10(np.clip(rel[rel > 0], FLOOR, CEILING)), bins=bins)
            drawn.append((dtype, color, counts, int((rel <= 0).sum())))
            bad = int((chosen & ~finite).sum())
            if bad:
                notes.append(f"+{bad} {dtype} non-finite")
        n_bad = int((~e.agree[in_kind]).sum())
        if n_bad:
            notes.insert(0, f"{n_bad} disagree")
        panels.append((kind, drawn, notes, n_bad))

    tallest = max([1] + [max(int(counts.max(initial=0)), zeros) for _, d, _, _ in panels for _, _, counts, zeros in d])
    ylim = (0.0, tallest * 1.05)
    yticks = svg.nice_ticks(*ylim, integer=True)
    span = bins[-1] - (exact - 0.45)
    xlim = (exact - 0.45 - 0.05 * span, bins[-1] + 0.05 * span)
    xticks = [exact, -15, -10, -5, 0][: 5 if top >= 0 else 4]
    xlabels = ["exact", "-15", "-10", "-5", "0"][: len(xticks)]

    left, right = 60, 12
    width = left + len(kinds) * PANEL_WIDTH + (len(kinds) - 1) * PANEL_GAP + right
    suptitle = svg.wrap("log10 relative error per tensor kind; the hatched bar (exact) counts errors of exactly 0; "
                        f"errors over {CEILING:g} are counted at {CEILING:g}", width - 20, 12.5)
    title_lines = 2 if any(notes for _, _, notes, _ in panels) else 1
    plot_top = 8 + 17 * len(suptitle) + 15 * title_lines + 8
    c = svg.Canvas(width, plot_top + PANEL_HEIGHT + 44)
    hatch = c.hatch("exact")
    for i, line in enumerate(suptitle):
        c.text(width / 2, 21 + 17 * i, line, size=12.5)
    for i, (kind, drawn, notes, n_bad) in enumerate(panels):
        ax = svg.Axes(c, left + i * (PANEL_WIDTH + PANEL_GAP), plot_top, PANEL_WIDTH, PANEL_HEIGHT, xlim, ylim)
        for dtype, color, counts, zeros in drawn:
            steps = "".join(f"V{svg.num(ax.y(n))}H{svg.num(ax.x(b))}" for n, b in zip(counts, bins[1:]))
            c.path(f"M{svg.num(ax.x(bins[0]))} {svg.num(ax.y(0))}{steps}V{svg.num(ax.y(0))}Z", fill=color,
                   fill_opacity=0.6)
            if zeros:
                bar = (ax.x(exact - 0.45), ax.y(zeros), ax.x(exact + 0.45) - ax.x(exact - 0.45),
                       ax.y(0) - ax.y(zeros))
                c.rect(*bar, fill=color, fill_opacity=0.6)
                c.rect(*bar, fill=hatch, fill_opacity=0.6)
        ax.frame()
        ax.xticks(xticks, xlabels)
        ax.yticks(yticks, [svg.tick_label(t) for t in yticks] if i == 0 else None)
        ax.xlabel("log10 relative error")
        color = "#b00020" if n_bad else "#000"
        c.text((ax.left + ax.right) / 2, plot_top - 8 - 15 * (title_lines - 1), kind, size=12, fill=color)
        if notes:
            c.text((ax.left + ax.right) / 2, plot_top - 8, f"({', '.join(notes)})", size=11, fill=color)
        if i == 0:
            ax.ylabel(unit, offset=46)
        if i == len(panels) - 1:
            ax.legend([(dtype, {"fill": color, "fill_opacity": 0.6}) for dtype, color, _, _ in drawn])
    return c.svg()


def layer_error_figure(frame: pd.DataFrame, errors: "_Errors | None" = None) -> str:
    """Per layer and dtype: a bar at the median relative error, a whisker up to the worst (log scale). SVG text."""
    e = _Errors.of(frame) if errors is None else errors  # (the frame's, when a page has them already)
    width, height, left, right, top, bottom = 760, 300, 66, 100, 34, 36
    if not len(e.kind):
        return _no_tensors(width, height)
    layers = sorted(set(e.layer.tolist()), key=lambda l: (l == 0, l))  # dX (layer 0) last: the input
    present = set(e.dtype)
    dtypes = [d for d in DTYPE_COLORS if d in present]
    slot = 0.8 / max(len(dtypes), 1)  # each layer's width (1) shared by its dtypes' bars
    finite = np.isfinite(e.rel)
    bars = []  # (x, dtype, median, worst), errors drawn within FLOOR .. CEILING
    for j, dtype in enumerate(dtypes):
        of_dtype = finite & (e.dtype == dtype)
        for i, layer in enumerate(layers):
            rel = e.rel[of_dtype & (e.layer == layer)]
            if len(rel):
                bars.append((i + (j - (len(dtypes) - 1) / 2) * slot, dtype,
                             min(max(float(np.median(rel)), FLOOR), CEILING),
                             min(max(float(rel.max()), FLOOR), CEILING)))
    lo = math.log10(FLOOR / 10)
    hi = math.log10(max([w for *_, w in bars] or [FLOOR]))
    c = svg.Canvas(width, height)
    ax = svg.Axes(c, left, top, width - left - right, height - top - bottom, (-0.5, len(layers) - 0.5),
                  (lo, hi + 0.05 * (hi - lo)), ylog=True)
    for x, dtype, med, worst in bars:
        c.rect(ax.x(x - 0.45 * slot), ax.y(med), ax.x(x + 0.45 * slot) - ax.x(x - 0.45 * slot),
               ax.bottom - ax.y(med), fill=DTYPE_COLORS[dtype], fill_opacity=0.75)
    for x, dtype, med, worst in bars:  # whiskers over every bar
        px = ax.x(x)
        c.line(px, ax.y(med), px, ax.y(worst), stroke="#333", stroke_width=1)
        for y in (ax.y(med), ax.y(worst)):
            c.line(px - 4, y, px + 4, y, stroke="#333", stroke_width=1)
    ax.frame()
    ax.xticks(list(range(len(layers))), [f"layer {l}" if l else "input (dX)" for l in layers], size=11)
    ax.log_yticks()
    ax.ylabel("relative error", offset=50)
    c.text((ax.left + ax.right) / 2, top - 12, "Per layer: bar = median, whisker = worst (drawn within "
           f"{FLOOR:g} .. {CEILING:g})", size=12.5)
    ax.legend([(d, {"fill": DTYPE_COLORS[d], "fill_opacity": 0.75}) for d in dtypes], where="outside")
    return c.svg()


def _no_tensors(width: float, height: float) -> str:
    c = svg.Canvas(width, height)
    c.text(width / 2, height / 2, "no tensors compared", size=13)
    return c.svg()


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
        parts.append(f"<p><b>Replay:</b> <code>{_e(replay_command(report, number))}</code></p>")
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
    from crosscheck.engine.replay import case_from_example

    try:
        return case_from_example(example, target)
    except ValueError:
        return None


def _heatmap_html(target, case, drawable: list[str]) -> str:
    from crosscheck.engine.replay import elementwise

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
    from crosscheck.model.records import verdict

    return verdict(f.kind for f in run.findings)


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
    """``frame`` as an HTML table without its index: every cell through ``_fmt`` and escaped, numbers
    right-aligned (the page's CSS), ``text_columns`` left-aligned, positive numbers in ``bad_columns`` in red,
    the ``verdict_column`` green where it says "agree" and red elsewhere.

    Written directly rather than with pandas' Styler (the same table and styles): the Styler goes through a
    jinja2 template and a pass per style rule, milliseconds a table, and takes 40 ms to import.
    """
    if frame.empty:
        return f"<p class='note'>{_e(caption)}: none.</p>"
    columns = list(frame.columns)
    roles = [(c in text_columns, c in bad_columns, c == verdict_column) for c in columns]
    out = [f"<table>\n<caption>{_e(caption)}</caption>\n<thead><tr>",
           "".join(f"<th>{_e(c)}</th>" for c in columns), "</tr></thead>\n<tbody>\n"]
    for values in frame.itertuples(index=False, name=None):
        out.append("<tr>")
        for v, role in zip(values, roles):
            css = _cell_style(v, *role)
            out.append(f"<td style='{css}'>{_e(_fmt(v))}</td>" if css else f"<td>{_e(_fmt(v))}</td>")
        out.append("</tr>\n")
    out.append("</tbody>\n</table>")
    return "".join(out)


def _cell_style(v, text: bool, bad: bool, verdict: bool) -> str:
    """The inline style of one table cell: left-aligned text, red for a positive count of bad things,
    green or red for a verdict."""
    rules = []
    if text:
        rules.append("text-align: left")
    if bad and _positive(v):
        rules.append("color: #b00020; font-weight: 600")
    if verdict:
        rules.append("color: #17702f; font-weight: 600" if v == "agree" else "color: #b00020; font-weight: 600")
    return "; ".join(rules)


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


def _svg_img(svg_text: str, alt: str) -> str:
    """An SVG document as an image of the page (inline: a ``data:`` URI, nothing to fetch)."""
    data = base64.b64encode(svg_text.encode("utf-8")).decode("ascii")
    return f"<img class='figure' alt='{_e(alt)}' src='data:image/svg+xml;base64,{data}'>"


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _document(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body) + "\n<p class='note'>Written by crosscheck. Torch in float64 is the truth; "
            "each element's budget is measured on the case itself (see the README).</p></body></html>\n")
