"""Adaptive alpha (points=auto): sample a line densely only where it bends.

Start from a coarse grid over [lo, hi]; test every interval between neighbouring samples at one
new point inside it: where linear interpolation between the two neighbours misses J there by more
than `tolerance` x (max J - min J) (for any split), both halves are tested again in the next
round; where it does not, the interval is done. Every tested point is kept (it was evaluated).
Rounds end when every interval is done or the budget of BUDGET points is reached (then the
intervals whose last test missed most are refined first).

The new points lie on a dyadic lattice of the alpha axis (multiples of powers of two), not on a
lattice of the window: the coarse grid is lo, hi and the multiples of 2^floor(log2((hi-lo)/16))
between them, and an interval is tested at its coarsest lattice point (the midpoint, between two
lattice points). So a zoom into a window asks for the very alphas that the wider line already
evaluated at that resolution, and `known` (the points of the line evaluated before in this
process, compute/lines.py) answers them exactly, with the values those evaluations gave.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

COARSE_INTERVALS = 16  # the coarse grid: about this many intervals over [lo, hi]
BUDGET = 401  # most points one adaptive line evaluates (the coarse grid included)
_MIN_WIDTH = 1e-9  # of hi - lo: intervals narrower than this are never split


def lattice_point(a: float, b: float) -> float | None:
    """The point of (a, b) on the coarsest dyadic lattice (its multiple of 2^e nearest the middle)."""
    width = b - a
    if not width > 0:
        return None
    e = math.floor(math.log2(width))
    for step in (2.0 ** e, 2.0 ** (e - 1)):  # an open interval of width >= 2 step holds a multiple
        first, last = math.floor(a / step) + 1, math.ceil(b / step) - 1
        if first <= last:
            middle = (a + b) / 2
            k = min(max(round(middle / step), first), last)
            return k * step
    return None


def coarse_grid(lo: float, hi: float) -> list[float]:
    step = 2.0 ** math.floor(math.log2((hi - lo) / COARSE_INTERVALS))
    inner = [k * step for k in range(math.floor(lo / step) + 1, math.ceil(hi / step))]
    return [lo] + [a for a in inner if lo < a < hi] + [hi]


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

    add(coarse_grid(lo, hi))
    points = sorted(values)
    # open intervals (a, b) with how badly they were last missed (inf: never tested)
    open_ = {(a, b): math.inf for a, b in zip(points[:-1], points[1:])}
    min_width = _MIN_WIDTH * (hi - lo)
    while open_ and len(values) < budget:
        tests = {iv: lattice_point(*iv) for iv in open_ if iv[1] - iv[0] > min_width}
        tests = {iv: m for iv, m in tests.items() if m is not None}
        if not tests:
            break
        room = budget - len(values)
        ranked = sorted(tests, key=lambda iv: (-open_[iv], iv[0]))
        new = [tests[iv] for iv in ranked if tests[iv] not in values]
        add(new[:room])
        stack = np.array(list(values.values()))
        span = np.nanmax(stack, axis=0) - np.nanmin(stack, axis=0)
        next_open = {}
        for iv in ranked:
            m = tests[iv]
            if m not in values:  # over budget: left as it is
                continue
            a, b = iv
            line = values[a] + (values[b] - values[a]) * (m - a) / (b - a)
            miss = np.abs(values[m] - line) / np.where(span > 0, span, np.inf)
            worst = float(np.nanmax(miss)) if np.isfinite(miss).any() else math.inf
            if not worst <= tolerance:  # a NaN is a miss too: look closer
                next_open[(a, m)] = next_open[(m, b)] = worst
        open_ = next_open
        if progress is not None:
            progress(len(values), budget)
    return sorted(values)
