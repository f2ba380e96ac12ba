"""Rank tests in plain Python: Mann-Whitney U (normal approximation with tie and continuity correction,
as ``scipy.stats.mannwhitneyu(method="asymptotic")``) and Spearman's rho (with the t-approximation
p-value, as ``scipy.stats.spearmanr``), plus the power of the one-sided U test."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def normal_isf(p: float) -> float:
    """The z with P(Z > z) = p (bisection; 1e-12 is plenty for thresholds)."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if normal_sf(mid) > p else (lo, mid)
    return (lo + hi) / 2


@dataclass(frozen=True)
class UTest:
    u: float  # U of the first sample: pairs (x, y) with x > y, ties counting one half
    p_greater: float  # one-sided p-value: the first sample tends to be larger
    p_less: float  # one-sided p-value: the first sample tends to be smaller
    effect: float  # common-language effect size U / (n1 n2): P(x > y) + P(x = y) / 2
    sigma: float  # standard deviation of the effect size under the null hypothesis


def mann_whitney(x: Sequence[float], y: Sequence[float]) -> UTest:
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need at least one value")
    r = ranks(list(x) + list(y))
    u = sum(r[:n1]) - n1 * (n1 + 1) / 2
    n = n1 + n2
    counts: dict[float, int] = {}
    for v in r:
        counts[v] = counts.get(v, 0) + 1
    tie = sum(t**3 - t for t in counts.values())
    var = n1 * n2 / 12 * ((n + 1) - tie / (n * (n - 1))) if n > 1 else 0.0
    mean = n1 * n2 / 2
    if var <= 0:
        return UTest(u, 1.0, 1.0, u / (n1 * n2), 0.0)
    sd = math.sqrt(var)
    p_greater = normal_sf((u - mean - 0.5) / sd)
    p_less = normal_sf((mean - u - 0.5) / sd)
    return UTest(u, min(1.0, p_greater), min(1.0, p_less), u / (n1 * n2), sd / (n1 * n2))


def u_power(effect: float, n1: int, n2: int, alpha: float) -> float:
    """Power of the one-sided U test at ``alpha`` against a true common-language effect ``effect``
    (normal approximation, the null variance: Noether's formula)."""
    sigma = math.sqrt((n1 + n2 + 1) / (12 * n1 * n2))
    return normal_sf(normal_isf(alpha) - (effect - 0.5) / sigma)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (Numerical Recipes, Lentz's method)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1 + aa * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1 - tail


@dataclass(frozen=True)
class Spearman:
    rho: float
    p_two_sided: float
    p_greater: float  # one-sided: rho > 0


def spearman(x: Sequence[float], y: Sequence[float]) -> Spearman:
    n = len(x)
    if n != len(y) or n < 3:
        raise ValueError("Spearman's rho needs two samples of the same length, at least 3")
    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / n, sum(ry) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx, syy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return Spearman(0.0, 1.0, 1.0)
    rho = max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))
    if abs(rho) == 1:
        return Spearman(rho, 0.0, 0.0 if rho > 0 else 1.0)
    t = rho * math.sqrt((n - 2) / (1 - rho * rho))
    greater = t_sf(t, n - 2)
    return Spearman(rho, min(1.0, 2 * min(greater, 1 - greater)), greater)
