"""Pearson and Spearman correlation with their two-sided p-values, in numpy and ``math`` only
(scipy is not a dependency); the same figures as ``scipy.stats.pearsonr`` / ``spearmanr`` to about
1e-12 (tests/test_wordeval.py checks them against scipy when it is installed).

- Spearman's rho is Pearson's r of the average ranks (ties share their mean rank).
- Pearson's p-value is scipy's exact test: under independence r follows Beta(n/2 - 1, n/2 - 1) on
  (-1, 1). Spearman's is scipy's t approximation with n - 2 degrees of freedom. Both need the
  regularized incomplete beta function, computed by Lentz's continued fraction.

    >>> round(spearman(np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0])), 12)
    0.5

Left out: one-sided alternatives, Kendall's tau, confidence intervals.
"""

from __future__ import annotations

import math

import numpy as np

from embedcli.errors import UsageError


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing their average rank (scipy's ``rankdata(method="average")``)."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    avg = (starts + ends + 1) / 2.0  # mean of ranks start+1 .. end
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson's r (None when either side is constant or there are fewer than two values)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) != len(y):
        raise UsageError("pearson: the two samples differ in length")
    if len(x) < 2:
        return None
    xm = x - x.mean()
    ym = y - y.mean()
    nx, ny = np.linalg.norm(xm), np.linalg.norm(ym)
    if nx == 0 or ny == 0:
        return None
    r = float(np.dot(xm / nx, ym / ny))
    return max(-1.0, min(1.0, r))


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rho: Pearson's r of the average ranks (exactly +-1 for the same or the reversed
    order, as scipy's: its p-value is then 0)."""
    rx, ry = rankdata(x), rankdata(y)
    r = pearson(rx, ry)
    if r is not None and np.array_equal(rx, ry):
        return 1.0
    if r is not None and np.array_equal(rx, len(rx) + 1 - ry):
        return -1.0
    return r


def pearson_pvalue(r: float | None, n: int) -> float | None:
    """Two-sided p-value of Pearson's r under independence: r on (-1, 1) follows Beta(n/2 - 1,
    n/2 - 1), so p = 2 I_{(1-|r|)/2}(n/2 - 1, n/2 - 1) (scipy's exact test)."""
    if r is None or n < 3:
        return None
    a = n / 2.0 - 1.0
    return min(1.0, 2.0 * betainc((1.0 - abs(r)) / 2.0, a, a))


def spearman_pvalue(rho: float | None, n: int) -> float | None:
    """Two-sided p-value of Spearman's rho by scipy's t approximation with n - 2 degrees of
    freedom: p = I_{df/(df+t^2)}(df/2, 1/2)."""
    if rho is None or n < 3:
        return None
    df = n - 2.0
    if abs(rho) >= 1.0:
        return 0.0
    t2 = rho * rho * df / ((1.0 + rho) * (1.0 - rho))
    return min(1.0, betainc(df / (df + t2), df / 2.0, 0.5))


def betainc(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function I_x(a, b) (Lentz's continued fraction, as
    Numerical Recipes' betai; relative error ~1e-14)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(x, a, b) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(1.0 - x, b, a) / b


def _beta_fraction(x: float, a: float, b: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        for num in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h
