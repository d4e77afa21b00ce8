"""Shared by the browser tests: Debian's headless Chromium for dash_duo, screenshots, polling."""

from __future__ import annotations

import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[1] / ".test-artifacts" / "screenshots"


def chrome_options():
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = CHROMIUM
    # headless (no display here); no background traffic (the network is closed)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1400,1000"):
        options.add_argument(flag)
    return options


def wait_for(predicate, timeout: float = 120.0, what: str = "condition", interval: float = 0.2):
    """Poll `predicate` until it returns something truthy; return that. Not a timed assertion:
    the timeout only stops a test that would otherwise hang."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # the page may be between renders
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"gave up waiting for {what}; last value: {last!r}")
