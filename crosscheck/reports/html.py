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

``fuzz_page``, ``targets_page``, ``audit_page`` and ``train_page`` build the
pages; ``write(path, text)`` writes one.
"""
from __future__ import annotations

import io
import json
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from crosscheck.model.records import FOLDED
from crosscheck.model.vocabulary import tensor_kind, tensor_layer
from crosscheck.engine.replay import replay_command
from crosscheck.reports.tables import comparisons_frame, pivot

#: Tensor kinds in the order tables and figures show them; ``FOLDED`` (``model.records``) is the one row of an
#: agreeing case whose tensors are not written one by one.
KIND_ORDER = ("W", "b", "dZ", "dA", "dX", FOLDED)
#: How the figures title a kind.
KIND_TITLES = {FOLDED: "all (an agreeing case's worst tensor)"}
DTYPE_COLORS = {"float64": "#1f77b4", "float32": "#ff7f0e"}
#: Ratios (error / allowed) below this are drawn at this floor (log scales have no 0) ...
FLOOR = 1e-12
#: ... and above this at this ceiling (a candidate of 1e300 would squash every other bar).
CEILING = 1e6
#: A heatmap needs this many rows and columns at least (2 x 2, so 4 elements) to show a pattern.
HEATMAP_MIN_SIDE = 2
#: Annotate each heatmap cell with its ratio up to this many elements.
ANNOTATE_UP_TO = 36
#: The column of the error over its allowance in a frame of comparisons, when the records carry it.
RATIO = "ratio"
#: The name of that ratio on the pages.
RATIO_LABEL = "error / allowed"

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
    and ratios of 1 or more in ``ratio_columns`` are red; the ``verdict_column`` is green where it says
    "agree" and red elsewhere.
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
            if (bad and _number(v) > 0) or (ratio and _number(v) >= 1):
                css += " bad"
            if verdict:
                css += " ok" if v in ("agree", "yes") else " bad"
            row.append(Cell(_fmt(v), css))
        rows.append(row)
    return Table(caption, columns, rows)


def _number(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return "-"  # not measured (torch's own error is measured only where a budget needs it)
        return f"{v:.3g}" if math.isfinite(v) else str(v)
    return str(v)


def ratios(frame: pd.DataFrame) -> np.ndarray:
    """Each row's error over its allowance: the records' ``ratio`` when they carry it, else the worst
    absolute error over the allowance at that element (NaN where either is missing)."""
    if RATIO in frame.columns:
        return pd.to_numeric(frame[RATIO], errors="coerce").to_numpy(dtype=float)
    err = pd.to_numeric(frame["max_abs_err"], errors="coerce").to_numpy(dtype=float)
    allowed = pd.to_numeric(frame["allowed_abs_err"], errors="coerce").to_numpy(dtype=float) \
        if "allowed_abs_err" in frame.columns else np.full(len(frame), math.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(err == 0, 0.0, err / allowed)


def worst_ratio(records: list[dict]) -> float:
    """The largest finite ``record_ratio`` of ``records`` (NaN when none is finite)."""
    return _max_finite(np.array([record_ratio(r) for r in records], dtype=float))


def record_ratio(record: dict) -> float:
    """``ratios`` of one comparison or tensor record (a dict of ``summary.json``, ``audit.json``, ...)."""
    if RATIO in record:
        return _number(record[RATIO])
    err, allowed = _number(record.get("max_abs_err")), _number(record.get("allowed_abs_err"))
    if err == 0:
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(err) / np.float64(allowed))


# -- figures ------------------------------------------------------------------------------------

@contextmanager
def _drawing():
    """matplotlib's settings for the pages' figures: text kept as text in the SVG (small, selectable),
    ids salted the same way every time (the same page for the same run), no math parsing of names."""
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "crosscheck", "text.parse_math": False,
                                "font.size": 9, "axes.titlesize": 9.5, "axes.labelsize": 8.5,
                                "xtick.labelsize": 7.5, "ytick.labelsize": 7.5, "legend.fontsize": 7.5}):
        yield


def figure(draw, alt: str, *args, caption: str = "", empty: str = "", **kw) -> Figure:
    """``draw(*args, **kw)`` (a function that returns a matplotlib Figure, or None for nothing to draw)
    as an inline SVG page figure with ``caption``; ``empty`` is the note shown when there is nothing to draw."""
    from markupsafe import Markup

    with _drawing():
        fig = draw(*args, **kw)
        if fig is None:
            return Figure(alt, None, empty)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})  # the same run, the same page
    text = buf.getvalue()
    return Figure(alt, Markup(text[text.index("<svg"):]), caption)


def log_scale(axis) -> None:
    """The ticks of a log-scaled ``axis`` (``ax.xaxis`` or ``ax.yaxis``, after ``set_xscale("log")``) labelled 1e-6, 1, 1e+3 (plain text: the pages
    draw without math text, so that no name is ever parsed as a formula)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, numticks=8))
    axis.set_major_formatter(FuncFormatter(lambda v, _: "1" if v == 1 else f"{v:.0e}".replace("e-0", "e-")
                                           .replace("e+0", "e+")))
    axis.set_minor_formatter(NullFormatter())


