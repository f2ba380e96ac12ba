"""The heatmap: a grid of cells, one row per row label and one column per column label, shaded by value."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from audit.render.svg.frame import CHAR_W, GRID, INK, MUTED, esc, heading, open_svg
from audit.render.svg.numbers import coord, finite, format_number

LOW, HIGH = (239, 246, 255), (29, 78, 216)  # white-blue to deep blue


def _shade(v: float, lo: float, hi: float) -> str:
    t = 0.0 if hi <= lo else min(1.0, max(0.0, (v - lo) / (hi - lo)))
    r, g, b = (round(a + (z - a) * t) for a, z in zip(LOW, HIGH))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(rows: Sequence[str], columns: Sequence[str], values: Mapping[tuple[int, int], float], *,
            title: str = "", row_label: str = "", column_label: str = "", value_label: str = "",
            lo: float | None = None, hi: float | None = None, cell: int = 34, standalone: bool = False) -> str:
    """``values`` maps (row index, column index) to a number; missing or non-finite cells are hatched grey.
    The shade runs from ``lo`` (default: the smallest value) to ``hi`` (default: the largest)."""
    vals = {k: f for k, v in values.items() if (f := finite(v)) is not None}
    lo = min(vals.values(), default=0.0) if lo is None else lo
    hi = max(vals.values(), default=1.0) if hi is None else hi
    label_w = max((len(str(r)) for r in rows), default=2) * CHAR_W + 16 + (18 if row_label else 0)
    width = int(max(label_w + len(columns) * cell + 24, 260))
    head, top = heading(title, [], [], 10, 12, width - 24)
    top += 4
    bottom = top + len(rows) * cell
    height = int(bottom + 34 + (16 if column_label else 0) + (22 if value_label else 0))
    out = open_svg(width, height, title or "heatmap", standalone) + head
    if not rows or not columns:
        out.append(f'<text x="{coord(width / 2)}" y="{coord(top + 16)}" text-anchor="middle" fill="{MUTED}">no data</text></svg>')
        return "\n".join(out)
    for ri, r in enumerate(rows):
        y = top + ri * cell
        out.append(f'<text x="{coord(label_w - 6)}" y="{coord(y + cell / 2 + 4)}" text-anchor="end" fill="{INK}">'
                   f"{esc(r)}</text>")
        for ci, c in enumerate(columns):
            x = label_w + ci * cell
            v = vals.get((ri, ci))
            fill = _shade(v, lo, hi) if v is not None else "#f1f5f9"
            tip = f"{row_label or 'row'} {r}, {column_label or 'column'} {c}: " + (format_number(v, 4) if v is not None else "no data")
            out.append(f'<rect x="{coord(x)}" y="{coord(y)}" width="{cell - 2}" height="{cell - 2}" fill="{fill}" '
                       f'stroke="{GRID}"><title>{esc(tip)}</title></rect>')
            if v is not None:
                dark = hi > lo and (v - lo) / (hi - lo) > 0.55
                out.append(f'<text x="{coord(x + cell / 2 - 1)}" y="{coord(y + cell / 2 + 3)}" text-anchor="middle" '
                           f'font-size="9" fill="{"#ffffff" if dark else INK}">{esc(format_number(v, 2))}</text>')
    for ci, c in enumerate(columns):
        out.append(f'<text x="{coord(label_w + ci * cell + cell / 2 - 1)}" y="{coord(bottom + 14)}" text-anchor="middle" '
                   f'fill="{MUTED}">{esc(c)}</text>')
    if column_label:
        out.append(f'<text x="{coord(label_w + len(columns) * cell / 2)}" y="{coord(bottom + 32)}" text-anchor="middle" '
                   f'fill="{INK}">{esc(column_label)}</text>')
    if row_label:
        cy = (top + bottom) / 2
        out.append(f'<text x="14" y="{coord(cy)}" text-anchor="middle" fill="{INK}" '
                   f'transform="rotate(-90 14 {coord(cy)})">{esc(row_label)}</text>')
    if value_label:
        out.append(f'<text x="12" y="{height - 8}" fill="{MUTED}">{esc(value_label)}: shade from '
                   f"{esc(format_number(lo, 3))} (light) to {esc(format_number(hi, 3))} (dark)</text>")
    out.append("</svg>")
    return "\n".join(out)
