"""Readable at first sight (issues 14 §2, 23 §2): every view's default figure, and each plot kind, in
headless Chromium at 1400×1000 and 1024×768 — no two text boxes of a figure (axis titles, tick labels,
the legend, subplot titles, annotations, the colour bar, the title) intersect, and none is cut off by
the figure's edge; a 3-D scene's box with the room of its ticks and axis titles lies inside the
figure, nothing the scene drew (tick labels, axis titles, the box, the surface) touches its
viewport's edge in the rendered figure — on the paper, random-plane and imported surfaces, and from
an address holding Plotly's own default camera — and a table draws all its rows inside its plot
area. Boxes are read from the DOM, a scene's pixels from Chromium's capture (tests/figure_layout.py);
a screenshot of each page is kept under .test-artifacts/screenshots/figures-*.png, and of each 3-D
figure as figures-*-scene.png. The camera icon offers PNG, SVG and PDF."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.browser_support import SCREENSHOTS
from tests.figure_layout import problems, scene_edges, text_boxes

from .conftest import screenshot, wait_for

TESTS = Path(__file__).resolve().parents[1]

SIZES = ((1400, 1000), (1024, 768))
PAGES = ("/line", "/line?y=log", "/line?derivatives=1", "/trajectory", "/compare",
         "/surface", "/surface?plot=heatmap", "/surface?plot=contour", "/surface?kind=random-plane",
         "/surface?kind=alpha-random&plot=heatmap",
         "/surface?camera=1.25,1.25,1.25",  # Plotly's own default eye, as an address may hold it
         "/controls", "/controls?exp=convex", "/controls?exp=factored", "/controls?exp=scalar-lines",
         "/controls?exp=extremes", "/curvature")
IMPORTED_PAGES = ("/surface?run={run}&kind=paper&grid=7x7", "/surface?run={run}&kind=random-plane&grid=9x9")

DRAWN_JS = """
const graphs = [...document.querySelectorAll('.graph')].filter(g => g.offsetParent !== null);
const plots = graphs.map(g => g.querySelector('.js-plotly-plot'));
return graphs.length > 0 && plots.every(p => p && p.data && p.data.length > 0 && p._fullLayout);
"""


def _name(page: str, width: int) -> str:
    return "figures-" + page.strip("/").replace("?", "-").replace("&", "-").replace("=", "_") + f"-{width}"


@pytest.fixture(scope="module")
def imported_resnet(store, tmp_path_factory):
    """tests/userpkg's resnet8 (BatchNorm) trained by a user's own loop and imported."""
    import torch

    from compute.importing import import_run

    sys.path.insert(0, str(TESTS))
    from userpkg import data as user_data, resnet, train as user_train

    torch.manual_seed(0)
    folder = user_train.train_and_save(resnet.resnet8(), user_data.images(), tmp_path_factory.mktemp("ck"))
    return import_run(folder, "userpkg.resnet:resnet8", "userpkg.data:cifar_like", path=str(TESTS),
                      name="resnet8_layout", final_step=6, store=store)


def test_no_text_of_any_default_figure_overlaps_or_is_cut_off(dashboard, relu_run, relu_run_seed1, scalar_run,
                                                             imported_resnet):
    duo = dashboard
    found: dict[str, list[str]] = {}
    checked = scenes = 0
    pages = PAGES + tuple(p.format(run=imported_resnet.id) for p in IMPORTED_PAGES)
    for page in pages:
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
                if any(b["kind"] == "scene corner" for b in boxes["boxes"]):
                    scenes += 1
                    wrong += scene_edges(duo.driver, graph, SCREENSHOTS / f"{_name(page, width)}-scene.png")
                if wrong:
                    found[f"{page} at {width}x{height}, {graph.get_attribute('id')}"] = wrong
    assert not found, "\n".join(f"{where}: {'; '.join(what)}" for where, what in found.items())
    assert checked >= 2 * (len(pages) + 2)  # the trajectory view has three figures
    assert scenes >= 2 * 5  # /surface, random-plane, the camera's, both imported: at both sizes


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
