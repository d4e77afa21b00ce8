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