def new_figure(width: float, height: float, layout: str | None = "constrained"):
    """A matplotlib figure of ``width`` x ``height`` inches. The summary figures pass ``layout=None`` and
    place their axes by hand (constrained layout costs them half their drawing time)."""
    from matplotlib.figure import Figure as MplFigure

    return MplFigure(figsize=(width, height), layout=layout)


@dataclass
class _Errors:
    """The columns the tables and figures need, as NumPy arrays over the rows that name a tensor.

    One pass over the frame instead of a pandas selection per kind, dtype and layer:
    each distinct tensor name is parsed once (``tensor_kind``, ``tensor_layer``) and
    spread to its rows. ``rel``, ``abs``, ``torch`` and ``ratio`` are the relative,
    absolute and torch errors and the error over its allowance, as floats (NaN where
    missing or not a number); ``agree`` is the verdict as ``bool(value)``.
    """

    kind: np.ndarray
    layer: np.ndarray
    dtype: np.ndarray
    rel: np.ndarray
    abs: np.ndarray
    torch: np.ndarray
    ratio: np.ndarray
    agree: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame) -> "_Errors":
        if not len(frame):
            return cls(*(np.array([], dtype=t) for t in (str, int, str, float, float, float, float, bool)))
        codes, names = pd.factorize(frame["tensor"].astype(str))
        # a crash row names no tensor; the row of a folded case (``CaseResult.folded``: an agreeing case in one
        # row, its worst tensor's figures) counts as its own kind, ``FOLDED``, in no layer (-1)
        keep = (names != "")[codes]
        codes = codes[keep]
        kinds = np.array([FOLDED if n == FOLDED else tensor_kind(n) if n else "" for n in names], dtype=str)
        layers = np.array([-1 if n == FOLDED else tensor_layer(n) if n else 0 for n in names], dtype=int)

        def floats(column: str) -> np.ndarray:
            if column not in frame.columns:
                return np.full(int(keep.sum()), math.nan)
            return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)[keep]

        return cls(kinds[codes], layers[codes], frame["dtype"].astype(str).to_numpy(dtype=str)[keep],
                   floats("max_rel_err"), floats("max_abs_err"), floats("torch_err"), ratios(frame)[keep],
                   frame["agree"].astype(bool).to_numpy(dtype=bool)[keep])


def _clipped_log(values: np.ndarray) -> np.ndarray:
    return np.log10(np.clip(values, FLOOR, CEILING))


