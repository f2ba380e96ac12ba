"""Small, dependency-free SVG charts for the HTML report.

Every function returns an SVG string: inline-ready (no ``xmlns`` unless ``standalone=True``), with no
scripts, no external fonts and no references to anything outside the string. All text is escaped:
series and category names come from the release, which is untrusted. Non-finite values (NaN, ±inf)
and malformed points are skipped; empty input draws an empty frame with a "no data" note.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape

__all__ = ["PALETTE", "bar_chart", "format_number", "line_chart", "nice_ticks", "log_ticks"]

#: Colour-blind-friendly categorical palette (Okabe-Ito based, darkened for white backgrounds).
PALETTE = ("#2563eb", "#d97706", "#059669", "#c026d3", "#0891b2", "#dc2626", "#65a30d", "#7c3aed",
           "#b45309", "#475569")  # fmt: skip
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
AXIS = "#94a3b8"
GRID = "#e2e8f0"
INK = "#334155"
MUTED = "#64748b"
CHAR_W = 6.2  # approximate width of one 11px character, for layout without font metrics


def _t(text: object) -> str:
    return escape(str(text), quote=True)


def _n(v: float) -> str:
    """A coordinate: short and locale-free."""
    return f"{v:.2f}".rstrip("0").rstrip(".") if math.isfinite(v) else "0"


def _finite(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _trim(mantissa: str) -> str:
    return mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa


def format_number(v: float | int | None, digits: int = 3) -> str:
    """A number as a person would write it on an axis or in a table: ``0``, ``0.25``, ``4.32``,
    ``1e-3``, ``2.5e-5``, ``14,560``, ``1.2e9``; ``∞``, ``NaN`` and ``—`` (None) for the rest."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v).lower()
    if not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, float) and math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if v == 0:
        return "0"
    a = abs(v)
    if (isinstance(v, int) or float(v).is_integer()) and a < 1e12:
        return f"{int(v):,}"
    if a >= 1e6 or a < 1e-3:
        mantissa, exp = f"{v:.{max(digits - 1, 0)}e}".split("e")
        return f"{_trim(mantissa)}e{int(exp)}"
    if a >= 1000:
        return f"{v:,.{max(0, digits - int(math.log10(a)) - 1)}f}"
    return _trim(f"{v:.{digits}g}")


def _decimals(step: float) -> int:
    """Decimal places that write ``step`` (and so every multiple of it) exactly."""
    for d in range(0, 12):
        if abs(round(step, d) - step) <= abs(step) * 1e-6:
            return d
    return 12


def _tick_labels(ticks: Sequence[float], step: float) -> list[str]:
    """Labels for evenly spaced ticks: one precision for all, enough to tell neighbours apart."""
    big = max((abs(t) for t in ticks), default=0.0)
    if big == 0 or step <= 0:
        return [format_number(t) for t in ticks]
    if big >= 1e6 or big < 1e-3:
        # Scientific: as many mantissa digits as the step needs relative to its own exponent.
        out = []
        for t in ticks:
            if t == 0:
                out.append("0")
                continue
            e = math.floor(math.log10(abs(t)) + 1e-12)
            m = t / 10**e
            d = min(_decimals(step / 10**e), 4)
            out.append(f"{_trim(f'{m:.{d}f}')}e{e}")
        return out
    d = _decimals(step)
    if d == 0:
        return [f"{int(round(t)):,}" for t in ticks]
    return [f"{t:.{d}f}" for t in ticks]


