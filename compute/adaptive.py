"""Adaptive alpha (points=auto): sample a line densely only where it bends.

Start from a coarse grid over [lo, hi]; estimate on every interval between neighbouring samples
how far linear interpolation is from J, from the curvature the neighbouring samples show (second
divided differences: the error of linear interpolation is |J''| h^2 / 8); split, in one round,
every interval whose estimate exceeds `tolerance` x (max J - min J) (for any split of the data),
worst first. Rounds end when no estimate exceeds the tolerance or the budget of BUDGET points is
reached. Only points that are needed are evaluated: an interval judged fine costs nothing. The
coarse grid must be fine enough to see every bend (16 intervals): a feature narrower than one
coarse interval that leaves no trace at the samples is not found.

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
    min_width = _MIN_WIDTH * (hi - lo)
    while len(values) < budget:
        a = np.array(sorted(values))
        j = np.array([values[x] for x in a])  # (P, S)
        span = np.nanmax(j, axis=0) - np.nanmin(j, axis=0)
        miss = interpolation_error(a, j) / np.where(span > 0, span, np.inf)[None, :]  # (P-1, S)
        worst = np.where(np.isnan(miss), np.inf, miss).max(axis=1)  # a NaN is a miss too: look closer
        order = [k for k in np.argsort(-worst, kind="stable") if worst[k] > tolerance and a[k + 1] - a[k] > min_width]
        new = [m for m in (lattice_point(float(a[k]), float(a[k + 1])) for k in order) if m is not None]
        if not new:
            break
        add(new[:budget - len(values)])
        if progress is not None:
            progress(len(values), budget)
    return sorted(values)