def ratio_histograms(e: _Errors, title: str, unit: str = "tensors"):
    """One histogram per tensor kind of log10(error / allowed), a color per dtype, the allowance a dashed
    line at 0 (left of it passes); errors of exactly 0 in their own hatched bar, left of the axis."""
    present = set(e.kind)
    kinds = [k for k in KIND_ORDER if k in present]
    if not kinds:
        return None
    finite = np.isfinite(e.ratio)
    worst = float(e.ratio[finite].max()) if finite.any() else 1.0
    top = min(max(math.ceil(math.log10(max(worst, 1.0))) + 1, 1), math.log10(CEILING))
    bottom = math.log10(FLOOR)
    bins = np.arange(bottom, top + 0.01, 0.5)
    exact = bottom - 2.0  # the bar of exact zeros, apart from the axis
    cols = min(len(kinds), 3)  # at most three panels a row: readable on a narrow screen
    rows = math.ceil(len(kinds) / cols)
    width, height = 1.0 + 2.6 * cols, 0.6 + 2.4 * rows
    fig = new_figure(width, height, layout=None)
    fig.subplots_adjust(left=0.7 / width, right=1 - 0.15 / width, bottom=0.55 / height, top=1 - 0.75 / height,
                        wspace=0.12, hspace=0.65)
    grid = fig.subplots(rows, cols, sharey=True, squeeze=False).ravel()
    for ax in grid[len(kinds):]:
        ax.set_axis_off()
    axes = grid[: len(kinds)]
    fig.suptitle(title)
    for ax, kind in zip(axes, kinds):
        in_kind = e.kind == kind
        notes = []
        for dtype, color in DTYPE_COLORS.items():
            chosen = in_kind & (e.dtype == dtype)
            r = e.ratio[chosen & finite]
            if not chosen.any():
                continue
            counts, _ = np.histogram(_clipped_log(r[r > 0]), bins=bins)
            ax.stairs(counts, bins, fill=True, color=color, alpha=0.6, label=dtype)  # one patch, not a bar a bin
            zeros = int((r <= 0).sum())
            if zeros:
                ax.bar(exact, zeros, width=0.8, color=color, alpha=0.6, hatch="//", edgecolor="white")
            unmeasured = int((chosen & ~finite).sum())
            if unmeasured:
                notes.append(f"{unmeasured} {dtype} not finite")
        n_bad = int((~e.agree[in_kind]).sum())
        if n_bad:
            notes.insert(0, f"{n_bad} disagree")
        ax.axvline(0, color="#b00020", linestyle="--", linewidth=1)
        ax.set_title(KIND_TITLES.get(kind, kind) + (f"\n({', '.join(notes)})" if notes else ""),
                     color="#b00020" if n_bad else "black")
        ticks = [exact] + [t for t in range(-9, int(top) + 1, 3)]
        ax.set_xticks(ticks, ["exact"] + [f"{t:g}" for t in ticks[1:]])
        ax.set_xlim(exact - 0.8, top + 0.3)
        ax.set_xlabel(f"log10 {RATIO_LABEL}")
    for ax in axes[::cols]:
        ax.set_ylabel(unit)
    axes[-1].legend(loc="upper left")
    return fig


