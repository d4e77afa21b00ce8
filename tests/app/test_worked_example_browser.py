"""Issue 20 §7 in the browser: the worked GPT-2 run of docs/importing.md (imported from save_pretrained folders,
tests/worked_example.py) opened on /line, /surface, /trajectory and /compare in headless Chromium,
the curves drawn with the CLI's numbers. Screenshots at 1400x1000 in .test-artifacts/screenshots."""

from __future__ import annotations

import csv
import io

import pytest

from compute.store import Store
from tests.worked_example import worked_example

from .conftest import screenshot, traces, wait_for
from .test_surface_browser import drawn_surface

pytestmark = pytest.mark.browser
pytest.importorskip("transformers")


def drawn(browser, view: str, name: str, points: int):
    data = traces(browser, view, name)
    return data if data and all(len(t["x"]) == points for t in data) else None


@pytest.fixture(scope="module")
def ran():
    # before the dashboard starts: dash's runner kills, when a test ends, the threads started after
    # its server (the CLI's progress bars start tqdm's monitor thread)
    return worked_example()


def viewport(browser, width: int, height: int) -> None:
    """The page's own area at width x height (the window is larger by its frame)."""
    browser.driver.set_window_size(width, height)
    inner = browser.driver.execute_script("return [window.innerWidth, window.innerHeight]")
    browser.driver.set_window_size(2 * width - inner[0], 2 * height - inner[1])


def test_the_worked_gpt2_run_in_every_view(ran, dashboard):
    run = ran.imported("tinygpt_hf")
    duo = dashboard
    viewport(duo, 1400, 1000)

    duo.driver.get(f"{duo.server_url}/line?run={run}&pair=init&alpha=0:1&points=9")
    try:
        line = wait_for(lambda: drawn(duo, "line", "line", 9), what="the GPT-2 line")
    except AssertionError:
        screenshot(duo, "worked-example-line-failed")
        raise
    cli = list(csv.DictReader(io.StringIO(ran.output("line"))))
    train = next(t for t in line if t["meta"] == "train")
    assert train["y"] == pytest.approx([float(r["cost_train"]) for r in cli], rel=1e-12)
    assert train["y"][-1] < train["y"][0] - 0.3  # it learnt: θ_f well below θᵢ
    screenshot(duo, "worked-example-line")

    duo.driver.get(f"{duo.server_url}/surface?run={run}&kind=paper&grid=5x5")
    surface = wait_for(lambda: drawn_surface(duo), what="the GPT-2 surface")
    path = next(t for t in surface["traces"] if t["type"] == "scatter3d")
    recorded = [s["cost"]["train"] for s in Store().load(run).manifest["steps"]]
    assert path["z"][0] == pytest.approx(recorded[0], abs=1e-5) and len(path["z"]) == 5
    screenshot(duo, "worked-example-surface")

    duo.driver.get(f"{duo.server_url}/trajectory?run={run}")
    ab = wait_for(lambda: (lambda d: d if d and len(d) == 2 else None)(traces(duo, "trajectory", "ab")),
                  what="α(t) vs β(t)")
    assert len(ab[1]["x"]) == 5 and ab[1]["x"][0] == pytest.approx(0.0)

    others = ",".join(ran.imported(name) for name in ("tinygpt_pt", "tinygpt_lightning"))
    duo.driver.get(f"{duo.server_url}/compare?runs={run},{others}&points=5&splits=train")
    compared = wait_for(lambda: (lambda d: d if d and len(d) == 3 and all(len(t["x"]) == 5 for t in d) else None)(
        traces(duo, "compare", "compare")), what="three compared lines")
    assert compared[0]["y"] == compared[1]["y"] == compared[2]["y"]  # one training, three file layouts
    screenshot(duo, "worked-example-compare")
