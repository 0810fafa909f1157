"""The HTML pages (fuzz.html, audit.html, pytest.html, train.html): one renderer, one stylesheet.

A page is built as data, a ``Page``: a lead line, then sections of paragraphs,
tables, figures and findings, in reading order. ``render(page)`` turns it into
one self-contained file through the jinja2 templates in ``templates/``
(``page.html`` for every page, ``parts.html`` for tables, figures and findings,
``style.css`` inlined), with autoescape on: every name, message and path a user
controls reaches the page as text, never as markup. The only markup that is not
escaped is a figure's SVG, which matplotlib writes (and escapes) itself.

Figures are matplotlib figures saved as SVG and put inline (nothing is fetched
when the page is opened). matplotlib is imported only when a figure is drawn.
Every error is shown beside its allowance, as ``error / allowed``: under 1
passes. Figures are per target (a page of several targets draws each apart, so
one target's failure never shows on another's chart). A heatmap of a finding
is drawn only for a tensor of at least ``HEATMAP_MIN_SIDE`` x
``HEATMAP_MIN_SIDE`` elements (a bias or a 1-wide matrix shows no pattern; its
worst element is in the failing-tensor table).

``fuzz_page`` and ``targets_page`` (pytest) build their pages here,
``reports.audit.html_page`` and ``reports.train.html_page`` theirs from the same
blocks; ``write(path, text)`` writes one.
"""
from __future__ import annotations

import io
import json
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from crosscheck.engine.replay import replay_command
from crosscheck.reports.figures import (HEATMAP_MIN_SIDE, KIND_ORDER, RATIO_LABEL, Errors, as_float, drawing,
                                        heatmap_figure, layer_ratios, max_finite, max_skipping_nan, median_finite,
                                        ratio_histograms, record_ratio)
from crosscheck.reports.tables import comparisons_frame, pivot


TEMPLATES = Path(__file__).resolve().parent / "templates"


# -- the page as data -------------------------------------------------------------------------

@dataclass
class Span:
    text: str
    css: str = ""


@dataclass
class Text:
    text: str
    css: str = ""
    kind: str = "text"


@dataclass
class Code:
    """A line of text ending in a command or a value shown as code."""

    text: str
    code: str
    css: str = ""
    kind: str = "code"


@dataclass
class Pre:
    text: str
    kind: str = "pre"


@dataclass
class Cell:
    text: str
    css: str = "num"


@dataclass
class Table:
    caption: str
    columns: list[str]
    rows: list[list[Cell]]
    kind: str = "table"


@dataclass
class Figure:
    """An inline SVG figure, or (``svg`` None) a note saying why there is none."""

    alt: str
    svg: object = None  # markupsafe.Markup of matplotlib's SVG
    caption: str = ""
    kind: str = "figure"


@dataclass
class FindingView:
    number: int
    kind_name: str
    what: str
    level: int = 3
    labels: str = ""
    message: str = ""
    example_label: str = "Minimal example"
    example_text: str = ""
    example: str = ""
    first_seen: object = None
    replay: str = ""
    crash: str = ""
    table: Table | None = None
    messages: str = ""
    heatmap: Figure | None = None
    kind: str = "finding"
    css: str = "finding"  # "finding fragile" for a fragile finding (``judge.fragility``)


@dataclass
class Section:
    heading: str = ""
    blocks: list = field(default_factory=list)
    level: int = 2
    id: str = ""
    css: str = ""


@dataclass
class Page:
    title: str
    lead: list[Span]
    sections: list[Section]


def breakable(text) -> object:
    """``text`` escaped, with a line-break opportunity after each ``.``, ``/`` and ``_``: a long target name
    or path wraps at its dots and slashes instead of widening its table (and never inside a number: only
    text cells use this)."""
    from markupsafe import Markup, escape

    out = str(escape(text))
    for mark in "./_":
        out = out.replace(mark, mark + "<wbr>")
    return Markup(out)


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["breakable"] = breakable
    return env


def render(page: Page) -> str:
    """The page as one self-contained HTML document (``templates/page.html``, autoescaped)."""
    return _environment().get_template("page.html").render(title=page.title, lead=page.lead,
                                                           sections=page.sections)


