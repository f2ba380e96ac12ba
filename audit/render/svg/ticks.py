"""Axis ticks: where they go (linear and log axes) and how they are labelled."""

from __future__ import annotations

import math
from collections.abc import Sequence

from audit.render.svg.numbers import format_number, trim


def _decimals(step: float) -> int:
    """Decimal places that write ``step`` (and so every multiple of it) exactly."""
    for d in range(0, 12):
        if abs(round(step, d) - step) <= abs(step) * 1e-6:
            return d
    return 12


def _scientific_labels(ticks: Sequence[float], step: float) -> list[str]:
    """As many mantissa digits as the step needs relative to each tick's own exponent."""
    out = []
    for t in ticks:
        if t == 0:
            out.append("0")
            continue
        e = math.floor(math.log10(abs(t)) + 1e-12)
        m = t / 10**e
        d = min(_decimals(step / 10**e), 4)
        out.append(f"{trim(f'{m:.{d}f}')}e{e}")
    return out


def tick_labels(ticks: Sequence[float], step: float) -> list[str]:
    """Labels for evenly spaced ticks: one precision for all, enough to tell neighbours apart."""
    big = max((abs(t) for t in ticks), default=0.0)
    if big == 0 or step <= 0:
        return [format_number(t) for t in ticks]
    if big >= 1e6 or big < 1e-3:
        return _scientific_labels(ticks, step)
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


def log_label(t: float) -> str:
    """The label of one log-axis tick: plain in [1e-3, 1e4), else ``1e5``, ``2e-4``."""
    e = math.floor(math.log10(t) + 1e-9)
    m = t / 10**e
    if 1e-3 <= t < 1e4:
        return format_number(t)
    return f"{trim(f'{m:.1f}')}e{e}" if abs(m - 1) > 1e-9 else f"1e{e}"