def layer_ratios(e: _Errors, title: str):
    """Per layer and dtype: a bar at the median error / allowed, a whisker up to the worst (log scale),
    the allowance a dashed line at 1."""
    layers = sorted(set(e.layer.tolist()) - {-1}, key=lambda l: (l == 0, l))  # dX (layer 0) last: the input
    if not layers:  # no tensor compared, or every case folded into one row
        return None
    dtypes = [d for d in DTYPE_COLORS if d in set(e.dtype)]
    slot = 0.8 / max(len(dtypes), 1)
    finite = np.isfinite(e.ratio)
    width, height = min(2.5 + 0.9 * len(layers) * len(dtypes), 9.0), 2.8
    fig = new_figure(width, height, layout=None)
    fig.subplots_adjust(left=0.75 / width, right=1 - 1.0 / width, bottom=0.45 / height, top=1 - 0.35 / height)
    ax = fig.add_subplot()
    for j, dtype in enumerate(dtypes):
        xs, med, worst = [], [], []
        for i, layer in enumerate(layers):
            r = e.ratio[finite & (e.dtype == dtype) & (e.layer == layer)]
            if len(r):
                xs.append(i + (j - (len(dtypes) - 1) / 2) * slot)
                med.append(min(max(float(np.median(r)), FLOOR), CEILING))
                worst.append(min(max(float(r.max()), FLOOR), CEILING))
        if not xs:
            continue
        med, worst = np.array(med), np.array(worst)
        ax.bar(xs, med - FLOOR / 10, bottom=FLOOR / 10, width=0.9 * slot, color=DTYPE_COLORS[dtype], alpha=0.75,
               label=dtype)
        ax.errorbar(xs, med, yerr=[np.zeros_like(med), worst - med], fmt="none", ecolor="#333", capsize=3,
                    linewidth=1)
    ax.set_yscale("log")
    log_scale(ax.yaxis)
    ax.set_ylim(FLOOR / 10, CEILING * 3)
    ax.axhline(1, color="#b00020", linestyle="--", linewidth=1)
    ax.set_xticks(range(len(layers)), [f"layer {l}" if l else "input (dX)" for l in layers])
    ax.set_ylabel(RATIO_LABEL)
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def tensor_ratios(names: list[str], values: list[float], agree: list, title: str):
    """One horizontal bar per tensor at its worst error / allowed (log scale), the allowance a dashed line
    at 1; red for a tensor that disagreed."""
    v = np.array([math.nan if x is None else x for x in values], dtype=float)
    if not np.isfinite(v).any():
        return None
    shown = np.where(np.isnan(v), FLOOR / 10, np.clip(v, FLOOR, CEILING))  # NaN: not measured, no bar
    fig = new_figure(6.4, 0.9 + 0.24 * len(names))
    ax = fig.add_subplot()
    y = np.arange(len(names))[::-1]
    ax.barh(y, shown - FLOOR / 10, left=FLOOR / 10, height=0.7,
            color=["#b00020" if a is False else "#1f77b4" for a in agree])
    ax.set_xscale("log")
    log_scale(ax.xaxis)
    ax.set_xlim(FLOOR / 10, CEILING * 3)
    ax.axvline(1, color="#b00020", linestyle="--", linewidth=1)
    ax.set_yticks(y, names)
    ax.set_xlabel(f"worst {RATIO_LABEL} (under 1 passes; drawn within {FLOOR:g} .. {CEILING:g})")
    ax.set_title(title)
    return fig


def _view(name: str, v):
    """A heatmap's tensor as ``replay.Elementwise``: the object itself, or its fields as plain data (lists)."""
    from crosscheck.engine.replay import Elementwise

    if isinstance(v, Elementwise):
        return v
    arr = lambda x: None if x is None else np.asarray(x, dtype=np.float64)  # noqa: E731
    return Elementwise(name, arr(v.get("candidate")), arr(v.get("truth")), arr(v.get("allowed")), v.get("note", ""))


def heatmappable(shape) -> bool:
    """Whether a tensor of ``shape`` shows a pattern as a heatmap: two dimensions of ``HEATMAP_MIN_SIDE`` or
    more (a bias vector or a 1-wide matrix does not; its worst element is in the findings' table)."""
    return len(shape) == 2 and min(shape) >= HEATMAP_MIN_SIDE