def write(path: str | Path, page: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


# -- tables -------------------------------------------------------------------------------------

def table(frame: pd.DataFrame, caption: str, *, text_columns=(), wide_columns=(), bad_columns=(),
          verdict_column=None, ratio_columns=()) -> Table:
    """``frame`` as a page table without its index, every cell through ``_fmt``.

    Numbers are right-aligned and never wrap; ``text_columns`` are left-aligned and wrap
    (``wide_columns`` among them get room for a sentence); positive numbers in ``bad_columns``
    and ratios of 1 or more in ``ratio_columns`` are red; the ``verdict_column`` is coloured by
    ``verdict_css``: green where it says "agree", amber for "fragile", red elsewhere.
    """
    columns = list(frame.columns)
    roles = []
    for c in columns:
        css = "verdict" if c == verdict_column else \
            ("text wide" if c in wide_columns else "text") if c in text_columns else "num"
        roles.append((css, c in bad_columns, c == verdict_column, c in ratio_columns))
    rows = []
    for values in frame.itertuples(index=False, name=None):
        row = []
        for v, (css, bad, verdict, ratio) in zip(values, roles):
            if css.startswith("text") and math.isfinite(as_float(v)):
                css = "num"  # a number in a text column (the overview's values) stays whole too
            if (bad and as_float(v) > 0) or (ratio and as_float(v) >= 1):
                css += " bad"
            if verdict:
                css += " " + verdict_css(v)
            row.append(Cell(_fmt(v), css))
        rows.append(row)
    return Table(caption, columns, rows)


def verdict_css(verdict) -> str:
    """The colour of a verdict, one rule for every page: ``ok`` (green) for agree, ``warn`` (amber) for
    fragile, ``bad`` (red) for every other verdict."""
    return "ok" if verdict in ("agree", "yes") else "warn" if verdict == "fragile" else "bad"


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return "-"  # not measured (torch's own error is measured only where a budget needs it)
        return f"{v:.3g}" if math.isfinite(v) else str(v)
    return str(v)


# -- figures ------------------------------------------------------------------------------------


def figure(draw, alt: str, *args, caption: str = "", empty: str = "", **kw) -> Figure:
    """``draw(*args, **kw)`` (a function that returns a matplotlib Figure, or None for nothing to draw)
    as an inline SVG page figure with ``caption``; ``empty`` is the note shown when there is nothing to draw."""
    from markupsafe import Markup

    with drawing():
        fig = draw(*args, **kw)
        if fig is None:
            return Figure(alt, None, empty)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})  # the same run, the same page
    text = buf.getvalue()
    return Figure(alt, Markup(text[text.index("<svg"):]), caption)


# -- the tables every page of runs shares -----------------------------------------------------

def kind_dtype_table(frame: pd.DataFrame, errors: "Errors | None" = None) -> pd.DataFrame:
    """Per tensor kind and dtype: tensors, disagreements, median/worst error / allowed, median/worst relative
    error, worst absolute and torch error.

    Rows in ``KIND_ORDER``, then by dtype. The worst values skip NaN (``inf`` counts); the medians and the
    worst absolute error are over finite values only.
    """
    cols = ["kind", "dtype", "tensors", "disagreements", f"median {RATIO_LABEL}", f"worst {RATIO_LABEL}",
            "median rel err", "worst rel err", "worst abs err", "worst torch err"]
    e = Errors.of(frame) if errors is None else errors
    if not len(e.kind):
        return pd.DataFrame(columns=cols)
    rows = []
    for kind in KIND_ORDER:
        in_kind = e.kind == kind
        for dtype in sorted(set(e.dtype[in_kind])):
            chosen = in_kind & (e.dtype == dtype)
            rows.append({"kind": kind, "dtype": dtype, "tensors": int(chosen.sum()),
                         "disagreements": int((~e.agree[chosen]).sum()),
                         f"median {RATIO_LABEL}": median_finite(e.ratio[chosen]),
                         f"worst {RATIO_LABEL}": max_skipping_nan(e.ratio[chosen]),
                         "median rel err": median_finite(e.rel[chosen]),
                         "worst rel err": max_skipping_nan(e.rel[chosen]),
                         "worst abs err": max_finite(e.abs[chosen]),
                         "worst torch err": max_skipping_nan(e.torch[chosen])})
    out = pd.DataFrame(rows, columns=cols)
    if out["worst torch err"].isna().all():  # measured only where a budget needed it, and nowhere here
        out = out.drop(columns="worst torch err")
    return out


