"""The line chart: series of (x, y) points, on a linear or a log y axis."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from audit.render.svg.frame import AXIS, CHAR_W, GRID, INK, MUTED, PALETTE, Scale, esc, heading, open_svg
from audit.render.svg.numbers import coord, finite, format_number
from audit.render.svg.ticks import log_label, log_ticks, nice_ticks, tick_labels

Series = list[tuple[str, list[tuple[float, float]]]]


@dataclass(frozen=True)
class _YAxis:
    """The y ticks, in axis units (log10 of the value on a log axis), and their labels."""

    ticks: list[float]
    labels: list[str]
    log: bool


def _points(raw: object) -> list[tuple[float, float]]:
    """The finite (x, y) points of one series given as pairs or ``{"x":…, "y":…}`` maps."""
    pts = []
    if not isinstance(raw, Iterable) or isinstance(raw, (str, bytes, Mapping)):
        return pts
    for p in raw:
        if isinstance(p, Mapping):
            p = (p.get("x", p.get("step")), p.get("y", p.get("value")))
        if not isinstance(p, Sequence) or isinstance(p, (str, bytes)) or len(p) < 2:
            continue
        x, y = finite(p[0]), finite(p[1])
        if x is not None and y is not None:
            pts.append((x, y))
    return pts


def _series_data(series: Mapping[str, object], log_y: bool) -> tuple[Series, bool]:
    """Each series' points in x order; on a log axis only the positive ones, unless none is left
    (then the axis falls back to linear)."""
    data = [(str(name), sorted(_points(pts))) for name, pts in series.items()]
    if log_y:
        positive = [(n, [(x, y) for x, y in p if y > 0]) for n, p in data]
        if any(p for _, p in positive):
            return positive, True
    return data, False


def _y_axis(ys: list[float], log_y: bool) -> _YAxis:
    if log_y:
        yt = log_ticks(min(ys), max(ys))
        return _YAxis([math.log10(t) for t in yt], [log_label(t) for t in yt], True)
    lo, hi = min(ys), max(ys)
    if hi > lo:  # a little air above and below the data
        lo, hi = lo - (hi - lo) * 0.04, hi + (hi - lo) * 0.04
        if min(ys) >= 0 > lo:
            lo = 0.0
    yt, ystep = nice_ticks(lo, hi, 5)
    return _YAxis(yt, tick_labels(yt, ystep), False)


def _no_data(left: float, right: float, top: float, bottom: float) -> list[str]:
    return [f'<rect x="{left}" y="{coord(top)}" width="{right - left}" height="{coord(bottom - top)}" '
            f'fill="#f8fafc" stroke="{GRID}"/>',
            f'<text x="{coord((left + right) / 2)}" y="{coord((top + bottom) / 2 + 4)}" text-anchor="middle" '
            f'fill="{MUTED}">no data</text>',
            "</svg>"]  # fmt: skip


def _grid_and_axes(px: Scale, py: Scale, y_axis: _YAxis, xt: list[float], xstep: float) -> list[str]:
    """Horizontal grid lines with the y labels, x ticks with their labels, and the two axes."""
    left, right, bottom, top = px.start, px.end, py.start, py.end
    out = []
    for v, label in zip(y_axis.ticks, y_axis.labels):
        y = py(v)
        out.append(f'<line x1="{coord(left)}" y1="{coord(y)}" x2="{coord(right)}" y2="{coord(y)}" stroke="{GRID}"/>')
        out.append(f'<text x="{coord(left - 6)}" y="{coord(y + 3.5)}" text-anchor="end" fill="{MUTED}">'
                   f"{esc(label)}</text>")
    for v, label in zip(xt, tick_labels(xt, xstep)):
        x = px(v)
        out.append(f'<line x1="{coord(x)}" y1="{coord(bottom)}" x2="{coord(x)}" y2="{coord(bottom + 4)}" '
                   f'stroke="{AXIS}"/>')
        out.append(f'<text x="{coord(x)}" y="{coord(bottom + 16)}" text-anchor="middle" fill="{MUTED}">'
                   f"{esc(label)}</text>")
    out.append(f'<line x1="{coord(left)}" y1="{coord(bottom)}" x2="{coord(right)}" y2="{coord(bottom)}" '
               f'stroke="{AXIS}"/>')
    out.append(f'<line x1="{coord(left)}" y1="{coord(top)}" x2="{coord(left)}" y2="{coord(bottom)}" stroke="{AXIS}"/>')
    return out


def _axis_titles(px: Scale, py: Scale, x_label: str, y_label: str, log_y: bool, height: int) -> list[str]:
    out = []
    if x_label:
        out.append(f'<text x="{coord((px.start + px.end) / 2)}" y="{coord(height - 8)}" text-anchor="middle" '
                   f'fill="{INK}">{esc(x_label)}</text>')
    if y_label:
        cy = (py.end + py.start) / 2
        lab = y_label + (" (log)" if log_y else "")
        out.append(f'<text x="14" y="{coord(cy)}" text-anchor="middle" fill="{INK}" '
                   f'transform="rotate(-90 14 {coord(cy)})">{esc(lab)}</text>')
    return out


def _series_marks(data: Series, colors: list[str], px: Scale, py: Scale, log_y: bool,
                  markers: bool | None, connect: bool = True) -> list[str]:
    """Each series as a path (unless not ``connect``: a scatter), with a dot per point when asked (None: when
    every series is short, or not connected)."""
    def y_of(y: float) -> float:
        return py(math.log10(y) if log_y else y)

    short = all(len(p) <= 40 for _, p in data if p) or not connect
    draw_markers = short if markers is None else markers
    out = []
    for (name, pts), color in zip(data, colors):
        if not pts:
            continue
        if len(pts) > 1 and connect:
            d = " ".join(f"{'M' if i == 0 else 'L'}{coord(px(x))},{coord(y_of(y))}" for i, (x, y) in enumerate(pts))
            out.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="2" '
                       f'stroke-linejoin="round" stroke-linecap="round"><title>{esc(name)}</title></path>')
        if draw_markers or len(pts) == 1:
            for x, y in pts:
                out.append(f'<circle cx="{coord(px(x))}" cy="{coord(y_of(y))}" r="{3 if len(pts) > 1 else 4}" '
                           f'fill="{color}" stroke="#fff" stroke-width="1">'
                           f"<title>{esc(name)}: {esc(format_number(x))} → {esc(format_number(y, 5))}</title>"
                           "</circle>")
    return out


def line_chart(series: Mapping[str, object], *, title: str = "", x_label: str = "", y_label: str = "",
               log_y: bool = False, width: int = 520, height: int = 280, markers: bool | None = None,
               connect: bool = True, standalone: bool = False) -> str:
    """A line chart of one or more series of (x, y) points, each drawn in x order.

    ``series`` maps a name to its points (pairs, or ``{"x":…, "y":…}``). Non-finite values are
    skipped; with ``log_y`` non-positive values are too (and the axis falls back to linear when no
    positive value is left). A series with one point is drawn as a dot; constant values get a
    padded axis. Markers are drawn when ``markers`` is True, or (None) when every series is short.
    ``connect=False`` draws the points alone (a scatter plot).
    """
    data, log_y = _series_data(series, log_y)
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(data))]
    out = open_svg(width, height, title or "chart", standalone)
    pad_l, pad_r = 62, 16
    head, top = heading(title, [n for n, _ in data], colors, 10, pad_l, width - pad_l - pad_r)
    out += head
    top += 6
    bottom = height - (44 if x_label else 28)
    left, right = pad_l, width - pad_r
    if bottom - top < 40:
        bottom = top + 40
    if not any(p for _, p in data):
        return "\n".join(out + _no_data(left, right, top, bottom))

    xs = [x for _, p in data for x, _ in p]
    xt, xstep = nice_ticks(min(xs), max(xs), 6)
    y_axis = _y_axis([y for _, p in data for _, y in p], log_y)
    # Make room for the longest y label.
    left = max(left, 16 + (18 if y_label else 0) + max(len(s) for s in y_axis.labels) * CHAR_W)
    px = Scale(xt[0], xt[-1], left, right)
    py = Scale(y_axis.ticks[0], y_axis.ticks[-1], bottom, top)
    out += _grid_and_axes(px, py, y_axis, xt, xstep)
    out += _axis_titles(px, py, x_label, y_label, log_y, height)
    out += _series_marks(data, colors, px, py, log_y, markers, connect)
    out.append("</svg>")
    return "\n".join(out)
