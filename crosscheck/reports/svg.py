"""Small SVG charts written as text: the frame, ticks, labels and legend of a plot, and nothing more.

The report's summary figures (the error histograms and the per-layer bars) are a
few dozen rectangles, paths and labels. matplotlib takes about 0.4 s to import
and 0.15 s or more per figure (its tick, text-extent and layout machinery, then
rasterizing and PNG encoding); written here as SVG text they cost milliseconds.
The browser draws the text, so the layout is fixed in pixels with margins sized
for the labels these charts have; nothing measures text.

``Canvas`` collects elements; ``Axes`` maps data to pixels in one rectangle of it
(linear or log10 scales) and draws its spines, ticks and labels.
"""
from __future__ import annotations

import math
from html import escape

FONT = "DejaVu Sans, Verdana, Helvetica, Arial, sans-serif"  # matplotlib's default face first
#: Rough width of one character as a fraction of the font size, to decide where a title wraps.
CHAR_WIDTH = 0.58


def num(v: float) -> str:
    """A coordinate with two decimals at most: small files, no visible rounding."""
    s = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if s == "-0" else s


def _attrs(attrs: dict) -> str:
    return "".join(f' {k.rstrip("_").replace("_", "-")}="{escape(str(v))}"' for k, v in attrs.items()
                   if v is not None)


def wrap(text: str, width: float, size: float, sep: str = "; ") -> list[str]:
    """``text`` as lines that fit ``width`` pixels at font ``size``, broken after ``sep`` where needed."""
    pieces = text.split(sep)
    lines = [pieces[0]]
    for p in pieces[1:]:
        if (len(lines[-1]) + len(sep) + len(p)) * size * CHAR_WIDTH <= width:
            lines[-1] += sep + p
        else:
            lines[-1] += sep.rstrip()
            lines.append(p)
    return lines


class Canvas:
    """An SVG document of ``width`` x ``height`` pixels, its elements added in drawing order."""

    def __init__(self, width: float, height: float):
        self.width, self.height = width, height
        self.defs: list[str] = []
        self.parts: list[str] = []

    def rect(self, x: float, y: float, w: float, h: float, **attrs) -> None:
        self.parts.append(f"<rect x='{num(x)}' y='{num(y)}' width='{num(w)}' height='{num(h)}'{_attrs(attrs)}/>")

    def line(self, x1: float, y1: float, x2: float, y2: float, **attrs) -> None:
        self.parts.append(f"<line x1='{num(x1)}' y1='{num(y1)}' x2='{num(x2)}' y2='{num(y2)}'{_attrs(attrs)}/>")

    def path(self, d: str, **attrs) -> None:
        self.parts.append(f"<path d='{d}'{_attrs(attrs)}/>")

    def text(self, x: float, y: float, text: str, *, size: float = 10, anchor: str = "middle", **attrs) -> None:
        """One line of text, its baseline at ``y``; ``text`` is plain text (escaped here)."""
        self.parts.append(f"<text x='{num(x)}' y='{num(y)}' font-size='{num(size)}' text-anchor='{anchor}'"
                          f"{_attrs(attrs)}>{escape(text)}</text>")

    def power_of_ten(self, x: float, y: float, exponent: int, *, size: float, anchor: str = "end") -> None:
        """The label 10^exponent, the exponent raised and smaller, as matplotlib writes log ticks."""
        e = str(exponent).replace("-", "\u2212")
        self.parts.append(f"<text x='{num(x)}' y='{num(y)}' font-size='{num(size)}' text-anchor='{anchor}'>10"
                          f"<tspan dy='{num(-0.4 * size)}' font-size='{num(0.75 * size)}'>{e}</tspan></text>")

    def hatch(self, name: str, color: str = "#000") -> str:
        """A fill of diagonal lines (matplotlib's ``hatch='//'``), to use as ``fill=canvas.hatch(...)``."""
        self.defs.append(f"<pattern id='{name}' width='6' height='6' patternUnits='userSpaceOnUse' "
                         f"patternTransform='rotate(45)'><line x1='0' y1='0' x2='0' y2='6' stroke='{color}' "
                         f"stroke-width='1'/></pattern>")
        return f"url(#{name})"

    def svg(self) -> str:
        defs = f"<defs>{''.join(self.defs)}</defs>" if self.defs else ""
        return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{num(self.width)}' height='{num(self.height)}' "
                f"viewBox='0 0 {num(self.width)} {num(self.height)}' font-family='{FONT}'>"
                f"<rect width='100%' height='100%' fill='white'/>{defs}" + "".join(self.parts) + "</svg>")