def _run_sections(frame: pd.DataFrame, name: str, activation_loss: pd.DataFrame | None = None, *,
                  unit: str = "tensors") -> list:
    """The tables and figures of one target's comparisons: per tensor kind and dtype, per layer, and
    (for a fuzz run) activation x loss."""
    e = Errors.of(frame)  # read once for the table and both figures
    blocks = [Text("Each tensor's error is shown over its allowance (error / allowed: under 1 passes). Relative "
                   "errors are normwise: the largest absolute difference over the tensor's largest true "
                   "magnitude. torch err: torch's own error at the candidate's precision.", "note"),
              table(kind_dtype_table(frame, e), f"{name}: per tensor kind and dtype", text_columns=("kind", "dtype"),
                    bad_columns=("disagreements",), ratio_columns=(f"worst {RATIO_LABEL}",)),
              figure(ratio_histograms, f"{RATIO_LABEL} per tensor kind and dtype of {name}", e,
                     f"{name}: {RATIO_LABEL} per tensor kind (dashed: the allowance)", unit,
                     empty="No tensor was compared."),
              figure(layer_ratios, f"median and worst {RATIO_LABEL} per layer of {name}", e,
                     f"{name}: per layer, bar = median, whisker = worst")]
    if activation_loss is not None:
        blocks.append(table(activation_loss, "Cases per activation and loss (a case counts under every "
                                             "activation it uses)", text_columns=("activation", "loss"),
                            bad_columns=("disagreements",), ratio_columns=("worst_ratio",)))
    return [b for b in blocks if not (isinstance(b, Figure) and b.svg is None and not b.caption)]  # nothing drawn, nothing said


# -- findings ------------------------------------------------------------------------------------

def finding_view(number: int, finding: dict, *, report=None, heading_level: int = 3, case_text: str = "",
                 heatmap: Figure | None = None) -> FindingView:
    """One finding record (``summary.json``, ``audit.json``, ``pytest.json``) as the page shows it."""
    crash = finding.get("crash")
    example = finding.get("example")
    comparisons = finding.get("comparisons") or []
    rows = [{"tensor": c.get("tensor"), "status": c.get("status"),
             "mismatching": f"{c.get('mismatches')} / {c.get('size')}", RATIO_LABEL: record_ratio(c),
             "worst abs err": as_float(c.get("max_abs_err")), "allowed": as_float(c.get("allowed_abs_err")),
             "torch err": as_float(c.get("torch_err")), "rel err": as_float(c.get("max_rel_err")),
             "at": "" if c.get("worst_index") is None else str(tuple(c["worst_index"]))} for c in comparisons]
    return FindingView(
        number, str(finding.get("kind", "?")),
        ", ".join(finding.get("tensors") or []) or str((crash or {}).get("type", "")), heading_level,
        ", ".join(finding.get("diagnosis") or []), str(finding.get("message", "")),
        "Minimal example" if finding.get("shrunk", True) else "Example (not shrunk)", case_text,
        json.dumps(example) if example else "", finding.get("first_seen"),
        replay_command(report, number) if report is not None and isinstance(example, dict) else "",
        "" if not crash else str(crash.get("traceback") or f"{crash.get('type', '')}: {crash.get('message', '')}"),
        table(pd.DataFrame(rows), "Failing tensors", text_columns=("tensor", "status", "at"),
              ratio_columns=(RATIO_LABEL,)) if rows else None,
        "\n".join(str(c.get("message", "")) for c in comparisons),
        heatmap, css="finding fragile" if finding.get("fragile") else "finding")


def case_of(example, target):
    if not isinstance(example, dict):
        return None
    from crosscheck.engine.replay import case_from_example

    try:
        return case_from_example(example, target)
    except (ValueError, TypeError, KeyError):  # a record from elsewhere that is not a case: no description
        return None


def drawable_tensors(finding: dict) -> list[str]:
    return [c["tensor"] for c in finding.get("comparisons") or [] if c.get("status") in ("mismatch", "nonfinite")]


