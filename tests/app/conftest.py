"""Fixtures of the dashboard's tests: headless Debian Chromium for dash_duo, a second scalar
run (for the final→final pair), a counter on the one evaluator, the app on a free port, and
strict JSON: every API answer of every test is parsed by `strict_json` (JSON.parse's rules: no
NaN, no Infinity), through Flask's test client and the hostile suite's HTTP client alike."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.browser_support import SCREENSHOTS, chrome_options, wait_for  # noqa: F401  (wait_for: for the tests)


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON (JSON.parse and jq refuse it)")


def strict_json(text: str | bytes):
    """json.loads as JSON.parse reads: NaN, Infinity and -Infinity are errors, not numbers."""
    return json.loads(text, parse_constant=_no_constant)


def _strict_client_class():
    from flask.testing import FlaskClient

    class StrictClient(FlaskClient):
        """Flask's test client; every JSON answer is checked with strict_json before a test sees it."""

        def open(self, *args, **kwargs):
            response = super().open(*args, **kwargs)
            if response.is_json:
                try:
                    strict_json(response.get_data())
                except ValueError as exc:
                    raise AssertionError(f"{response.request.path}: not strict JSON: {exc}") from None
            return response

    return StrictClient


@pytest.fixture(scope="session", autouse=True)
def strict_api_answers():
    """Every app's test_client() (Flask.test_client_class) is the strict one, for the whole session."""
    from flask import Flask

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Flask, "test_client_class", _strict_client_class())
        yield


@pytest.fixture(scope="session")
def scalar_run_seed1(store):
    from compute.training import train

    return train("scalar-linear", "small", 1, store=store, progress=False)


@pytest.fixture(scope="session")
def curve_id(relu_run, relu_run_seed1) -> str:
    """A curve between the relu runs of seeds 0 and 1 trained by `landscape curve` (1 epoch, 3 points)."""
    from app.cli import main
    from compute.kinds.curve import recorded_curves
    from compute.store import Store

    code = main(["curve", "--from", f"final:{relu_run.id}", "--to", f"final:{relu_run_seed1.id}", "--epochs", "1",
                 "--points", "3", "--local"])
    assert code == 0
    found = recorded_curves(Store(), relu_run.id, relu_run_seed1.id)
    assert found
    return found[0]


@pytest.fixture
def evaluations(monkeypatch):
    """Counts calls of Evaluator.evaluate, the one place any cost is computed."""
    from compute.evaluator import Evaluator

    calls = []
    original = Evaluator.evaluate

    def counting(self, *args, **kwargs):
        calls.append(args[0].shape if args else None)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Evaluator, "evaluate", counting)
    return calls


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dashboard(dash_duo):
    """dash_duo serving a fresh app on a free port (others may be serving 8050)."""
    from app.server import create_app
    from compute.jobs.backend import get_jobs

    # Start the job layer's thread first: dash's ThreadedRunner kills, when a test ends, every
    # thread started after its server thread, and the job manager lives for the whole session.
    get_jobs()
    dash_duo.start_server(create_app(), port=free_port())
    return dash_duo


@pytest.fixture
def fresh_browser(request, tmp_path):
    """A second, separate browser session (its own Chromium profile: no shared state)."""
    from dash.testing.browser import Browser

    with Browser(browser=request.config.getoption("webdriver"), headless=request.config.getoption("headless"),
                 options=[chrome_options()], download_path=str(tmp_path / "download-2"),
                 percy_run=False, percy_finalize=False) as browser:
        yield browser


def screenshot(browser, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    browser.driver.save_screenshot(str(path))
    return path


def graph_id(view: str, name: str) -> str:
    # Dash writes a dict id as JSON with sorted keys and no spaces
    return json.dumps({"graph": name, "view": view}, sort_keys=True, separators=(",", ":"))


def traces(browser, view: str, name: str) -> list[dict] | None:
    """The traces Plotly has drawn in a graph: name, split (meta), x, y."""
    return browser.driver.execute_script("""
        const box = document.getElementById(arguments[0]);
        const gd = box && box.querySelector('.js-plotly-plot');
        if (!gd || !gd.data) return null;
        return gd.data.map(t => ({name: t.name || null, meta: t.meta === undefined ? null : t.meta,
                                  x: t.x ? Array.from(t.x) : [], y: t.y ? Array.from(t.y) : []}));
    """, graph_id(view, name))