def heatmap_figure(views: dict):
    """log10(|candidate - torch| / allowed) of each tensor of a finding, element by element; elements over
    their allowance (ratio 1 or more) outlined in red. Only tensors that ``heatmappable``; None if none is."""
    from matplotlib.patches import Rectangle

    views = {k: _view(k, v) for k, v in views.items()}
    views = {k: v for k, v in views.items() if v.candidate is not None and heatmappable(np.shape(v.truth))}
    if not views:
        return None
    n = len(views)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = new_figure(3.5 * cols, 3.0 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_axis_off()
    for ax, (name, v) in zip(axes, views.items()):
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(v.difference == 0, 0.0, v.difference / np.asarray(v.allowed, dtype=float))
        over, finite = v.over, np.isfinite(ratio)
        shown = np.where(finite, _clipped_log(ratio), np.nan)
        hi = max(float(np.nanmax(shown)) if finite.any() else 0.0, 0.5)
        lo = min(float(np.nanmin(shown)) if finite.any() else -1.0, -1.0)
        small = max(ratio.shape) <= 40
        im = ax.imshow(shown, cmap="viridis", vmin=lo, vmax=hi, aspect="equal" if small else "auto",
                       interpolation="nearest")
        if small:  # a tick per row and column (every fifth on a larger one)
            ax.set_xticks(range(0, ratio.shape[1], 1 if ratio.shape[1] <= 12 else 5))
            ax.set_yticks(range(0, ratio.shape[0], 1 if ratio.shape[0] <= 12 else 5))
        for (i, j) in zip(*np.nonzero(over)):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.4))
        for (i, j) in zip(*np.nonzero(~finite)):
            ax.text(j, i, "NaN" if np.isnan(v.candidate[i, j]) else "inf", ha="center", va="center", color="red",
                    fontsize=6.5)
        if ratio.size <= ANNOTATE_UP_TO:
            for (i, j), r in np.ndenumerate(ratio):
                if np.isfinite(r):
                    ax.text(j, i, f"{r:.2g}", ha="center", va="center", fontsize=6.5,
                            color="white" if shown[i, j] < (lo + hi) / 2 else "black")
        ax.set_title(f"{name} ({ratio.shape[0]}x{ratio.shape[1]}): {int(over.sum())} / {over.size} over")
        ax.set_xlabel("in" if tensor_kind(name) == "W" else "unit")
        ax.set_ylabel("out" if tensor_kind(name) == "W" else "sample")
        bar = fig.colorbar(im, ax=ax, shrink=0.8)
        bar.set_label(f"log10 {RATIO_LABEL}")
    return fig


# -- the tables every page of runs shares -----------------------------------------------------

def kind_dtype_table(frame: pd.DataFrame, errors: "_Errors | None" = None) -> pd.DataFrame:
    """Per tensor kind and dtype: tensors, disagreements, median/worst error / allowed, median/worst relative
    error, worst absolute and torch error.

    Rows in ``KIND_ORDER``, then by dtype. The worst values skip NaN (``inf`` counts); the medians and the
    worst absolute error are over finite values only.
    """
    cols = ["kind", "dtype", "tensors", "disagreements", f"median {RATIO_LABEL}", f"worst {RATIO_LABEL}",
            "median rel err", "worst rel err", "worst abs err", "worst torch err"]
    e = _Errors.of(frame) if errors is None else errors
    if not len(e.kind):
        return pd.DataFrame(columns=cols)
    rows = []
    for kind in KIND_ORDER:
        in_kind = e.kind == kind
        for dtype in sorted(set(e.dtype[in_kind])):
            chosen = in_kind & (e.dtype == dtype)
            rows.append({"kind": kind, "dtype": dtype, "tensors": int(chosen.sum()),
                         "disagreements": int((~e.agree[chosen]).sum()),
                         f"median {RATIO_LABEL}": _median_finite(e.ratio[chosen]),
                         f"worst {RATIO_LABEL}": _max_skipping_nan(e.ratio[chosen]),
                         "median rel err": _median_finite(e.rel[chosen]),
                         "worst rel err": _max_skipping_nan(e.rel[chosen]),
                         "worst abs err": _max_finite(e.abs[chosen]),
                         "worst torch err": _max_skipping_nan(e.torch[chosen])})
    out = pd.DataFrame(rows, columns=cols)
    if out["worst torch err"].isna().all():  # measured only where a budget needed it, and nowhere here
        out = out.drop(columns="worst torch err")
    return out


def _median_finite(a: np.ndarray) -> float:
    a = a[np.isfinite(a)]
    return float(np.median(a)) if len(a) else math.nan


