"""Line metrics on curves with known answers: a parabola, a monotone curve, a curve with a known
bump, the scalar model's barrier between two solutions (closed form and through the Evaluator),
grids that do or do not hit or cover [0, 1], non-finite samples, JSON-ability."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compute.kinds.control import ControlQuery, compute_control
from compute.metrics import DEFAULT_TOLERANCE, line_metrics


def _plain(obj) -> None:
    """Only JSON's own types, no numpy scalars, no NaN/inf."""
    if isinstance(obj, dict):
        for v in obj.values():
            _plain(v)
    elif isinstance(obj, list):
        for v in obj:
            _plain(v)
    else:
        assert obj is None or type(obj) in (bool, int, float, str), (obj, type(obj))
    json.dumps(obj, allow_nan=False)


def test_parabola_has_one_minimum_no_barrier_and_a_known_slope():
    alpha = np.linspace(-0.5, 1.5, 201)  # step .01; 0, .3 and 1 are grid points
    m = line_metrics(alpha, (alpha - 0.3) ** 2)
    _plain(m)
    assert m["covers_unit_interval"] and m["nonfinite"] == 0 and m["points"] == 201
    assert [p["alpha"] for p in m["minima"]] == [pytest.approx(0.3)]
    assert m["argmin_alpha"] == pytest.approx(0.3) and m["min_cost"] == pytest.approx(0.0, abs=1e-24)
    assert m["monotone"] is False
    rise = m["max_rise"]  # from the bottom at .3 up to J(1) = .49
    assert rise["rise"] == pytest.approx(0.49) and rise["from_alpha"] == pytest.approx(0.3)
    assert rise["to_alpha"] == pytest.approx(1.0)
    b = m["barrier"]  # convex: no sample above the chord
    assert b["height"] == 0.0 and b["at_0"] == b["at_1"] == "grid"
    assert b["cost_0"] == pytest.approx(0.09) and b["cost_1"] == pytest.approx(0.49)
    s = m["initial_slope"]  # forward difference: ((.01 - .3)^2 - .09) / .01 = -.59; exact -.6
    assert s["method"] == "forward-difference" and s["step"] == pytest.approx(0.01)
    assert s["slope"] == pytest.approx(-0.59) and s["mean_slope"] == pytest.approx(0.4)
    assert s["ratio"] == pytest.approx(-0.59 / 0.4)
    exact = line_metrics(alpha, (alpha - 0.3) ** 2, dcost=2 * (alpha - 0.3))["initial_slope"]
    assert exact["method"] == "exact" and exact["slope"] == pytest.approx(-0.6) and exact["step"] is None


def test_monotone_curve():
    alpha = np.linspace(0, 1, 51)
    m = line_metrics(alpha, np.exp(-3 * alpha))
    assert m["monotone"] is True and m["max_rise"]["rise"] == 0.0 and m["max_rise"]["from_alpha"] is None
    assert m["barrier"]["height"] == 0.0 and m["minima"] == [] and m["argmin_alpha"] == 1.0
    s = m["initial_slope"]
    assert s["slope"] == pytest.approx((np.exp(-0.06) - 1) / 0.02)
    assert s["mean_slope"] == pytest.approx(np.exp(-3) - 1) and 0 < s["ratio"]


def test_known_bump():
    alpha = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    cost = np.array([1.0, 0.8, 0.9, 0.5, 0.0])
    m = line_metrics(alpha, cost)
    assert m["monotone"] is False
    assert m["max_rise"] == {"rise": pytest.approx(0.1), "from_alpha": 0.25, "to_alpha": 0.5,
                             "threshold": pytest.approx(DEFAULT_TOLERANCE)}
    assert m["barrier"]["height"] == pytest.approx(0.4) and m["barrier"]["alpha"] == 0.5  # .9 over the chord's .5
    assert m["minima"] == [{"alpha": 0.25, "cost": 0.8}] and m["argmin_alpha"] == 1.0
    # a rise of .1 on a range of 1 passes a tolerance of .2; a minimum of prominence .1 is then noise
    loose = line_metrics(alpha, cost, tolerance=0.2)
    assert loose["monotone"] is True and loose["minima"] == []


def test_smooth_bump_on_a_line_has_its_height_as_barrier():
    alpha = np.linspace(0, 1, 101)
    m = line_metrics(alpha, 1 - alpha + 0.2 * np.exp(-(((alpha - 0.5) / 0.05) ** 2)))
    assert m["barrier"]["height"] == pytest.approx(0.2) and m["barrier"]["alpha"] == pytest.approx(0.5)
    assert m["monotone"] is False and len(m["minima"]) == 1 and m["minima"][0]["alpha"] < 0.5


def _scalar_solutions_line(alpha):
    # compute/kinds/control.py scalar-lines, default solutions 2, .5: (2, 1/2) -> (1/2, 2) on the hyperbola
    w1, w2 = (1 - alpha) * 2 + alpha * 0.5, (1 - alpha) * 0.5 + alpha * 2
    return (1 - w1 * w2) ** 2


