"""The Line page's numbers in headless Chromium: the metrics table of the default page, and the
aligned final->final line drawn beside the unaligned one with both barriers (issue 13)."""

from __future__ import annotations

import pytest

from .conftest import graph_id, screenshot, traces, wait_for

pytestmark = pytest.mark.browser


def graph_text(browser, name: str) -> str:
    """The text a graph of the Line view shows (a table figure's cells, a figure's annotations)."""
    return browser.driver.execute_script(
        "const box = document.getElementById(arguments[0]); return box ? box.textContent : '';",
        graph_id("line", name)) or ""


def test_the_default_line_page_shows_the_metrics(dashboard, relu_run):
    duo = dashboard
    duo.driver.get(f"{duo.server_url}/line")
    text = wait_for(lambda: (lambda t: t if "barrier" in t and "validation" in t and "at α" in t else None)(
        graph_text(duo, "metrics")), what="the metrics table")
    for heading in ("monotone on [0, 1]", "local minima", "initial slope dJ/dα", "vs mean"):
        assert heading in text
    screenshot(duo, "line-metrics")


def test_the_aligned_line_is_drawn_beside_the_unaligned_one(dashboard, relu_run, relu_run_seed1):
    duo = dashboard
    duo.driver.get(f"{duo.server_url}/line?run={relu_run.id}&pair=seeds&other={relu_run_seed1.id}"
                   "&alpha=0:1&points=21&align=1")
    data = wait_for(lambda: (lambda d: d if d and any(t["meta"] == "train-aligned" for t in d) else None)(
        traces(duo, "line", "line")), what="the aligned line")
    assert {"train", "valid", "train-aligned", "valid-aligned"} <= {t["meta"] for t in data}
    text = wait_for(lambda: (lambda t: t if "aligned: barrier" in t else None)(graph_text(duo, "line")),
                    what="the barriers beside the plot")
    assert "as trained: barrier" in text
    table = graph_text(duo, "metrics")
    assert "aligned: train" in table and "as trained: train" in table
    screenshot(duo, "line-aligned")


def test_the_connecting_curve_is_drawn_beside_the_straight_line(curve_id, relu_run, relu_run_seed1, dashboard):
    """Issue 22: a final→final pair with a recorded curve (URL curve=ID): both the straight line and the
    curve on one axis, and both barriers, the jobs' own, in the metrics table."""
    from compute.jobs.backend import run_job
    from compute.kinds import resolve
    from compute.kinds.line import LineQuery
    from compute.store import Store

    duo = dashboard
    duo.driver.get(f"{duo.server_url}/line?run={relu_run.id}&pair=seeds&other={relu_run_seed1.id}"
                   f"&alpha=0:1&points=5&curve={curve_id}")
    data = wait_for(lambda: (lambda d: d if d and any(t["meta"] == "train-curve" for t in d) else None)(
        traces(duo, "line", "line")), what="the curve beside the line")
    by_meta = {t["meta"]: t for t in data}
    assert {"train", "valid", "train-curve", "valid-curve"} <= set(by_meta)
    # what was drawn is the jobs' results: the straight line and the curve as a line (t on the α axis)
    ends = (f"final:{relu_run.id}", f"final:{relu_run_seed1.id}")
    straight, curve = (run_job(resolve(LineQuery(*ends, 0.0, 1.0, 5, ("train", "valid"), **extra), Store()))
                       for extra in ({}, {"curve": curve_id}))
    for split in ("train", "valid"):
        assert by_meta[f"{split}-curve"]["x"] == curve["alpha"] == [0.0, 0.25, 0.5, 0.75, 1.0]
        assert by_meta[f"{split}-curve"]["y"] == curve["cost"][split]
        assert by_meta[split]["y"] == straight["cost"][split]
    assert curve["cost"]["train"] != straight["cost"]["train"]  # two lines drawn, not one twice
    # the table's cells are SVG text, wrapped into lines without the spaces between them: compare without
    def unspaced(text: str) -> str:
        return "".join(text.split())

    table = wait_for(lambda: (lambda t: t if "curve:train" in t else None)(unspaced(graph_text(duo, "metrics"))),
                     what="the curve's row in the metrics table")
    screenshot(duo, "line-curve")
    assert "straightline:train" in table and "curve:validation" in table
    for result in (straight, curve):
        barrier = result["metrics"]["train"]["barrier"]
        assert unspaced(f"{barrier['height']:.4g} at α = {barrier['alpha']:.3g}") in table
