"""The horizontal grouped bar chart: one row per category, one bar per group within it."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from audit.render.svg.frame import AXIS, CHAR_W, GRID, INK, MUTED, PALETTE, Scale, esc, heading, open_svg
from audit.render.svg.numbers import coord, finite, format_number
from audit.render.svg.ticks import log_label, log_ticks, nice_ticks, tick_labels

GAP = 10  # between two categories' rows


@dataclass(frozen=True)
class _XAxis:
    """The value axis: ``pos`` maps axis units (log10 of the value on a log axis) to pixels."""

    pos: Scale
    ticks: list[float]
    labels: list[str]
    log: bool
    base: float  # where bars start: the left edge on a log axis, 0 on a linear one

    def __call__(self, v: float) -> float:
        return self.pos(math.log10(v) if self.log else v)


@dataclass(frozen=True)
class _Rows:
    """Where the rows go: category labels left of ``left``, bars ``bar_h`` high, ``height`` per row."""

    label_w: float
    left: float
    bar_h: int
    height: int


def _x_axis(vals: list[list[float | None]], log_x: bool, left: float, right: float) -> _XAxis:
    """A log axis over the positive values when asked and there are some; else a linear one from 0."""
    positive = [v for vs in vals for v in vs if v is not None and (v > 0 or not log_x)]
    if log_x and positive:
        xt = log_ticks(min(positive), max(positive))
        ticks = [math.log10(t) for t in xt]
        return _XAxis(Scale(ticks[0], ticks[-1], left, right), ticks, [log_label(t) for t in xt], True, left)
    data = [v for vs in vals for v in vs if v is not None] or [0.0]
    xt, step = nice_ticks(min(0.0, min(data)), max(0.0, max(data)), 5)
    pos = Scale(xt[0], xt[-1], left, right)
    return _XAxis(pos, xt, tick_labels(xt, step), False, pos(0.0))


def _grid(axis: _XAxis, top: float, bottom: float) -> list[str]:
    out = []
    for v, label in zip(axis.ticks, axis.labels):
        x = axis.pos(v)
        out.append(f'<line x1="{coord(x)}" y1="{coord(top - 2)}" x2="{coord(x)}" y2="{coord(bottom)}" '
                   f'stroke="{GRID}"/>')
        out.append(f'<text x="{coord(x)}" y="{coord(bottom + 14)}" text-anchor="middle" fill="{MUTED}">'
                   f"{esc(label)}</text>")
    return out


def _category_label(cat: str, y0: float, rows: _Rows) -> str:
    """The category's name right-aligned before the bars, cut with "…" to fit (the full name as its title)."""
    fits = len(cat) * CHAR_W <= rows.label_w - 12
    label = cat if fits else cat[: max(int((rows.label_w - 12) / CHAR_W) - 1, 1)] + "…"
    mid = y0 + (rows.height - GAP) / 2
    return (f'<text x="{coord(rows.left - 8)}" y="{coord(mid + 4)}" text-anchor="end" fill="{INK}">'
            f"<title>{esc(cat)}</title>{esc(label)}</text>")


def _missing(shown: str, axis: _XAxis, y: float, bar_h: int) -> str:
    return (f'<text x="{coord(axis.base + 4)}" y="{coord(y + bar_h - 3)}" fill="{MUTED}" font-style="italic">'
            f"{esc(shown)}</text>")


def _bar(v: float, tip: str, text: str, axis: _XAxis, y: float, bar_h: int, color: str) -> list[str]:
    """One bar from the base to ``v`` (none for a non-positive value on a log axis), and its value."""
    if axis.log and v <= 0:
        x0 = x1 = axis.base
    else:
        x0, x1 = sorted((axis.base, axis(v)))
    w = max(x1 - x0, 0.0)
    out = []
    if w > 0:
        out.append(f'<rect x="{coord(x0)}" y="{coord(y)}" width="{coord(max(w, 1.0))}" height="{bar_h}" rx="2" '
                   f'fill="{color}"><title>{esc(tip)}</title></rect>')
    out.append(f'<text x="{coord(x1 + 4)}" y="{coord(y + bar_h - 3)}" fill="{INK}" font-size="10">{esc(text)}</text>')
    return out


def _missing_text(raw: object, missing_text: str) -> str:
    return missing_text if raw is None else format_number(raw) if isinstance(raw, (int, float)) else "n/a"


def bar_chart(categories: Sequence[str], groups: Mapping[str, Sequence[float | None]], *, title: str = "",
              value_label: str = "", log_x: bool = False, width: int = 640, bar_h: int = 14,
              colors: Mapping[str, str] | None = None, value_format: Callable[[float], str] | None = None,
              missing_text: str = "missing", standalone: bool = False) -> str:
    """A horizontal grouped bar chart: one row per category, one bar per group within it.

    ``groups`` maps a group name (e.g. "declared", "measured") to one value per category; a missing
    (None) or non-finite value draws no bar and is labelled as such. With ``log_x`` zero and negative
    values draw no bar either (labelled with their value).
    """
    cats = [str(c) for c in categories]
    names = [str(g) for g in groups]
    raw = [(list(vs) + [None] * len(cats))[: len(cats)] for vs in groups.values()]
    vals = [[finite(v) for v in row] for row in raw]
    fmt = value_format or format_number
    palette = [(colors or {}).get(n, PALETTE[i % len(PALETTE)]) for i, n in enumerate(names)]
    label_w = min(max((len(c) for c in cats), default=4) * CHAR_W + 12, width * 0.34)
    rows = _Rows(label_w, 12 + label_w, bar_h, max(len(names), 1) * (bar_h + 2) + GAP)
    right = width - 70
    head, top = heading(title, names, palette, 10, 12, width - 24, swatch="box")
    top += 4
    bottom = top + max(len(cats), 1) * rows.height
    height = int(bottom + (40 if value_label else 26))
    out = open_svg(width, height, title or "bar chart", standalone) + head
    if not cats:
        out.append(f'<text x="{coord((rows.left + right) / 2)}" y="{coord(top + 16)}" text-anchor="middle" '
                   f'fill="{MUTED}">no data</text></svg>')
        return "\n".join(out)
    axis = _x_axis(vals, log_x, rows.left, right)
    out += _grid(axis, top, bottom)
    for ci, cat in enumerate(cats):
        y0 = top + ci * rows.height
        out.append(_category_label(cat, y0, rows))
        for gi, name in enumerate(names):
            v, y = vals[gi][ci], y0 + gi * (bar_h + 2)
            if v is None:
                text = _missing_text(raw[gi][ci], missing_text)
                out.append(_missing(f"{name}: {text}" if len(names) > 1 else text, axis, y, bar_h))
            else:
                out += _bar(v, f"{cat} · {name}: {fmt(v)}", fmt(v), axis, y, bar_h, palette[gi])
    out.append(f'<line x1="{coord(axis.base)}" y1="{coord(top - 2)}" x2="{coord(axis.base)}" y2="{coord(bottom)}" '
               f'stroke="{AXIS}"/>')
    if value_label:
        out.append(f'<text x="{coord((rows.left + right) / 2)}" y="{height - 8}" text-anchor="middle" fill="{INK}">'
                   f"{esc(value_label + (' (log scale)' if axis.log else ''))}</text>")
    out.append("</svg>")
    return "\n".join(out)
