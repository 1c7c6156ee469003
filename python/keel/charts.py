"""Small SVG charts for the static report: pure functions from numbers to markup.

Hand-written SVG, not a charting library: the report must open from disk with no network, so a
library would have to be vendored inline (tens of kilobytes and a licence to carry for three kinds
of chart), and SVG drawn here needs no script at all, so the page shows the same with JavaScript
off, prints, and can forbid scripts outright in its Content-Security-Policy. Every drawn element
that carries data has class "mark" (the report's browser test checks their geometry); every text
that comes from data is escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from html import escape

# Okabe-Ito: distinguishable with the common colour-vision deficiencies (yellow left out: too
# pale on white).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#999999")

Point = tuple[date, float | None]


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def fmt_number(value: float) -> str:
    """A number short enough for an axis or a tooltip."""
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten)."""
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step + 1e-9) * step
    ticks = []
    k = 0
    while True:
        tick = first + k * step
        ticks.append(round(tick, 12))
        if tick >= hi - 1e-9 * step:
            return ticks
        k += 1


def _date_ticks(first: int, last: int, count: int = 6) -> list[int]:
    if last == first:
        return [first]
    step = max(1, math.ceil((last - first) / (count - 1)))
    ticks = list(range(first, last + 1, step))
    if ticks[-1] != last and (last - ticks[-1]) * 2 >= step:
        ticks.append(last)
    return ticks


def _svg_open(width: int, height: int, label: str) -> str:
    return (f'<svg class="chart-svg" xmlns="http://www.w3.org/2000/svg" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">')


def line_chart(series: dict[str, Sequence[Point]], *, y_label: str, zero_based: bool = True,
               width: int = 640, height: int = 240) -> str | None:
    """One line per series over days (points with no finite value leave a gap); None when there
    is nothing finite to draw, so the caller can say so instead of showing empty axes."""
    points = {name: sorted((d.toordinal(), v) for d, v in pts) for name, pts in series.items()}
    values = [v for pts in points.values() for _, v in pts if finite(v)]
    if not values:
        return None
    days = [d for pts in points.values() for d, v in pts if finite(v)]
    first, last = min(days), max(days)
    lo, hi = min(values), max(values)
    if zero_based:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    y_ticks = nice_ticks(lo, hi)
    lo, hi = y_ticks[0], y_ticks[-1]
    left, right, top, bottom = 56, 16, 14, 30
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(day: int) -> float:
        if last == first:
            return left + plot_w / 2
        return left + (day - first) / (last - first) * plot_w

    def y(value: float) -> float:
        return top + (hi - value) / (hi - lo) * plot_h

    out = [_svg_open(width, height, y_label)]
    for tick in y_ticks:
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" '
                   f'y2="{y(tick):.1f}"/>')
        out.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{fmt_number(tick)}</text>')
    for tick in _date_ticks(first, last):
        label = date.fromordinal(tick).strftime("%m-%d")
        out.append(f'<text x="{x(tick):.1f}" y="{height - 10}" text-anchor="middle">{label}</text>')
    out.append(f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}"/>')
    out.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" '
               f'y2="{top + plot_h}"/>')
    out.append(f'<text x="12" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
               f'transform="rotate(-90 12 {top + plot_h / 2:.1f})">{escape(y_label)}</text>')
    for i, (name, pts) in enumerate(points.items()):
        stroke = color(i)
        segments: list[list[tuple[int, float]]] = [[]]
        for day, value in pts:
            if finite(value):
                segments[-1].append((day, value))
            elif segments[-1]:
                segments.append([])
        for segment in segments:
            if len(segment) > 1:
                d = " ".join(f"{'M' if j == 0 else 'L'}{x(day):.1f} {y(v):.1f}"
                             for j, (day, v) in enumerate(segment))
                out.append(f'<path class="mark line" d="{d}" stroke="{stroke}"><title>{escape(name)}'
                           '</title></path>')
        for day, value in pts:
            if finite(value):
                tip = f"{name} · {date.fromordinal(day).isoformat()}: {fmt_number(value)}"
                out.append(f'<circle class="mark" cx="{x(day):.1f}" cy="{y(value):.1f}" r="2.5" '
                           f'fill="{stroke}"><title>{escape(tip)}</title></circle>')
    out.append("</svg>")
    return "".join(out)


