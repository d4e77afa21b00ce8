"""`/`, `/runs` and `/help` in headless Chromium (issue 23 §4), and the one round trip of a cached
address (§1): the first callback's answer carries the figure."""

from __future__ import annotations

import dataclasses
import time
from urllib.parse import quote, urlparse

import pytest
from selenium.webdriver.common.by import By

from .conftest import screenshot, traces, wait_for

pytestmark = pytest.mark.browser


def test_home_lists_the_runs_and_links_each_paper_figure_to_its_view(dashboard, scalar_run):
    duo = dashboard
    duo.driver.get(f"{duo.server_url}/")
    cards = wait_for(lambda: duo.driver.find_elements(By.CSS_SELECTOR, "#paper-figures .figure-card"),
                     what="the paper's figures")
    assert [c.get_attribute("id") for c in cards] == [f"fig-{n}" for n in range(1, 23)]
    assert all(c.find_element(By.TAG_NAME, "img").get_attribute("src").endswith(".svg") for c in cards)
    text = duo.driver.find_element(By.ID, "home-page").text
    assert "Goodfellow, Vinyals & Saxe" in text and scalar_run.id in text
    screenshot(duo, "page-home")
    # Fig. 4 opens the Line view zoomed into [0, .01], on a run, without a reload
    duo.driver.execute_script("window.__sameDocument = true")
    duo.driver.find_element(By.ID, "fig-4").click()
    wait_for(lambda: urlparse(duo.driver.current_url).path == "/line", what="the Line view")
    assert "zoom=0:0.01" in duo.driver.current_url and "run=" in duo.driver.current_url
    zoomed = wait_for(lambda: (t := traces(duo, "line", "line")) and max(t[0]["x"]) <= 0.01 and t,
                      what="the zoomed curve")
    assert len(zoomed[0]["x"]) == 50
    assert duo.driver.execute_script("return window.__sameDocument === true")


def test_runs_table_sorts_and_links_each_run(dashboard, scalar_run, scalar_run_seed1):
    from compute.store import Store

    duo = dashboard
    duo.driver.get(f"{duo.server_url}/runs")
    runs = Store().list_runs()
    rows = wait_for(lambda: (r := duo.driver.find_elements(By.CSS_SELECTOR, "#runs-table tbody tr")) and
                    len(r) == len(runs) + 1 and r, what="a row per run")  # + the header row
    headers = [h.text for h in rows[0].find_elements(By.CSS_SELECTOR, "th")]
    for name in ("id", "model", "built-in / imported", "parameters", "steps", "θf step", "final valid cost",
                 "created"):
        assert name in headers, headers
    screenshot(duo, "page-runs")

    def column(name: str) -> list[str]:
        index = headers.index(name)
        return [r.find_elements(By.CSS_SELECTOR, "td")[index].text
                for r in duo.driver.find_elements(By.CSS_SELECTOR, "#runs-table tbody tr")[1:]]

    # a click on a header's sort icon sorts by that column (numbers as numbers)
    sort = rows[0].find_elements(By.CSS_SELECTOR, "th")[headers.index("parameters")].find_element(
        By.CSS_SELECTOR, ".column-header--sort")
    sort.click()
    first = wait_for(lambda: (c := [float(v) for v in column("parameters")]) and c == sorted(c) and c,
                     what="sorted by parameters")
    sort.click()
    wait_for(lambda: [float(v) for v in column("parameters")] == sorted(first, reverse=True), what="descending")
    # each row says where its run came from, as the store records it (other tests may have imported runs)
    expected = sorted("imported" if r.manifest.get("source") else "built-in" for r in runs)
    assert sorted("imported" if v.startswith("imported from ") else v for v in column("built-in / imported")) == expected
    link = duo.driver.find_element(By.LINK_TEXT, scalar_run.id)
    link.click()
    wait_for(lambda: urlparse(duo.driver.current_url).path == "/line", what="the run's Line view")
    assert f"run={scalar_run.id}" in duo.driver.current_url
    wait_for(lambda: (t := traces(duo, "line", "line")) and len(t[0]["x"]) == 50, what="its line")


def test_help_has_the_glossary_and_the_cli_command_of_the_view_on_screen(dashboard, scalar_run):
    duo = dashboard
    duo.driver.get(f"{duo.server_url}/line?run={scalar_run.id}&points=21&alpha=0:1")
    wait_for(lambda: (t := traces(duo, "line", "line")) and len(t[0]["x"]) == 21, what="the line")
    help_link = duo.driver.find_element(By.ID, "help-link")
    here = urlparse(duo.driver.current_url)
    assert help_link.get_attribute("href").endswith("/help?for=" + quote(f"{here.path}?{here.query}", safe=""))
    help_link.click()
    command = wait_for(lambda: duo.driver.find_element(By.ID, "help-cli").text, what="the command")
    assert command == (f"landscape line --from init:{scalar_run.id} --to final:{scalar_run.id} --alpha 0:1 "
                       "--points 21 --splits train,valid")
    terms = [e.text for e in duo.driver.find_elements(By.CSS_SELECTOR, "#glossary dt")]
    for term in ("θᵢ (init)", "θf (final)", "α", "β", "barrier", "monotone", "BatchNorm policies", "sharpness",
                 "(segment)", "(exact-interpolated)", "steps, epochs"):
        assert term in terms, terms
    screenshot(duo, "page-help")


def test_a_cached_address_is_drawn_by_the_first_callback(dashboard, scalar_run, monkeypatch):
    from app.jobclient import submit
    from app.runs import load_catalog
    from app.views import VIEWS
    from compute.jobs.backend import run_job
    from app import urls

    address = f"/line?run={scalar_run.id}&points=19&alpha=0:1"  # a line no other test asks for (17: test_api)
    state = urls.parse("/line", address.split("?")[1], load_catalog()).state
    for query in VIEWS["line"].queries(state, load_catalog()).values():
        run_job(query)  # cached before the page asks
    assert submit(VIEWS["line"].queries(state, load_catalog()))[1]
    drawn = []
    view = VIEWS["line"]

    def counting(*args, **kwargs):
        drawn.append(time.monotonic())
        return view.draw(*args, **kwargs)

    monkeypatch.setitem(VIEWS, "line", dataclasses.replace(view, draw=counting))
    duo = dashboard
    duo.driver.get(duo.server_url + address)
    wait_for(lambda: (t := traces(duo, "line", "line")) and len(t[0]["x"]) == 19, what="the cached line")
    status = wait_for(lambda: duo.driver.find_element(By.ID, "status-cache"), what="the cache status")
    assert status.get_attribute("data-cache") == "hit"
    time.sleep(1.0)  # whatever the page still asks
    assert len(drawn) == 1  # drawn once, in the layout of the first callback: `draw` sent no figure
