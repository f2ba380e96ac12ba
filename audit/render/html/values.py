"""Evidence values as readable markup: numbers, sizes, durations, hashes, small lists and maps."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from audit.render.html.markup import DASH, code, esc, human_key
from audit.render.svg import format_number
from audit.spec.report import Report

#: Evidence keys drawn as charts rather than listed.
PLOTTED = {"series", "evaluations"}
NONE = '<span class="muted">none</span>'


def percent(frac: float) -> str:
    if 0 < frac < 0.001:
        return "&lt;0.1%"
    if 0.999 < frac < 1:
        return "&gt;99.9%"
    return f"{frac:.1%}"


def byte_size(n: float) -> str:
    """``n`` bytes in decimal units: ``512 B``, ``1.5 MB``."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return str(n)


def duration(s: float | None) -> str:
    """Seconds as ``12 ms``, ``3.40 s`` or ``2.5 min``; ``—`` when unknown."""
    if s is None or not isinstance(s, (int, float)) or not math.isfinite(s):
        return "—"
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 120:
        return f"{s:.2f} s"
    return f"{s / 60:.1f} min"


def is_scalar(v: object) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def scalar(key: str, v: object) -> str:
    """One scalar value; sizes (keys naming bytes) in units, hashes and commits as code."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        if "bytes" in key and isinstance(v, (int, float)) and math.isfinite(v):
            return f'{byte_size(v)} <span class="muted">({format_number(v)})</span>'
        return esc(format_number(v, 6))
    if v is None:
        return DASH
    s = str(v)
    if len(s) >= 12 and all(c in "0123456789abcdef" for c in s):  # a hash or commit
        return code(s)
    return esc(s)


def _mapping_value(key: str, v: Mapping) -> str:
    if key in PLOTTED:
        return f'<span class="muted">{len(v)} series, plotted below</span>'
    if len(v) <= 12 and all(is_scalar(x) for x in v.values()):
        return ", ".join(f"{esc(k)}: {scalar(key, x)}" for k, x in v.items()) or NONE
    return f'<span class="muted">{len(v)} entries</span>'


def evidence_value(key: str, v: object) -> str:
    """A readable value: scalars as they are, small flat lists and maps inline, big ones summarised."""
    if is_scalar(v):
        return scalar(key, v)
    if isinstance(v, Mapping):
        return _mapping_value(key, v)
    if isinstance(v, (list, tuple)):
        if len(v) <= 12 and all(is_scalar(x) for x in v):
            return ", ".join(scalar(key, x) for x in v) or NONE
        return f'<span class="muted">{len(v)} items</span>'
    return esc(v)


def evidence(ev: object) -> str:
    """A criterion's evidence as a definition list."""
    if not isinstance(ev, Mapping) or not ev:
        return DASH
    rows = [f"<dt>{esc(human_key(k))}</dt><dd>{evidence_value(str(k), v)}</dd>" for k, v in ev.items()]
    return f'<dl class="kv">{"".join(rows)}</dl>'


def evidence_of(report: Report, criterion: str) -> Mapping[str, Any]:
    """The evidence a criterion recorded ({} when it has none)."""
    res = report.criteria.get(criterion)  # type: ignore[call-overload]
    ev = getattr(res, "evidence", None)
    return ev if isinstance(ev, Mapping) else {}