def calibration_chart(bins: Sequence[dict], size: int = 320) -> str | None:
    """A reliability diagram: each score bin's mean score (x) against its observed positive rate
    (y), the dot's area proportional to its rows; the diagonal is perfect calibration."""
    shown = [b for b in bins if finite(b.get("mean_score")) and finite(b.get("positive_rate"))]
    if not shown:
        return None
    left, right, top, bottom = 46, 12, 12, 40
    plot = size - left - right
    height = top + plot + bottom
    most = max((b.get("rows") or 0) for b in shown) or 1

    def x(v: float) -> float:
        return left + v * plot

    def y(v: float) -> float:
        return top + (1 - v) * plot

    out = [_svg_open(size, height, "calibration")]
    for tick in (0, 0.2, 0.4, 0.6, 0.8, 1.0):
        out.append(f'<line class="grid" x1="{x(0):.1f}" x2="{x(1):.1f}" y1="{y(tick):.1f}" '
                   f'y2="{y(tick):.1f}"/>')
        out.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>')
        out.append(f'<text x="{x(tick):.1f}" y="{top + plot + 16}" text-anchor="middle">{tick:g}</text>')
    out.append(f'<line class="guide" x1="{x(0):.1f}" y1="{y(0):.1f}" x2="{x(1):.1f}" y2="{y(1):.1f}">'
               '<title>perfect calibration</title></line>')
    out.append(f'<text x="{left + plot / 2:.1f}" y="{height - 6}" text-anchor="middle">'
               'mean score in bin</text>')
    out.append(f'<text x="12" y="{top + plot / 2:.1f}" text-anchor="middle" '
               f'transform="rotate(-90 12 {top + plot / 2:.1f})">observed positive rate</text>')
    ordered = sorted(shown, key=lambda b: b["mean_score"])
    if len(ordered) > 1:
        d = " ".join(f"{'M' if i == 0 else 'L'}{x(b['mean_score']):.1f} {y(b['positive_rate']):.1f}"
                     for i, b in enumerate(ordered))
        out.append(f'<path class="mark line" d="{d}" stroke="{PALETTE[0]}"/>')
    for b in ordered:
        rows = b.get("rows") or 0
        r = 2.5 + 6 * math.sqrt(rows / most)
        tip = (f"scores {fmt_number(b.get('lower_bound', 0))}–{fmt_number(b.get('upper_bound', 1))}: "
               f"mean score {b['mean_score']:.3f}, positive rate {b['positive_rate']:.3f}, {rows:,} rows")
        out.append(f'<circle class="mark" cx="{x(b["mean_score"]):.1f}" cy="{y(b["positive_rate"]):.1f}" '
                   f'r="{r:.1f}" fill="{PALETTE[0]}" fill-opacity="0.75">'
                   f'<title>{escape(tip)}</title></circle>')
    out.append("</svg>")
    return "".join(out)


def lineage_chart(layers: Sequence[Sequence[str]], edges: Sequence[tuple[str, str]]) -> str | None:
    """Boxes in columns, left to right (e.g. raw sources, feature views, training set, model),
    joined by curves from each edge's first name to its second."""
    layers = [list(dict.fromkeys(layer)) for layer in layers if layer]
    if not layers:
        return None
    char, box_h, gap, col_gap, pad = 7.0, 24, 10, 56, 10
    widths = [max(len(name) for name in layer) * char + 2 * pad for layer in layers]
    tallest = max(len(layer) for layer in layers)
    height = int(tallest * (box_h + gap) + gap)
    width = int(sum(widths) + col_gap * (len(layers) - 1) + 2 * gap)
    where: dict[str, tuple[float, float, float]] = {}  # name -> (left x, centre y, right x)
    left = float(gap)
    for layer, w in zip(layers, widths):
        offset = (height - len(layer) * (box_h + gap) + gap) / 2
        for i, name in enumerate(layer):
            where.setdefault(name, (left, offset + i * (box_h + gap) + box_h / 2, left + w))
        left += w + col_gap
    out = [_svg_open(width, height, "lineage")]
    for source, target in edges:
        if source in where and target in where:
            _, y1, x1 = where[source]
            x2, y2, _ = where[target]
            mid = (x1 + x2) / 2
            out.append(f'<path class="mark edge" d="M{x1:.1f} {y1:.1f} C{mid:.1f} {y1:.1f} '
                       f'{mid:.1f} {y2:.1f} {x2:.1f} {y2:.1f}"/>')
    for layer, w in zip(layers, widths):
        for name in layer:
            x0, yc, _ = where[name]
            out.append(f'<g class="node"><rect class="mark" x="{x0:.1f}" y="{yc - box_h / 2:.1f}" '
                       f'width="{w:.1f}" height="{box_h}" rx="4"/>'
                       f'<text x="{x0 + pad:.1f}" y="{yc + 4:.1f}">{escape(name)}</text></g>')
    out.append("</svg>")
    return "".join(out)
