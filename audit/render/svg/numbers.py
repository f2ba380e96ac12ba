"""Numbers as text: values for people (axes, tables, tooltips) and coordinates for SVG."""

from __future__ import annotations

import math


def coord(v: float) -> str:
    """A coordinate: short and locale-free."""
    return f"{v:.2f}".rstrip("0").rstrip(".") if math.isfinite(v) else "0"


def finite(v: object) -> float | None:
    """``v`` as a float when it is a finite number (not a bool), else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def trim(mantissa: str) -> str:
    """A decimal without trailing zeros (and without a trailing point)."""
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
        return f"{trim(mantissa)}e{int(exp)}"
    if a >= 1000:
        return f"{v:,.{max(0, digits - int(math.log10(a)) - 1)}f}"
    return trim(f"{v:.{digits}g}")
