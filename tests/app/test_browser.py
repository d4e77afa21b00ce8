"""The dashboard in headless Chromium (dash_duo): real app, real runs, real jobs, real figures."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlparse

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from .conftest import screenshot, traces, wait_for

pytestmark = pytest.mark.browser


def by_id(browser, cid: dict):
    """An element with a dict id (selenium's By.ID cannot take the JSON Dash writes)."""
    text = json.dumps(cid, sort_keys=True, separators=(",", ":"))
    return browser.driver.execute_script("return document.getElementById(arguments[0])", text)


def control(browser, view: str, param: str, kind: str):
    element = wait_for(lambda: by_id(browser, {"ctl": param, "kind": kind, "view": view}), what=f"control {param}")
    return element


def query(browser) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(browser.driver.current_url).query).items()}


def curve(browser, points: int, view: str = "line", name: str = "line"):
    """The drawn traces once each has `points` points."""
    def ready():
        data = traces(browser, view, name)
        return data if data and all(len(t["x"]) == points for t in data) else None
    try:
        return wait_for(ready, what=f"a {points}-point curve")
    except AssertionError:
        screenshot(browser, f"failed-{points}-point-curve")
        raise


def type_into(element, text: str) -> None:
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(Keys.DELETE)
    element.send_keys(text, Keys.ENTER)


def test_pick_a_run_and_a_pair_draws_the_curve(dashboard, scalar_run, scalar_run_seed1):
    duo = dashboard
    duo.driver.get(f"{duo.server_url}/line")  # `/` is the home page
    dropdown = control(duo, "line", "run", "choice")
    duo.select_dcc_dropdown(dropdown, value=f"scalar-linear · small · seed {scalar_run.manifest['seed']}")
    dropdown.send_keys(Keys.ESCAPE)  # close the menu: it would cover the controls below it
    pair = control(duo, "line", "pair", "choice")
    pair.find_element(By.XPATH, ".//label[contains(., 'final → final of two seeds')]").click()
    type_into(control(duo, "line", "points", "text"), "37")

    data = curve(duo, 37)
    assert {t["meta"] for t in data} == {"train", "valid"}
    assert data[0]["x"][0] == pytest.approx(-0.25) and data[0]["x"][-1] == pytest.approx(1.25)
    assert all(y is not None and y >= 0 for t in data for y in t["y"])
    q = wait_for(lambda: query(duo) if query(duo).get("points") == "37" else None, what="the address")
    assert q["run"] == scalar_run.id and q["pair"] == "seeds" and q["other"] == scalar_run_seed1.id
    # the line between the two solutions: both ends are (near) zero cost for y = w1 w2 x
    train = next(t for t in data if t["meta"] == "train")
    assert min(train["y"]) < 1e-3
    screenshot(duo, "line-view")


def test_zoom_recomputes_and_the_address_reopens_the_same_figure(dashboard, fresh_browser, scalar_run, evaluations):
    duo = dashboard
    duo.driver.get(f"{duo.server_url}/line?run={scalar_run.id}&pair=init&alpha=-0.5:1.5&points=41")
    coarse = curve(duo, 41)
    assert min(coarse[0]["x"]) == pytest.approx(-0.5)

    before = len(evaluations)
    duo.driver.find_element(By.XPATH, "//button[normalize-space()='[0, .01]']").click()
    zoomed = wait_for(lambda: (lambda d: d if d and len(d[0]["x"]) == 41 and max(d[0]["x"]) <= 0.01 else None)(
        traces(duo, "line", "line")), what="the zoomed curve")
    # a new curve at full resolution inside the window, not the coarse one magnified
    for trace in zoomed:
        assert len(trace["x"]) == 41
        assert all(0.0 <= a <= 0.01 for a in trace["x"])
        assert trace["x"][0] == pytest.approx(0.0) and trace["x"][-1] == pytest.approx(0.01)
    assert len(evaluations) > before
    assert query(duo).get("zoom") == "0:0.01", duo.driver.current_url
    screenshot(duo, "line-zoom")

    # the address is the view: a new browser session shows the same figure, from the cache
    address = duo.driver.current_url
    computed = len(evaluations)
    fresh_browser.server_url = duo.server_url
    fresh_browser.driver.get(address)
    again = wait_for(lambda: (lambda d: d if d and len(d[0]["x"]) == 41 and max(d[0]["x"]) <= 0.01 else None)(
        traces(fresh_browser, "line", "line")), what="the shared view")
    assert [(t["meta"], t["x"], t["y"]) for t in again] == [(t["meta"], t["x"], t["y"]) for t in zoomed]
    assert len(evaluations) == computed  # nothing computed a second time
    status = wait_for(lambda: fresh_browser.driver.find_element(By.ID, "status-cache"), what="the cache status")
    assert status.get_attribute("data-cache") == "hit"

    # Back returns to the coarse view
    duo.driver.back()
    wait_for(lambda: "zoom" not in query(duo), what="the address before the zoom")
    back = wait_for(lambda: (lambda d: d if d and min(d[0]["x"]) < 0 else None)(traces(duo, "line", "line")),
                    what="the coarse curve again")
    assert len(back[0]["x"]) == 41 and min(back[0]["x"]) == pytest.approx(-0.5)