def nice_ticks(lo: float, hi: float, count: int = 5) -> tuple[list[float], float]:
    """Evenly spaced round ticks (steps of 1, 2, 2.5 or 5 × 10ⁿ) covering [lo, hi], and the step."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0], 1.0
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step + 1e-9) * step
    ticks = []
    t = start
    while t <= hi + step * 1e-9 and len(ticks) < 50:
        ticks.append(0.0 if abs(t) < step * 1e-9 else round(t, 12))
        t += step
    if ticks[-1] < hi - step * 1e-9:
        ticks.append(round(t, 12))
    return ticks, step


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks for a log axis over [lo, hi] (both > 0): powers of ten, with 2× and 5× when the range is
    narrow; always at least two, bracketing the data."""
    if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)):
        return [1.0, 10.0]
    lo_e, hi_e = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    if hi_e == lo_e:
        hi_e += 1
    decades = hi_e - lo_e
    mults = (1, 2, 5) if decades <= 2 else (1,)
    stride = max(1, math.ceil(decades / 8))
    ticks = [m * 10.0**e for e in range(lo_e, hi_e + 1, stride if mults == (1,) else 1) for m in mults]
    inside = [t for t in ticks if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)]
    below = [t for t in ticks if t < lo]
    above = [t for t in ticks if t > hi]
    out = ([below[-1]] if below else []) + inside + ([above[0]] if above else [])
    return out if len(out) >= 2 else [10.0**lo_e, 10.0**hi_e]


def _log_label(t: float) -> str:
    e = math.floor(math.log10(t) + 1e-9)
    m = t / 10**e
    if 1e-3 <= t < 1e4:
        return format_number(t)
    return f"{_trim(f'{m:.1f}')}e{e}" if abs(m - 1) > 1e-9 else f"1e{e}"


def _open(width: int, height: int, title: str, standalone: bool, desc: str = "") -> list[str]:
    ns = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    return [
        f'<svg{ns} class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{_t(title)}" font-family="{_t(FONT)}" font-size="11" '
        f'preserveAspectRatio="xMidYMid meet">',
        f"<title>{_t(title)}</title>" + (f"<desc>{_t(desc)}</desc>" if desc else ""),
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]


def _legend(names: Sequence[str], colors: Sequence[str], x0: float, y0: float, max_w: float,
            swatch: str = "line") -> tuple[list[str], float]:
    """Legend items laid out left to right, wrapping; returns the SVG and the height used."""
    out, x, y, row_h = [], x0, y0, 16
    for name, color in zip(names, colors):
        label = name if len(name) <= 48 else name[:47] + "…"
        w = 22 + len(label) * CHAR_W + 14
        if x > x0 and x + w > x0 + max_w:
            x, y = x0, y + row_h
        if swatch == "line":
            out.append(f'<line x1="{_n(x)}" y1="{_n(y + 6)}" x2="{_n(x + 16)}" y2="{_n(y + 6)}" '
                       f'stroke="{color}" stroke-width="2.5" stroke-linecap="round"/>')
        else:
            out.append(f'<rect x="{_n(x + 2)}" y="{_n(y + 1)}" width="12" height="10" rx="2" fill="{color}"/>')
        out.append(f'<text x="{_n(x + 22)}" y="{_n(y + 10)}" fill="{INK}">{_t(label)}</text>')
        x += w
    return out, (y - y0 + row_h) if names else 0


def _points(raw: object) -> list[tuple[float, float]]:
    pts = []
    if not isinstance(raw, Iterable) or isinstance(raw, (str, bytes, Mapping)):
        return pts
    for p in raw:
        if isinstance(p, Mapping):
            p = (p.get("x", p.get("step")), p.get("y", p.get("value")))
        if not isinstance(p, Sequence) or isinstance(p, (str, bytes)) or len(p) < 2:
            continue
        x, y = _finite(p[0]), _finite(p[1])
        if x is not None and y is not None:
            pts.append((x, y))
    return pts