def heatmap_of(views, note: str = "No heatmap: none was computed.") -> Figure:
    """The page figure of a finding's heatmap data (``heatmap_figure``: ``{tensor: views}``), or a note saying
    why there is none (``views`` a string giving the reason, or None for ``note``)."""
    if isinstance(views, str) or not views:
        return Figure("", None, views if isinstance(views, str) else note)
    names = ", ".join(views)
    fig = figure(heatmap_figure, f"heatmap of {names}", views, empty="",
                 caption=f"The replayed minimal example, element by element: log10 {RATIO_LABEL}, elements over "
                         "their allowance outlined in red.")
    if fig.svg is None:
        return Figure("", None, f"No heatmap: {names} {'is' if len(views) == 1 else 'are'} smaller than "
                                f"{HEATMAP_MIN_SIDE} x {HEATMAP_MIN_SIDE} (see the worst element in the table).")
    return fig


def _replayed_heatmap(target, case, drawable: list[str]) -> Figure:
    """Replay the minimal example in this process (``replay.elementwise``) for its heatmap."""
    from crosscheck.engine.replay import elementwise

    if target is None or case is None:
        return heatmap_of(None, "No heatmap: the page was built without the target to replay.")
    if not drawable:
        return heatmap_of(None, "No heatmap: the failing tensors have the wrong shape or are missing.")
    try:
        with np.errstate(all="ignore"):
            views = elementwise(target, case, drawable)
    except Exception as e:  # the target fails differently on a second run: say so, keep the page
        return heatmap_of(None, f"No heatmap: replaying the minimal example raised {type(e).__name__}: {e}")
    return heatmap_of({k: v for k, v in views.items() if v.candidate is not None} or None,
                      "No heatmap: the replay returned no array for the failing tensors.")


def _findings(pairs, report, start: int, level: int = 3) -> list:
    """Finding blocks of ``(target, finding record)`` pairs, numbered from ``start``, heatmaps by replay."""
    out = []
    for n, (target, f) in enumerate(pairs, start):
        case = case_of(f.get("example"), target)
        heat = None if f.get("crash") else _replayed_heatmap(target, case, drawable_tensors(f))
        out.append(finding_view(n, f, report=report, heading_level=level,
                                case_text=case.describe() if case else "", heatmap=heat))
    return out


# -- fuzz.html ----------------------------------------------------------------------------------

#: The columns of ``tables.COLUMNS`` that ``fuzz_page`` reads from its ``frame`` when it is given
#: ``activation_loss`` (``Tally.frame(FRAME_COLUMNS)`` builds only these).
FRAME_COLUMNS = ["tensor", "dtype", "agree", "ratio", "max_rel_err", "max_abs_err", "allowed_abs_err", "torch_err"]


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
    n = len(run.findings)
    fragile = sum(1 for f in run.findings if f.fragile)
    lead = ([Span("Every gradient agrees with torch", "ok"), Span(f" on {len(run.results)} cases.")] if not n else
            [Span(f"{n} distinct finding{'s' if n != 1 else ''}", verdict_css(_verdict(run))),
             Span(f" in {len(run.results)} cases" + (f" ({fragile} fragile)." if fragile else "."))])
    overview = [table(_overview(run, frame, totals), "The run", text_columns=("", "value"))]
    if sample:
        overview.append(Text(sample, "note"))
    findings = _findings([(target, f.to_dict()) for f in run.findings], report, start=1)
    sections = [Section("", overview),
                Section("Errors per tensor kind, dtype and layer",
                        _run_sections(frame, str(run.target), pivot(frame) if activation_loss is None
                                      else activation_loss)),
                Section("Findings", findings or [Text("Every gradient agrees with torch.", "ok")])]
    return render(Page(title, lead, sections))


def write_fuzz(run, path: str | Path, target=None, *, report: str | Path | None = None, **page) -> Path:
    return write(path, fuzz_page(run, target, report=report, **page))