class Axes:
    """A plot rectangle (left, top, width, height in pixels) over data limits ``xlim`` x ``ylim``.

    ``ylog``: the y axis is log10 (``ylim`` then holds exponents); ``x(v)`` and
    ``y(v)`` give the pixel of a data value either way.
    """

    def __init__(self, canvas: Canvas, left: float, top: float, width: float, height: float,
                 xlim: tuple[float, float], ylim: tuple[float, float], *, ylog: bool = False):
        self.c, self.left, self.top, self.width, self.height = canvas, left, top, width, height
        self.xlim, self.ylim, self.ylog = xlim, ylim, ylog

    @property
    def bottom(self) -> float:
        return self.top + self.height

    @property
    def right(self) -> float:
        return self.left + self.width

    def x(self, v: float) -> float:
        lo, hi = self.xlim
        return self.left + (v - lo) / (hi - lo) * self.width

    def y(self, v: float) -> float:
        """The pixel row of ``v``; on a log axis ``v <= 0`` (no logarithm) is the axis' bottom edge."""
        lo, hi = self.ylim
        if self.ylog:
            v = math.log10(v) if v > 0 else lo
        return self.bottom - (min(max(v, lo), hi) - lo) / (hi - lo) * self.height

    def frame(self) -> None:
        self.c.rect(self.left, self.top, self.width, self.height, fill="none", stroke="#000", stroke_width=0.8)

    def xticks(self, ticks: list[float], labels: list[str], *, size: float = 10) -> None:
        for t, label in zip(ticks, labels):
            px = self.x(t)
            self.c.line(px, self.bottom, px, self.bottom + 4, stroke="#000", stroke_width=0.8)
            self.c.text(px, self.bottom + 5 + size, label, size=size)

    def yticks(self, ticks: list[float], labels: list[str] | None, *, size: float = 10) -> None:
        """Ticks on the left spine; ``labels`` None draws the marks only (a panel that shares its y axis)."""
        for i, t in enumerate(ticks):
            py = self.y(t)
            self.c.line(self.left - 4, py, self.left, py, stroke="#000", stroke_width=0.8)
            if labels is not None:
                self.c.text(self.left - 6, py + 0.35 * size, labels[i], size=size, anchor="end")

    def log_yticks(self, *, size: float = 10, most: int = 8) -> None:
        """A mark at every power of ten in the y limits, a label 10^k on every n-th, at most ``most`` labels."""
        lo, hi = math.ceil(self.ylim[0] - 1e-9), math.floor(self.ylim[1] + 1e-9)
        step = max(1, math.ceil((hi - lo + 1) / most))
        for k in range(lo, hi + 1):
            py = self.y(10.0 ** k)
            labelled = k % step == 0
            self.c.line(self.left - (4 if labelled else 2), py, self.left, py, stroke="#000", stroke_width=0.8)
            if labelled:
                self.c.power_of_ten(self.left - 6, py + 0.35 * size, k, size=size)

    def xlabel(self, text: str, *, size: float = 11) -> None:
        self.c.text((self.left + self.right) / 2, self.bottom + 2 * size + 10, text, size=size)

    def ylabel(self, text: str, *, offset: float, size: float = 11) -> None:
        """A label up the left side, ``offset`` pixels left of the spine."""
        x, y = self.left - offset, (self.top + self.bottom) / 2
        self.c.text(x, y, text, size=size, transform=f"rotate(-90 {num(x)} {num(y)})")

    def legend(self, entries: list[tuple[str, dict]], *, where: str = "upper right", size: float = 10) -> None:
        """A boxed legend: each entry a label and the fill attributes of its swatch. ``where``: "upper right"
        or "upper left" inside the axes, "outside" to the right of them (the canvas leaves room for it)."""
        if not entries:
            return
        row = size + 6
        w = 30 + max(len(label) for label, _ in entries) * size * CHAR_WIDTH + 8
        h = row * len(entries) + 6
        x = {"upper right": self.right - w - 6, "upper left": self.left + 6, "outside": self.right + 8}[where]
        y = self.top + (0 if where == "outside" else 6)
        self.c.rect(x, y, w, h, fill="white", fill_opacity=0.8, stroke="#ccc", stroke_width=0.8, rx=3)
        for i, (label, fill) in enumerate(entries):
            top = y + 5 + i * row
            self.c.rect(x + 7, top + 1, 18, size - 1, **fill)
            self.c.text(x + 31, top + size - 1, label, size=size, anchor="start")


def nice_ticks(lo: float, hi: float, most: int = 7, *, integer: bool = False) -> list[float]:
    """Round tick values from ``lo`` to ``hi``: a step of 1, 2, 2.5 or 5 times a power of ten, at most
    ``most`` ticks (``integer``: steps of at least 1, as counts need)."""
    span = hi - lo
    if span <= 0:
        return [lo]
    step = span
    for k in range(math.floor(math.log10(span / most)) - 1, math.floor(math.log10(span)) + 2):
        for m in (1, 2, 2.5, 5):
            s = m * 10.0 ** k
            if (integer and s < 1) or (integer and s != int(s)):
                continue
            if math.floor(hi / s) - math.ceil(lo / s) + 1 <= most:
                step = s
                break
        else:
            continue
        break
    first = math.ceil(lo / step - 1e-9)
    return [round(i * step, 10) for i in range(first, math.floor(hi / step + 1e-9) + 1)]


def tick_label(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"