def _max_finite(a: np.ndarray) -> float:
    a = a[np.isfinite(a)]
    return float(a.max()) if len(a) else math.nan


def _max_skipping_nan(a: np.ndarray) -> float:
    """The largest value of ``a`` that is not NaN (``inf`` included), NaN if there is none (pandas' ``max``)."""
    a = a[~np.isnan(a)]
    return float(a.max()) if len(a) else math.nan


def _run_sections(frame: pd.DataFrame, name: str, activation_loss: pd.DataFrame | None = None, *,
                  unit: str = "tensors") -> list:
    """The tables and figures of one target's comparisons: per tensor kind and dtype, per layer, and
    (for a fuzz run) activation x loss."""
    e = _Errors.of(frame)  # read once for the table and both figures
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
             "worst abs err": _number(c.get("max_abs_err")), "allowed": _number(c.get("allowed_abs_err")),
             "torch err": _number(c.get("torch_err")), "rel err": _number(c.get("max_rel_err")),
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
        heatmap)


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
    for number, (target, f) in enumerate(pairs, start):
        case = case_of(f.get("example"), target)
        heat = None if f.get("crash") else _replayed_heatmap(target, case, drawable_tensors(f))
        out.append(finding_view(number, f, report=report, heading_level=level,
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
    lead = ([Span("Every gradient agrees with torch", "ok"), Span(f" on {len(run.results)} cases.")] if not n else
            [Span(f"{n} distinct finding{'s' if n != 1 else ''}", "bad"), Span(f" in {len(run.results)} cases.")])
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
    e = _Errors.of(frame)
    rows = {"target": run.target, "cases": len(run.results), "tensors compared": len(frame),
            "disagreeing tensors": int((~frame["agree"].astype(bool)).sum()) if len(frame) else 0,
            "distinct findings": len(run.findings)}
    for dtype in sorted(set(e.dtype)):
        rows[f"worst {RATIO_LABEL}, {dtype}"] = _max_finite(e.ratio[e.dtype == dtype])
    for dtype in sorted(set(e.dtype)):
        rows[f"worst relative error, {dtype}"] = _max_finite(e.rel[e.dtype == dtype])
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

    return verdict(f.kind for f in run.findings)


def targets_lead(verdicts: list[str]) -> list[Span]:
    n_bad = sum(1 for v in verdicts if v != "agree")
    if not n_bad:
        return [Span("Every target agrees with torch.", "ok")]
    return [Span(f"{n_bad} of {len(verdicts)} target{'s' if len(verdicts) != 1 else ''} "
                 f"disagree{'s' if n_bad == 1 else ''} with torch.", "bad")]


def targets_page(title: str, entries: list[TargetEntry], *, report: str | Path | None = None,
                 intro: str = "") -> str:
    """One page for several targets (``pytest --crosscheck-report``): a row per target, then each target
    with its own tables, figures and findings."""
    rows = []
    for e in entries:
        errors = _Errors.of(e.frame)
        rows.append({"target": e.name, "file": _short_path(e.file), "verdict": e.verdict, "cases": e.cases,
                     "tensors compared": int(len(e.frame)), "findings": len(e.findings),
                     f"worst {RATIO_LABEL}": _max_finite(errors.ratio) if len(errors.ratio) else 0.0,
                     "seconds": round(e.seconds, 2), **e.extra, "note": e.note})
    text = ("target", "file", "note", *(k for e in entries for k in e.extra))
    sections = [Section("", [*([Text(intro)] if intro else []),
                             table(pd.DataFrame(rows), "Targets", text_columns=text, wide_columns=("note",),
                                   verdict_column="verdict", bad_columns=("findings",),
                                   ratio_columns=(f"worst {RATIO_LABEL}",))])]
    number = 1
    for i, e in enumerate(entries, 1):
        blocks = [Text(f"{e.verdict}; {e.cases} cases; file {_short_path(e.file) or '-'}"
                       + (f"; {e.note}" if e.note else ""), "ok" if e.verdict == "agree" else "bad"),
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
