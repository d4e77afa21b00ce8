"""Readable at first sight (issues 14 §2, 23 §2): every view's default figure, and each plot kind, in
headless Chromium at 1400×1000 and 1024×768 — no two text boxes of a figure (axis titles, tick labels,
the legend, subplot titles, annotations, the colour bar, the title) intersect, and none is cut off by
the figure's edge; a 3-D scene's box with the room of its ticks and axis titles lies inside the
figure, and a table draws all its rows inside its plot area. Boxes are read from the DOM (tests/figure_layout.py); a screenshot of each is kept
under .test-artifacts/screenshots/figures-*.png. The camera icon offers PNG and SVG."""

from __future__ import annotations

import time
from pathlib import Path

from tests.figure_layout import problems, text_boxes

from .conftest import screenshot, wait_for

SIZES = ((1400, 1000), (1024, 768))
PAGES = ("/line", "/line?y=log", "/line?derivatives=1", "/trajectory", "/compare",
         "/surface", "/surface?plot=heatmap", "/surface?plot=contour", "/surface?kind=random-plane",
         "/surface?kind=alpha-random&plot=heatmap",
         "/controls", "/controls?exp=convex", "/controls?exp=factored", "/controls?exp=scalar-lines",
         "/controls?exp=extremes")

DRAWN_JS = """
const graphs = [...document.querySelectorAll('.graph')].filter(g => g.offsetParent !== null);
const plots = graphs.map(g => g.querySelector('.js-plotly-plot'));
return graphs.length > 0 && plots.every(p => p && p.data && p.data.length > 0 && p._fullLayout);
"""


def _name(page: str, width: int) -> str:
    return "figures-" + page.strip("/").replace("?", "-").replace("&", "-").replace("=", "_") + f"-{width}"


def test_no_text_of_any_default_figure_overlaps_or_is_cut_off(dashboard, relu_run, relu_run_seed1, scalar_run):
    duo = dashboard
    found: dict[str, list[str]] = {}
    checked = 0
    for page in PAGES:
        duo.driver.set_window_size(*SIZES[0])
        duo.driver.get(duo.server_url + page)
        for width, height in SIZES:
            duo.driver.set_window_size(width, height)
            wait_for(lambda: duo.driver.execute_script(DRAWN_JS), timeout=300, what=f"the figures of {page}")
            time.sleep(1.5)  # Plotly's resize and automargin passes after the figure is drawn
            screenshot(duo, _name(page, width))
            graphs = [g for g in duo.driver.find_elements("css selector", ".graph") if g.is_displayed()]
            for graph in graphs:
                boxes = text_boxes(duo.driver, graph)
                assert boxes["boxes"], f"{page}: no text read from a figure"
                checked += 1
                wrong = problems(boxes)
                if wrong:
                    found[f"{page} at {width}x{height}, {graph.get_attribute('id')}"] = wrong
    assert checked >= 2 * (len(PAGES) + 2)  # the trajectory view has three figures
    assert not found, "\n".join(f"{where}: {'; '.join(what)}" for where, what in found.items())


def test_camera_icon_offers_png_and_svg(dashboard, scalar_run, tmp_path):
    duo = dashboard
    duo.driver.get(f"{duo.server_url}/line?run={scalar_run.id}&points=9")
    wait_for(lambda: duo.driver.execute_script(DRAWN_JS), what="the line")
    graph = next(g for g in duo.driver.find_elements("css selector", ".graph") if g.is_displayed())
    duo.driver.execute_script("arguments[0].querySelector('.modebar').style.opacity = 1;", graph)
    camera = graph.find_element("css selector", '.modebar-btn[data-title^="Download plot"]')
    duo.driver.execute_script("arguments[0].click();", camera)
    items = wait_for(lambda: duo.driver.find_elements("css selector", ".export-menu .export-menu-item"),
                     what="the camera's menu")
    assert [i.get_attribute("data-format") for i in items] == ["png", "svg", "pdf"]
    screenshot(duo, "figures-camera-menu")
    items[1].click()
    download = duo.download_path  # dash_duo's browser downloads here
    svg = wait_for(lambda: list(Path(download).glob("*.svg")), what="the SVG download")
    assert svg[0].read_text().startswith("<svg") and "landscape-line" in svg[0].name
    assert not duo.driver.find_elements("css selector", ".export-menu")  # the menu closes
