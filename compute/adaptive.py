"""Adaptive alpha (points=auto): sample a line densely only where it bends.

Start from a coarse grid over [lo, hi]; estimate on every interval between neighbouring samples
how far linear interpolation is from J, from the curvature the neighbouring samples show (second
divided differences: the error of linear interpolation is |J''| h^2 / 8); in one round, cut every
interval whose estimate e exceeds `tolerance` x (max J - min J) (for any split of the data) into
m = ceil(sqrt(e / tolerance)) equal pieces, worst first: the error falls as h^2, so m pieces
bring it to about the tolerance, where halving would often overshoot it fourfold (on the default
relu-mnist line, halving took 51 points where this takes about 40). Rounds end when no estimate
exceeds the tolerance or the budget of BUDGET points is reached. An interval judged fine costs
nothing. The coarse grid must be fine enough to see every bend (COARSE_INTERVALS): a feature
narrower than one coarse interval that leaves no trace at the samples is not found.

How few points are possible: on smooth lines whose curvature is spread out, not many fewer than a
uniform grid. For the page's default init -> final lines of the small relu-mnist and sigmoid-mnist
runs, a grid placed with full knowledge of the curve (density ~ sqrt|J''|, the optimum for linear
interpolation) needs 27 and 31 points for the maximum error of 50 uniform ones
(benchmarks/adaptive.py prints that bound beside our count). Adaptive lines pay most where the
curve has a few sharp features: a barrier, a step, a narrow valley.

Reuse. `known` holds the points of the same line evaluated before (compute/kinds/line.py keeps them in
the cache of the job computing the line, so a zoom on any worker sees them): those inside
[lo, hi] start the new line, with its two ends, and the coarse grid adds a point only where they
leave a gap of more than half a coarse interval. So a zoom into a window evaluates only what the wider
line did not, and the points it reuses have the very values those evaluations gave.
"""

from __future__ import annotations

import bisect
import math
from typing import Callable

import numpy as np

COARSE_INTERVALS = 12  # the coarse grid: this many equal intervals over [lo, hi]
BUDGET = 401  # most points one adaptive line evaluates (the coarse grid included)
MAX_PIECES = 8  # most pieces an interval is cut into in one round: curvature seen on a coarse interval is a guess
_MIN_WIDTH = 1e-9  # of hi - lo: intervals narrower than this are never cut


def interpolation_error(a: np.ndarray, j: np.ndarray) -> np.ndarray:
    """(P-1, S): the error of linear interpolation on each interval, estimated from the curvature
    at its two ends (second divided differences of neighbouring samples): |J''| h^2 / 8."""
    h = np.diff(a)
    slope = np.diff(j, axis=0) / h[:, None]
    curvature = np.zeros_like(j)
    if len(a) > 2:
        curvature[1:-1] = 2 * np.abs(np.diff(slope, axis=0)) / (h[:-1] + h[1:])[:, None]
        curvature[0], curvature[-1] = curvature[1], curvature[-2]  # the ends: their neighbour's
    return np.maximum(curvature[:-1], curvature[1:]) * (h ** 2 / 8)[:, None]


def initial_alphas(lo: float, hi: float, known: list[float]) -> list[float]:
    """lo, hi, the known points inside, and each point of the coarse grid farther than half a
    coarse interval from all of those."""
    have = sorted({lo, hi, *(a for a in known if lo <= a <= hi)})
    reach = (hi - lo) / COARSE_INTERVALS / 2
    coarse = [lo + (hi - lo) * i / COARSE_INTERVALS for i in range(1, COARSE_INTERVALS)]
    return sorted(have + [c for c in coarse if _distance(have, c) > reach])


def _distance(ascending: list[float], x: float) -> float:
    k = bisect.bisect_left(ascending, x)
    return min(abs(ascending[i] - x) for i in (k - 1, k) if 0 <= i < len(ascending))


def pieces(estimate: float, tolerance: float) -> int:
    """How many equal pieces bring an interval's estimated error to the tolerance (NaN: two)."""
    if not math.isfinite(estimate):
        return 2
    return min(MAX_PIECES, max(2, math.ceil(math.sqrt(estimate / tolerance))))


def adaptive_alphas(lo: float, hi: float, tolerance: float,
                    evaluate: Callable[[list[float]], np.ndarray], known: dict[float, np.ndarray] | None = None,
                    budget: int = BUDGET, progress: Callable[[int, int], None] | None = None) -> list[float]:
    """The alphas of an adaptive line over [lo, hi], ascending.

    evaluate(alphas) -> (len(alphas), S): J of each split at new alphas; known: {alpha: (S,)} of
    points already evaluated (those inside [lo, hi] are reused and kept).
    """
    values: dict[float, np.ndarray] = {a: v for a, v in (known or {}).items() if lo <= a <= hi}

    def add(alphas: list[float]) -> None:
        missing = [a for a in dict.fromkeys(alphas) if a not in values]
        if missing:
            for a, row in zip(missing, np.asarray(evaluate(missing), dtype=np.float64)):
                values[a] = row

    add(initial_alphas(lo, hi, list(values))[:budget])
    min_width = _MIN_WIDTH * (hi - lo)
    while len(values) < budget:
        a = np.array(sorted(values))
        j = np.array([values[x] for x in a])  # (P, S)
        span = np.nanmax(j, axis=0) - np.nanmin(j, axis=0)
        miss = interpolation_error(a, j) / np.where(span > 0, span, np.inf)[None, :]  # (P-1, S)
        worst = np.where(np.isnan(miss), np.inf, miss).max(axis=1)  # a NaN is a miss too: look closer
        new = []
        for k in np.argsort(-worst, kind="stable"):
            if not worst[k] > tolerance:
                break
            left, width = float(a[k]), float(a[k + 1] - a[k])
            if width > min_width:
                m = pieces(float(worst[k]), tolerance)
                new += [left + width * i / m for i in range(1, m)]
        new = [x for x in new if x not in values]
        if not new:
            break
        add(new[:budget - len(values)])
        if progress is not None:
            progress(len(values), budget)
    return sorted(values)
