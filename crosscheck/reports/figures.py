"""The figures of the HTML pages, from matplotlib, and the numbers they draw: every error over its allowance.

``Errors`` reads a frame of comparisons (``tables.comparisons_frame`` or a sample of one) once into NumPy
arrays; ``ratio_histograms``, ``layer_ratios`` and ``tensor_ratios`` draw them, ``heatmap_figure`` draws a
finding element by element. Each returns a matplotlib ``Figure`` (None when there is nothing to draw),
made inside ``drawing()``; ``reports.html.figure`` turns one into an inline SVG of a page.

The ratio ``error / allowed`` is the records' own (``ratio``, the worst element's error over its
allowance); a frame or record without it falls back to the worst absolute error over the allowance at
that element. Under 1 passes. Ratios are drawn on log scales within ``FLOOR`` .. ``CEILING``.

matplotlib is imported inside the functions that draw, so importing this module costs nothing.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crosscheck.model.records import FOLDED
from crosscheck.model.vocabulary import tensor_kind, tensor_layer

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


def as_float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


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
    return max_finite(np.array([record_ratio(r) for r in records], dtype=float))


def record_ratio(record: dict) -> float:
    """``ratios`` of one comparison or tensor record (a dict of ``summary.json``, ``audit.json``, ...)."""
    if RATIO in record:
        return as_float(record[RATIO])
    err, allowed = as_float(record.get("max_abs_err")), as_float(record.get("allowed_abs_err"))
    if err == 0:
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(err) / np.float64(allowed))


@contextmanager
def drawing():
    """matplotlib's settings for the pages' figures: text kept as text in the SVG (small, selectable),
    ids salted the same way every time (the same page for the same run), no math parsing of names."""
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "crosscheck", "text.parse_math": False,
                                "font.size": 9, "axes.titlesize": 9.5, "axes.labelsize": 8.5,
                                "xtick.labelsize": 7.5, "ytick.labelsize": 7.5, "legend.fontsize": 7.5}):
        yield


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
class Errors:
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
    def of(cls, frame: pd.DataFrame) -> "Errors":
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


def ratio_histograms(e: Errors, title: str, unit: str = "tensors"):
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


def layer_ratios(e: Errors, title: str):
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


def median_finite(a: np.ndarray) -> float:
    a = a[np.isfinite(a)]
    return float(np.median(a)) if len(a) else math.nan


def max_finite(a: np.ndarray) -> float:
    a = a[np.isfinite(a)]
    return float(a.max()) if len(a) else math.nan


def max_skipping_nan(a: np.ndarray) -> float:
    """The largest value of ``a`` that is not NaN (``inf`` included), NaN if there is none (pandas' ``max``)."""
    a = a[~np.isnan(a)]
    return float(a.max()) if len(a) else math.nan
