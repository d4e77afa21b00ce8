"""Numbers read off one sampled line J(alpha): monotonicity, barrier, minima, initial slope.

The paper reads its line plots by eye ("no significant obstacle", "a shallow barrier", "a
secondary local minimum", "flat at the start"); `line_metrics` puts one number on each, for one
split's curve. Definitions (alpha sorted ascending; the grid may extend beyond [0, 1]):

monotone, max_rise   Lucas, Bae, Zhang, Fort, Zemel & Grosse 2021, "Analyzing monotonic linear
                     interpolation in neural network loss landscapes": J is monotone on [0, 1] when it
                     never rises. The largest rise is max over i < j of J(a_j) - J(a_i) on the samples
                     in [0, 1] (the height of the largest bump above an earlier, lower point), with
                     the interval [a_i, a_j]; `monotone` is max_rise <= tolerance * (max J - min J)
                     over [0, 1]. tolerance defaults to 1e-3 (DEFAULT_TOLERANCE): a rise of under a
                     thousandth of the curve's own range is rounding or sampling noise, not a bump.
barrier              the chord form of Frankle, Dziugaite, Roy & Carbin 2020, "Linear mode
                     connectivity and the lottery ticket hypothesis" (as Entezari et al. 2022 and
                     Ainsworth et al. 2023 write it): max over sampled alpha in [0, 1] of
                     J(alpha) - [(1 - alpha) J(0) + alpha J(1)], and the alpha where it occurs. It is
                     >= 0 (the endpoints are on the chord); 0 means no sample lies above the chord.
                     (Frankle et al. measure the rise over the mean of J(0) and J(1); the two agree
                     when J(0) = J(1), as between two solutions of equal cost.)
minima               the local minima of the sampled curve: interior samples lower than their
                     neighbours whose prominence (the depth below the lower of the two maxima that
                     separate them from a lower point or the grid's end) exceeds tolerance * (max J
                     - min J) over the whole grid, so that noise on a flat stretch is not a minimum.
                     The grid's two ends are never local minima (the curve goes on beyond them);
                     `argmin_alpha` is the alpha of the lowest sample, ends included.
initial_slope        dJ/dalpha at alpha = 0: the exact derivative when `dcost` is given, otherwise the
                     one-sided (forward) finite difference from the grid point alpha = 0 into the
                     grid; against the mean slope J(1) - J(0) over [0, 1]. Their ratio near 0 is the
                     paper's "flat start" (section 3: the cost falls slowly at first).

J(0) and J(1) are the samples at alpha = 0 and 1 when the grid has them (within 1e-9 of the
grid's span), otherwise linearly interpolated between the neighbouring samples; the result says
which ("grid" or "interpolated"). Metrics over [0, 1] are None when the grid does not cover it.

Non-finite samples (NaN, or inf where the cost overflowed) are left out and counted in
`nonfinite`; the metrics describe the finite samples. A left-out sample inside [0, 1] may hide a
rise or a barrier, so `monotone`, `max_rise` and `barrier` are then None (undecided).

The output is JSON-able: Python floats, bools, ints, lists, dicts and None only.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.signal import find_peaks

DEFAULT_TOLERANCE = 1e-3  # of the curve's range: see the module docstring
_ON_GRID = 1e-9  # a sample within this fraction of the grid's span of 0 (or 1) is "at" 0 (or 1)


def line_metrics(alpha: ArrayLike, cost: ArrayLike, tolerance: float = DEFAULT_TOLERANCE,
                 dcost: ArrayLike | None = None) -> dict:
    """The metrics of one split's sampled line (see the module docstring for each definition).

    alpha: (P,) ascending; cost: (P,) J at each alpha; dcost: (P,) exact dJ/dalpha, optional.
    Arrays or lists; a None (a LineResult's JSON writes non-finite values so) counts as NaN.
    Returns {"points", "nonfinite", "nonfinite_in_unit_interval", "tolerance", "covers_unit_interval",
    "monotone", "max_rise", "barrier", "minima", "argmin_alpha", "min_cost", "initial_slope"}.
    """
    alpha, cost = np.asarray(alpha, dtype=np.float64), np.asarray(cost, dtype=np.float64)
    if alpha.ndim != 1 or alpha.shape != cost.shape or len(alpha) < 2:
        raise ValueError(f"alpha and cost must be two 1-d arrays of the same length >= 2, "
                         f"got {alpha.shape} and {cost.shape}")
    if np.any(np.diff(alpha) <= 0):
        raise ValueError("alpha must be strictly ascending")
    finite = np.isfinite(cost)
    a, j = alpha[finite], cost[finite]
    eps = _ON_GRID * float(alpha[-1] - alpha[0])
    covers = bool(alpha[0] <= eps and alpha[-1] >= 1.0 - eps)
    in_unit = (alpha >= -eps) & (alpha <= 1.0 + eps)
    hidden = int(np.count_nonzero(~finite & in_unit))  # left-out samples inside [0, 1]
    out = {"points": int(len(alpha)), "nonfinite": int(np.count_nonzero(~finite)),
           "nonfinite_in_unit_interval": hidden, "tolerance": float(tolerance),
           "covers_unit_interval": covers, "monotone": None, "max_rise": None, "barrier": None,
           "minima": [], "argmin_alpha": None, "min_cost": None, "initial_slope": None}
    if len(a) == 0:
        return out
    lowest = int(np.argmin(j))
    out["argmin_alpha"], out["min_cost"] = float(a[lowest]), float(j[lowest])
    out["minima"] = _minima(a, j, tolerance)
    ends = _unit_ends(a, j, eps) if covers else None
    if ends is not None and hidden == 0:
        ua, uj = _unit_curve(a, j, eps, ends)
        out["max_rise"] = _max_rise(ua, uj)
        span = float(uj.max() - uj.min())
        out["monotone"] = bool(out["max_rise"]["rise"] <= tolerance * span)
        out["max_rise"]["threshold"] = float(tolerance * span)
        out["barrier"] = _barrier(ua, uj, ends)
    out["initial_slope"] = _initial_slope(alpha, cost, dcost, eps, ends)
    return out


def _value_at(a: np.ndarray, j: np.ndarray, x: float, eps: float) -> tuple[float, str] | None:
    """J at x: the sample there ("grid"), else interpolated between its neighbours; None outside."""
    k = int(np.argmin(np.abs(a - x)))
    if abs(a[k] - x) <= eps:
        return float(j[k]), "grid"
    if x < a[0] or x > a[-1]:
        return None
    return float(np.interp(x, a, j)), "interpolated"


def _unit_ends(a: np.ndarray, j: np.ndarray, eps: float) -> dict | None:
    at0, at1 = _value_at(a, j, 0.0, eps), _value_at(a, j, 1.0, eps)
    if at0 is None or at1 is None:  # the finite samples do not reach 0 or 1
        return None
    return {"cost_0": at0[0], "cost_1": at1[0], "at_0": at0[1], "at_1": at1[1]}


def _unit_curve(a: np.ndarray, j: np.ndarray, eps: float, ends: dict) -> tuple[np.ndarray, np.ndarray]:
    """The curve on [0, 1]: the samples strictly inside, with J(0) and J(1) at the ends."""
    inside = (a > eps) & (a < 1.0 - eps)
    return (np.concatenate([[0.0], a[inside], [1.0]]),
            np.concatenate([[ends["cost_0"]], j[inside], [ends["cost_1"]]]))


def _max_rise(a: np.ndarray, j: np.ndarray) -> dict:
    low = np.minimum.accumulate(j)[:-1]  # lowest J before each later sample
    rise = j[1:] - low
    k = int(np.argmax(rise))
    if rise[k] <= 0:
        return {"rise": 0.0, "from_alpha": None, "to_alpha": None}
    start = int(np.argmin(j[:k + 1]))
    return {"rise": float(rise[k]), "from_alpha": float(a[start]), "to_alpha": float(a[k + 1])}


def _barrier(a: np.ndarray, j: np.ndarray, ends: dict) -> dict:
    above = j - ((1.0 - a) * ends["cost_0"] + a * ends["cost_1"])
    k = int(np.argmax(above))
    return {"height": max(float(above[k]), 0.0), "alpha": float(a[k]), **ends}


def _minima(a: np.ndarray, j: np.ndarray, tolerance: float) -> list[dict]:
    span = float(j.max() - j.min())
    if span == 0.0:  # a flat curve has no strict minimum
        return []
    # find_peaks on -J: interior local minima (a flat bottom counts once, at its middle sample)
    found, _ = find_peaks(-j, prominence=tolerance * span if tolerance > 0 else None)
    return [{"alpha": float(a[k]), "cost": float(j[k])} for k in found]


def _initial_slope(alpha: np.ndarray, cost: np.ndarray, dcost: np.ndarray | None, eps: float,
                   ends: dict | None) -> dict | None:
    if dcost is not None:
        dcost = np.asarray(dcost, dtype=np.float64)
        if dcost.shape != alpha.shape:
            raise ValueError(f"dcost has shape {dcost.shape}, alpha {alpha.shape}")
        ok = np.isfinite(dcost)
        at0 = _value_at(alpha[ok], dcost[ok], 0.0, eps) if ok.any() else None
        if at0 is None:
            return None
        slope, method, step = at0[0], "exact" if at0[1] == "grid" else "exact-interpolated", None
    else:
        ok = np.isfinite(cost)
        a, j = alpha[ok], cost[ok]
        if len(a) < 2 or a[0] > eps or a[-1] < -eps:
            return None
        k = int(np.argmin(np.abs(a)))
        if abs(a[k]) <= eps:  # the grid point alpha = 0: one-sided into [0, 1] where there is a sample
            i, method = (k, "forward-difference") if k + 1 < len(a) else (k - 1, "backward-difference")
        else:  # 0 between two samples: the slope of that segment
            i, method = int(np.searchsorted(a, 0.0)) - 1, "segment"
        step = float(a[i + 1] - a[i])
        slope = float((j[i + 1] - j[i]) / step)
    mean = ends["cost_1"] - ends["cost_0"] if ends is not None else None
    ratio = slope / mean if mean not in (None, 0.0) else None
    return {"slope": slope, "method": method, "step": step, "mean_slope": mean,
            "ratio": None if ratio is None else float(ratio)}
