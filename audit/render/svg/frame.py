"""What the charts share: colours, the ``<svg>`` element, the title and legend, a linear scale."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from audit.render.svg.numbers import coord

#: Colour-blind-friendly categorical palette (Okabe-Ito based, darkened for white backgrounds).
PALETTE = ("#2563eb", "#d97706", "#059669", "#c026d3", "#0891b2", "#dc2626", "#65a30d", "#7c3aed",
           "#b45309", "#475569")  # fmt: skip
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
AXIS = "#94a3b8"
GRID = "#e2e8f0"
INK = "#334155"
MUTED = "#64748b"
CHAR_W = 6.2  # approximate width of one 11px character, for layout without font metrics


def esc(text: object) -> str:
    """Text (or an attribute value) escaped for SVG."""
    return escape(str(text), quote=True)


@dataclass(frozen=True)
class Scale:
    """A linear map from data values in [lo, hi] to pixels in [start, end] (end < start flips it)."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, v: float) -> float:
        return self.start + (v - self.lo) / ((self.hi - self.lo) or 1) * (self.end - self.start)


def open_svg(width: int, height: int, title: str, standalone: bool, desc: str = "") -> list[str]:
    """The opening ``<svg>`` tag, its title (and description) and a white background."""
    ns = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    return [
        f'<svg{ns} class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(title)}" font-family="{esc(FONT)}" font-size="11" '
        f'preserveAspectRatio="xMidYMid meet">',
        f"<title>{esc(title)}</title>" + (f"<desc>{esc(desc)}</desc>" if desc else ""),
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]


def legend(names: Sequence[str], colors: Sequence[str], x0: float, y0: float, max_w: float,
           swatch: str = "line") -> tuple[list[str], float]:
    """Legend items laid out left to right, wrapping; returns the SVG and the height used."""
    out, x, y, row_h = [], x0, y0, 16
    for name, color in zip(names, colors):
        label = name if len(name) <= 48 else name[:47] + "…"
        w = 22 + len(label) * CHAR_W + 14
        if x > x0 and x + w > x0 + max_w:
            x, y = x0, y + row_h
        if swatch == "line":
            out.append(f'<line x1="{coord(x)}" y1="{coord(y + 6)}" x2="{coord(x + 16)}" y2="{coord(y + 6)}" '
                       f'stroke="{color}" stroke-width="2.5" stroke-linecap="round"/>')
        else:
            out.append(f'<rect x="{coord(x + 2)}" y="{coord(y + 1)}" width="12" height="10" rx="2" fill="{color}"/>')
        out.append(f'<text x="{coord(x + 22)}" y="{coord(y + 10)}" fill="{INK}">{esc(label)}</text>')
        x += w
    return out, (y - y0 + row_h) if names else 0


def heading(title: str, names: Sequence[str], colors: Sequence[str], top: float, legend_x: float,
            legend_w: float, swatch: str = "line") -> tuple[list[str], float]:
    """The chart's title and, for more than one series, its legend, drawn down from ``top``;
    returns the SVG and the new top."""
    out = []
    if title:
        out.append(f'<text x="12" y="{top + 12}" font-size="13" font-weight="600" fill="{INK}">{esc(title)}</text>')
        top += 22
    if len(names) > 1:
        leg, h = legend(names, colors, legend_x, top, legend_w, swatch)
        out += leg
        top += h + 4
    return out, top