@pytest.mark.parametrize("points", [81, 80])  # 81 has alpha = .5 on the grid, 80 does not
def test_scalar_model_barrier_between_two_solutions(points):
    alpha = np.linspace(-0.5, 1.5, points)
    m = line_metrics(alpha, _scalar_solutions_line(alpha))
    # w1 w2 = 1 + 2.25 alpha (1 - alpha): at alpha = .5, w = (1.25, 1.25), J = (1 - 1.25^2)^2
    exact = (1 - 1.25 ** 2) ** 2
    at_grid = points == 81
    if at_grid:
        assert m["barrier"]["height"] == pytest.approx(exact, rel=1e-12)
    else:  # the sampled maximum, over a chord through interpolated (slightly positive) ends: a little lower
        assert 0.99 * exact < m["barrier"]["height"] < exact
    assert m["barrier"]["alpha"] == pytest.approx(0.5, abs=0 if at_grid else 0.013)
    assert m["barrier"]["at_0"] == ("grid" if at_grid else "interpolated")
    assert m["monotone"] is False
    assert [p["alpha"] for p in m["minima"]] == [pytest.approx(0.0, abs=0.013), pytest.approx(1.0, abs=0.013)]
    assert m["initial_slope"]["mean_slope"] == pytest.approx(0.0, abs=1e-3)
    if at_grid:  # J(1) = J(0) = 0: no mean slope to compare with
        assert m["initial_slope"]["ratio"] is None


def test_scalar_model_barrier_through_the_evaluator():
    query = ControlQuery("scalar-lines", None, (("alpha", "0:1"), ("points", 101)))
    line = compute_control(query, None).to_json()["lines"]["solution-solution"]
    m = line_metrics(np.array(line["alpha"]), np.array(line["cost"]))
    assert m["barrier"]["height"] == pytest.approx((1 - 1.25 ** 2) ** 2, rel=1e-12)
    assert m["barrier"]["alpha"] == pytest.approx(0.5) and m["monotone"] is False


def test_endpoints_interpolated_when_not_on_the_grid():
    alpha = np.linspace(-0.05, 1.05, 12)  # -.05, .05, ..., 1.05
    m = line_metrics(alpha, 2 - alpha)
    b = m["barrier"]
    assert b["at_0"] == b["at_1"] == "interpolated"
    assert b["cost_0"] == pytest.approx(2.0) and b["cost_1"] == pytest.approx(1.0)
    assert b["height"] == pytest.approx(0.0, abs=1e-12) and m["monotone"] is True
    assert m["initial_slope"]["method"] == "segment" and m["initial_slope"]["slope"] == pytest.approx(-1.0)
    assert m["initial_slope"]["ratio"] == pytest.approx(1.0)


def test_window_that_does_not_cover_the_unit_interval():
    alpha = np.linspace(0, 0.01, 50)  # Fig. 4's zoom
    m = line_metrics(alpha, 1 - alpha ** 2)
    assert not m["covers_unit_interval"]
    assert m["barrier"] is None and m["monotone"] is None and m["max_rise"] is None
    assert m["initial_slope"]["slope"] == pytest.approx(-alpha[1], rel=1e-9)
    assert m["initial_slope"]["mean_slope"] is None and m["initial_slope"]["ratio"] is None
    assert line_metrics(np.linspace(0.5, 2, 10), np.ones(10))["initial_slope"] is None  # 0 not sampled


def test_non_finite_samples_are_counted_not_fatal():
    alpha = np.linspace(-1, 2, 31)
    cost = (alpha - 0.5) ** 2
    outside = cost.copy()
    outside[0], outside[-1] = np.inf, np.nan  # overflow beyond [0, 1]: [0, 1] metrics still decided
    m = line_metrics(alpha, outside)
    _plain(m)
    assert m["nonfinite"] == 2 and m["nonfinite_in_unit_interval"] == 0
    assert m["monotone"] is False and m["barrier"]["height"] == 0.0 and m["argmin_alpha"] == pytest.approx(0.5)
    inside = cost.copy()
    inside[12] = np.nan  # alpha = .2
    m = line_metrics(alpha, inside)
    _plain(m)
    assert m["nonfinite_in_unit_interval"] == 1
    assert m["monotone"] is None and m["barrier"] is None and m["max_rise"] is None
    assert m["argmin_alpha"] == pytest.approx(0.5) and m["initial_slope"]["method"] == "forward-difference"
    from_json = line_metrics(alpha.tolist(), [None if not np.isfinite(v) else v for v in inside])  # LineResult JSON
    assert from_json == m
    nothing = line_metrics(alpha, np.full(31, np.nan))
    _plain(nothing)
    assert nothing["argmin_alpha"] is None and nothing["initial_slope"] is None and nothing["minima"] == []


def test_flat_curve_and_bad_shapes():
    m = line_metrics(np.linspace(0, 1, 5), np.zeros(5))
    assert m["monotone"] is True and m["minima"] == [] and m["barrier"]["height"] == 0.0
    assert m["initial_slope"]["ratio"] is None
    with pytest.raises(ValueError):
        line_metrics(np.array([0.0, 1.0]), np.array([1.0]))
    with pytest.raises(ValueError):
        line_metrics(np.array([1.0, 0.0]), np.array([1.0, 2.0]))
