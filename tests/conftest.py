"""Shared fixtures: a private LANDSCAPE_HOME for the whole session with a few real runs,
trained once with the real `small` presets on the offline demo data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / ".test-artifacts"


def pytest_configure(config):
    ARTIFACTS.mkdir(exist_ok=True)
    # Chromium profiles and dash's failure screenshots go to TMPDIR: keep them in our folder.
    tmp = ARTIFACTS / "tmp"
    tmp.mkdir(exist_ok=True)
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = str(tmp)
    os.environ.pop("REDIS_URL", None)  # tests choose their backend explicitly
    home = Path(tempfile.mkdtemp(prefix="landscape-home-"))
    os.environ["LANDSCAPE_HOME"] = str(home)


def pytest_setup_options():
    """dash's testing hook: the browser dash_duo drives (headless Debian Chromium)."""
    from tests.browser_support import chrome_options

    return chrome_options()


@pytest.fixture(scope="session")
def store():
    from compute.store import Store

    return Store()


def _train(store, model_id: str, seed: int):
    from compute.training import train

    return train(model_id, "small", seed, store=store, progress=False)


@pytest.fixture(scope="session")
def relu_run(store):
    return _train(store, "relu-mnist", 0)


@pytest.fixture(scope="session")
def relu_run_seed1(store):
    return _train(store, "relu-mnist", 1)


@pytest.fixture(scope="session")
def scalar_run(store):
    return _train(store, "scalar-linear", 0)