def _overview(run, frame: pd.DataFrame, totals: dict | None = None) -> pd.DataFrame:
    """The run at a glance; the worst error / allowed and relative error per dtype. ``totals`` (a long run's
    counts over every case, ``Tally.totals()``) replace what the frame, a sample, says."""
    e = Errors.of(frame)
    rows = {"target": run.target, "cases": len(run.results), "tensors compared": len(frame),
            "disagreeing tensors": int((~frame["agree"].astype(bool)).sum()) if len(frame) else 0,
            "distinct findings": len(run.findings)}
    for dtype in sorted(set(e.dtype)):
        rows[f"worst {RATIO_LABEL}, {dtype}"] = max_finite(e.ratio[e.dtype == dtype])
    for dtype in sorted(set(e.dtype)):
        rows[f"worst relative error, {dtype}"] = max_finite(e.rel[e.dtype == dtype])
    if totals:
        rows = {k: v for k, v in rows.items() if not k.startswith("worst ")}
        rows.update((k, v) for k, v in totals.items() if k in rows or k.startswith(("worst ", "disagreeing")))
        rows.pop("worst relative error", None)  # the per-dtype rows say it
    rows["seconds"] = round(run.seconds, 2)
    if run.seconds:
        rows["cases per second"] = round(len(run.results) / run.seconds, 1)
    if getattr(run, "replayed", 0):
        rows["saved failures replayed first"] = run.replayed
    if run.stopped:
        rows["stopped early"] = run.stopped
    return pd.DataFrame([{"": k, "value": v if isinstance(v, str) else _fmt(v)} for k, v in rows.items()])


# -- pytest.html: several targets, each with its own figures ----------------------------------------

@dataclass
class TargetEntry:
    """One target of a page of several (pytest).

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


def _verdict(run) -> str:
    from crosscheck.model.records import verdict

    return verdict(f.verdict_kind for f in run.findings)


def targets_lead(verdicts: list[str]) -> list[Span]:
    n_bad = sum(1 for v in verdicts if v not in ("agree", "fragile"))
    n_fragile = sum(1 for v in verdicts if v == "fragile")
    if not n_bad and not n_fragile:
        return [Span("Every target agrees with torch.", "ok")]
    targets = f"of {len(verdicts)} target{'s' if len(verdicts) != 1 else ''}"
    out = []
    if n_bad:
        out.append(Span(f"{n_bad} {targets} disagree{'s' if n_bad == 1 else ''} with torch.", "bad"))
    if n_fragile:
        out += [Span(" ")] if out else []
        out.append(Span(f"{n_fragile} {targets} {'is' if n_fragile == 1 else 'are'} fragile: "
                        "right wherever finite, inf or NaN only at edge data.", "warn"))
    return out


def targets_page(title: str, entries: list[TargetEntry], *, report: str | Path | None = None,
                 intro: str = "") -> str:
    """One page for several targets (``pytest --crosscheck-report``): a row per target, then each target
    with its own tables, figures and findings."""
    rows = []
    for e in entries:
        errors = Errors.of(e.frame)
        rows.append({"target": e.name, "file": _short_path(e.file), "verdict": e.verdict, "cases": e.cases,
                     "tensors compared": int(len(e.frame)), "findings": len(e.findings),
                     f"worst {RATIO_LABEL}": max_finite(errors.ratio) if len(errors.ratio) else 0.0,
                     "seconds": round(e.seconds, 2), **e.extra, "note": e.note})
    text = ("target", "file", "note", *(k for e in entries for k in e.extra))
    sections = [Section("", [*([Text(intro)] if intro else []),
                             table(pd.DataFrame(rows), "Targets", text_columns=text, wide_columns=("note",),
                                   verdict_column="verdict", bad_columns=("findings",),
                                   ratio_columns=(f"worst {RATIO_LABEL}",))])]
    number = 1
    for i, e in enumerate(entries, 1):
        blocks = [Text(f"{e.verdict}; {e.cases} cases; file {_short_path(e.file) or '-'}"
                       + (f"; {e.note}" if e.note else ""), verdict_css(e.verdict)),
                  *_run_sections(e.frame, e.name)]
        blocks += _findings([(e.target, f) for f in e.findings], report, start=number, level=3)
        number += len(e.findings)
        sections.append(Section(e.name, blocks, id=f"target-{i}", css="target"))
    return render(Page(title, targets_lead([e.verdict for e in entries]), sections))


def _short_path(path: str | None) -> str:
    """A file path relative to the current folder when it is under it."""
    if not path:
        return ""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


# -- audit.html ---------------------------------------------------------------------------------