def test_an_edit_parses_the_address_once(dashboard, scalar_run, monkeypatch):
    # the address is read once per change (app/callbacks.py sync); the form, the jobs and the
    # figures of that change all come from the state it keeps in the ADDRESS store
    from app import urls

    duo = dashboard
    duo.driver.get(f"{duo.server_url}/line?run={scalar_run.id}&pair=init&alpha=0:1&points=23")
    curve(duo, 23)
    calls = []
    original = urls.parse

    def counting(*args, **kwargs):
        calls.append(args[:2])
        return original(*args, **kwargs)

    monkeypatch.setattr(urls, "parse", counting)
    type_into(control(duo, "line", "alpha", "text"), "-1:2")
    wait_for(lambda: query(duo).get("alpha") == "-1:2", what="the edited address")
    wait_for(lambda: (lambda d: d if d and len(d[0]["x"]) == 23 and d[0]["x"][0] == -1.0 else None)(
        traces(duo, "line", "line")), what="the edited curve")
    time.sleep(1.0)  # whatever the edit still had in flight
    assert len(calls) == 1, calls


def test_invalid_address_opens_defaults_with_a_notice(dashboard, scalar_run, monkeypatch):
    from app.runs import load_catalog
    from compute.evaluator import Evaluator

    duo = dashboard
    default = load_catalog().default_run()
    duo.driver.get(f"{duo.server_url}/line?run=no-such-run&points=99999&alpha=1:0&bogus=1")
    notice = wait_for(lambda: duo.driver.find_element(By.CLASS_NAME, "notice-box").text, what="the notice")
    assert "unknown run 'no-such-run'" in notice
    assert "points='99999'" in notice and "2001" in notice
    assert "alpha='1:0'" in notice
    assert "bogus ignored" in notice
    data = curve(duo, 50)  # the defaults are drawn: the default run, 50 points over [-0.25, 1.25]
    assert data[0]["x"][0] == pytest.approx(-0.25)
    assert query(duo)["run"] == default.id and query(duo)["points"] == "50"  # the address is made canonical

    # bad form input: a message next to the field, no job, the address unchanged
    address = duo.driver.current_url
    type_into(control(duo, "line", "alpha", "text"), "2:1")
    message = wait_for(lambda: by_id(duo, {"err": "alpha", "view": "line"}).text, what="the field's message")
    assert "A < B" in message
    assert duo.driver.current_url == address
    screenshot(duo, "invalid-address")

    duo.driver.get(f"{duo.server_url}/no-such-page?y=sideways")
    notice = wait_for(lambda: duo.driver.find_element(By.CLASS_NAME, "notice-box").text, what="the notice")
    assert "unknown page '/no-such-page'" in notice and "y='sideways'" in notice
    curve(duo, 50)

    # a job that fails: its error in the page, and the rest keeps working
    original = Evaluator.evaluate

    def failing(self, basis, coeffs, *args, **kwargs):
        if len(coeffs) == 13:
            raise RuntimeError("injected failure")
        return original(self, basis, coeffs, *args, **kwargs)

    monkeypatch.setattr(Evaluator, "evaluate", failing)
    duo.driver.get(f"{duo.server_url}/line?run={scalar_run.id}&points=13&alpha=0:1")
    error = wait_for(lambda: duo.driver.find_element(By.CLASS_NAME, "status-error").text, what="the job's error")
    assert "A job failed" in error and "injected failure" in error
    screenshot(duo, "failed-job")
    type_into(control(duo, "line", "points", "text"), "14")
    curve(duo, 14)
    assert not duo.driver.find_elements(By.CLASS_NAME, "status-error")


def test_trajectory_and_compare_views(dashboard, scalar_run, scalar_run_seed1):
    duo = dashboard
    duo.driver.get(f"{duo.server_url}/line?run={scalar_run.id}")
    curve(duo, 50)
    duo.driver.find_element(By.LINK_TEXT, "Trajectory").click()  # the run goes along
    wait_for(lambda: urlparse(duo.driver.current_url).path == "/trajectory", what="the trajectory address")
    assert query(duo)["run"] == scalar_run.id
    ab = wait_for(lambda: (lambda d: d if d and len(d) == 2 else None)(traces(duo, "trajectory", "ab")),
                  what="α(t) vs β(t)")
    sgd = ab[1]
    assert len(sgd["x"]) == len(scalar_run.steps)
    assert sgd["x"][0] == pytest.approx(0.0) and sgd["y"][0] == pytest.approx(0.0)
    assert all(b >= 0 for b in sgd["y"])
    learning = traces(duo, "trajectory", "curve")
    assert {t["meta"] for t in learning} == {"train", "valid"} and len(learning[0]["x"]) == len(scalar_run.steps)
    ratio = traces(duo, "trajectory", "ratio")
    assert len(ratio[0]["y"]) == len(scalar_run.steps)
    screenshot(duo, "trajectory-view")

    duo.driver.get(f"{duo.server_url}/compare?runs={scalar_run.id},{scalar_run_seed1.id}&points=30&splits=train")
    lines = wait_for(lambda: (lambda d: d if d and len(d) == 2 and all(len(t["x"]) == 30 for t in d) else None)(
        traces(duo, "compare", "compare")), what="two compared lines")
    assert {t["name"] for t in lines} == {"scalar-linear (small, seed 0) · train",
                                          "scalar-linear (small, seed 1) · train"}
    y_axis = duo.driver.execute_script(
        "return document.getElementById(arguments[0]).querySelector('.js-plotly-plot').layout.yaxis.type",
        json.dumps({"graph": "compare", "view": "compare"}, sort_keys=True, separators=(",", ":")))
    assert y_axis == "log"
    screenshot(duo, "compare-view")