def line_chart(series: Mapping[str, object], *, title: str = "", x_label: str = "", y_label: str = "",
               log_y: bool = False, width: int = 520, height: int = 280, markers: bool | None = None,
               standalone: bool = False) -> str:
    """A line chart of one or more series of (x, y) points, each drawn in x order.

    ``series`` maps a name to its points (pairs, or ``{"x":…, "y":…}``). Non-finite values are
    skipped; with ``log_y`` non-positive values are too (and the axis falls back to linear when no
    positive value is left). A series with one point is drawn as a dot; constant values get a
    padded axis. Markers are drawn when ``markers`` is True, or (None) when every series is short.
    """
    data = [(str(name), sorted(_points(pts))) for name, pts in series.items()]
    if log_y:
        positive = [(n, [(x, y) for x, y in p if y > 0]) for n, p in data]
        if any(p for _, p in positive):
            data = positive
        else:
            log_y = False
    data_nonempty = [(n, p) for n, p in data if p]
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(data))]
    out = _open(width, height, title or "chart", standalone)
    pad_l, pad_r = 62, 16
    top = 10
    if title:
        out.append(f'<text x="12" y="{top + 12}" font-size="13" font-weight="600" fill="{INK}">{_t(title)}</text>')
        top += 22
    if len(data) > 1:
        leg, h = _legend([n for n, _ in data], colors, pad_l, top, width - pad_l - pad_r)
        out += leg
        top += h + 4
    top += 6
    bottom = height - (44 if x_label else 28)
    left, right = pad_l, width - pad_r
    if bottom - top < 40:
        bottom = top + 40
    if not data_nonempty:
        out.append(f'<rect x="{left}" y="{_n(top)}" width="{right - left}" height="{_n(bottom - top)}" '
                   f'fill="#f8fafc" stroke="{GRID}"/>')
        out.append(f'<text x="{_n((left + right) / 2)}" y="{_n((top + bottom) / 2 + 4)}" text-anchor="middle" '
                   f'fill="{MUTED}">no data</text>')
        out.append("</svg>")
        return "\n".join(out)

    xs = [x for _, p in data_nonempty for x, _ in p]
    ys = [y for _, p in data_nonempty for _, y in p]
    xt, xstep = nice_ticks(min(xs), max(xs), 6)
    x_lo, x_hi = xt[0], xt[-1]
    if log_y:
        yt = log_ticks(min(ys), max(ys))
        y_lo, y_hi = math.log10(yt[0]), math.log10(yt[-1])
        ylabels = [_log_label(t) for t in yt]
        ypos_vals = [math.log10(t) for t in yt]
    else:
        lo, hi = min(ys), max(ys)
        if hi > lo:  # a little air above and below the data
            lo, hi = lo - (hi - lo) * 0.04, hi + (hi - lo) * 0.04
            if min(ys) >= 0 > lo:
                lo = 0.0
        yt, ystep = nice_ticks(lo, hi, 5)
        y_lo, y_hi = yt[0], yt[-1]
        ylabels = _tick_labels(yt, ystep)
        ypos_vals = yt
    # Make room for the longest y label.
    left = max(left, 16 + (18 if y_label else 0) + max(len(s) for s in ylabels) * CHAR_W)

    def px(x: float) -> float:
        return left + (x - x_lo) / ((x_hi - x_lo) or 1) * (right - left)

    def py(y: float) -> float:
        v = math.log10(y) if log_y else y
        return bottom - (v - y_lo) / ((y_hi - y_lo) or 1) * (bottom - top)

    def py_raw(v: float) -> float:
        return bottom - (v - y_lo) / ((y_hi - y_lo) or 1) * (bottom - top)

    # Grid and axes.
    for v, label in zip(ypos_vals, ylabels):
        y = py_raw(v)
        out.append(f'<line x1="{_n(left)}" y1="{_n(y)}" x2="{_n(right)}" y2="{_n(y)}" stroke="{GRID}"/>')
        out.append(f'<text x="{_n(left - 6)}" y="{_n(y + 3.5)}" text-anchor="end" fill="{MUTED}">{_t(label)}</text>')
    for v, label in zip(xt, _tick_labels(xt, xstep)):
        x = px(v)
        out.append(f'<line x1="{_n(x)}" y1="{_n(bottom)}" x2="{_n(x)}" y2="{_n(bottom + 4)}" stroke="{AXIS}"/>')
        out.append(f'<text x="{_n(x)}" y="{_n(bottom + 16)}" text-anchor="middle" fill="{MUTED}">{_t(label)}</text>')
    out.append(f'<line x1="{_n(left)}" y1="{_n(bottom)}" x2="{_n(right)}" y2="{_n(bottom)}" stroke="{AXIS}"/>')
    out.append(f'<line x1="{_n(left)}" y1="{_n(top)}" x2="{_n(left)}" y2="{_n(bottom)}" stroke="{AXIS}"/>')
    if x_label:
        out.append(f'<text x="{_n((left + right) / 2)}" y="{_n(height - 8)}" text-anchor="middle" '
                   f'fill="{INK}">{_t(x_label)}</text>')
    if y_label:
        cy = (top + bottom) / 2
        lab = y_label + (" (log)" if log_y else "")
        out.append(f'<text x="14" y="{_n(cy)}" text-anchor="middle" fill="{INK}" '
                   f'transform="rotate(-90 14 {_n(cy)})">{_t(lab)}</text>')
    # Series.
    short = all(len(p) <= 40 for _, p in data_nonempty)
    draw_markers = short if markers is None else markers
    for (name, pts), color in zip(data, colors):
        if not pts:
            continue
        if len(pts) > 1:
            d = " ".join(f"{'M' if i == 0 else 'L'}{_n(px(x))},{_n(py(y))}" for i, (x, y) in enumerate(pts))
            out.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="2" '
                       f'stroke-linejoin="round" stroke-linecap="round"><title>{_t(name)}</title></path>')
        if draw_markers or len(pts) == 1:
            for x, y in pts:
                out.append(f'<circle cx="{_n(px(x))}" cy="{_n(py(y))}" r="{3 if len(pts) > 1 else 4}" '
                           f'fill="{color}" stroke="#fff" stroke-width="1">'
                           f"<title>{_t(name)}: {_t(format_number(x))} → {_t(format_number(y, 5))}</title></circle>")
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(categories: Sequence[str], groups: Mapping[str, Sequence[float | None]], *, title: str = "",
              value_label: str = "", log_x: bool = False, width: int = 640, bar_h: int = 14,
              colors: Mapping[str, str] | None = None, value_format=None, missing_text: str = "missing",
              standalone: bool = False) -> str:
    """A horizontal grouped bar chart: one row per category, one bar per group within it.

    ``groups`` maps a group name (e.g. "declared", "measured") to one value per category; a missing
    (None) or non-finite value draws no bar and is labelled as such. With ``log_x`` zero and negative
    values draw no bar either (labelled with their value).
    """
    cats = [str(c) for c in categories]
    names = [str(g) for g in groups]
    raw = [(list(vs) + [None] * len(cats))[: len(cats)] for vs in groups.values()]
    vals = [[_finite(v) for v in row] for row in raw]
    fmt = value_format or format_number
    palette = [(colors or {}).get(n, PALETTE[i % len(PALETTE)]) for i, n in enumerate(names)]
    label_w = min(max((len(c) for c in cats), default=4) * CHAR_W + 12, width * 0.34)
    left, right = 12 + label_w, width - 70
    top = 10
    head: list[str] = []
    if title:
        head.append(f'<text x="12" y="{top + 12}" font-size="13" font-weight="600" fill="{INK}">{_t(title)}</text>')
        top += 22
    if len(names) > 1:
        leg, h = _legend(names, palette, 12, top, width - 24, swatch="box")
        head += leg
        top += h + 4
    top += 4
    gap = 10
    row_h = max(len(names), 1) * (bar_h + 2) + gap
    bottom = top + max(len(cats), 1) * row_h
    height = int(bottom + (40 if value_label else 26))
    out = _open(width, height, title or "bar chart", standalone) + head
    finite = [v for vs in vals for v in vs if v is not None and (v > 0 or not log_x)]
    if not cats:
        out.append(f'<text x="{_n((left + right) / 2)}" y="{_n(top + 16)}" text-anchor="middle" fill="{MUTED}">'
                   f"no data</text></svg>")
        return "\n".join(out)
    if log_x and finite:
        xt = log_ticks(min(finite), max(finite))
        lo, hi = math.log10(xt[0]), math.log10(xt[-1])
        xlabels = [_log_label(t) for t in xt]
        xpos = [math.log10(t) for t in xt]

        def sx(v: float) -> float:
            return left + (math.log10(v) - lo) / ((hi - lo) or 1) * (right - left)
        base = left
    else:
        log_x = False
        data = [v for vs in vals for v in vs if v is not None] or [0.0]
        xt, step = nice_ticks(min(0.0, min(data)), max(0.0, max(data)), 5)
        lo, hi = xt[0], xt[-1]
        xlabels = _tick_labels(xt, step)
        xpos = xt

        def sx(v: float) -> float:
            return left + (v - lo) / ((hi - lo) or 1) * (right - left)
        base = sx(0.0)
    for v, label in zip(xpos, xlabels):
        x = left + (v - lo) / ((hi - lo) or 1) * (right - left)
        out.append(f'<line x1="{_n(x)}" y1="{_n(top - 2)}" x2="{_n(x)}" y2="{_n(bottom)}" stroke="{GRID}"/>')
        out.append(f'<text x="{_n(x)}" y="{_n(bottom + 14)}" text-anchor="middle" fill="{MUTED}">{_t(label)}</text>')
    for ci, cat in enumerate(cats):
        y0 = top + ci * row_h
        label = cat if len(cat) * CHAR_W <= label_w - 12 else cat[: max(int((label_w - 12) / CHAR_W) - 1, 1)] + "…"
        mid = y0 + (row_h - gap) / 2
        out.append(f'<text x="{_n(left - 8)}" y="{_n(mid + 4)}" text-anchor="end" fill="{INK}">'
                   f"<title>{_t(cat)}</title>{_t(label)}</text>")
        for gi, name in enumerate(names):
            v, r = vals[gi][ci], raw[gi][ci]
            y = y0 + gi * (bar_h + 2)
            if v is None:
                text = missing_text if r is None else format_number(r) if isinstance(r, (int, float)) else "n/a"
                shown = f"{name}: {text}" if len(names) > 1 else text
                out.append(f'<text x="{_n(base + 4)}" y="{_n(y + bar_h - 3)}" fill="{MUTED}" font-style="italic">'
                           f"{_t(shown)}</text>")
                continue
            if log_x and v <= 0:
                x0 = x1 = base
            else:
                x0, x1 = sorted((base, sx(v)))
            w = max(x1 - x0, 0.0)
            if w > 0:
                out.append(f'<rect x="{_n(x0)}" y="{_n(y)}" width="{_n(max(w, 1.0))}" height="{bar_h}" rx="2" '
                           f'fill="{palette[gi]}"><title>{_t(cat)} · {_t(name)}: {_t(fmt(v))}</title></rect>')
            out.append(f'<text x="{_n(x1 + 4)}" y="{_n(y + bar_h - 3)}" fill="{INK}" font-size="10">'
                       f"{_t(fmt(v))}</text>")
    out.append(f'<line x1="{_n(base)}" y1="{_n(top - 2)}" x2="{_n(base)}" y2="{_n(bottom)}" stroke="{AXIS}"/>')
    if value_label:
        out.append(f'<text x="{_n((left + right) / 2)}" y="{height - 8}" text-anchor="middle" fill="{INK}">'
                   f"{_t(value_label + (' (log scale)' if log_x else ''))}</text>")
    out.append("</svg>")
    return "\n".join(out)
