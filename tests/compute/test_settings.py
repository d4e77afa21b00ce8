"""Every setting the code reads is registered in compute/settings.py and documented in the
Settings table of docs/settings.md, with its default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from compute.settings import SETTINGS, int_setting, setting
from models.errors import BadInput

ROOT = Path(__file__).resolve().parents[2]


def _documented_table() -> dict[str, str]:
    section = (ROOT / "docs" / "settings.md").read_text()
    return {name: default for name, default in re.findall(r"^\| `([A-Z_]+)` \| (.+?) \|", section, re.M)}


def test_every_setting_is_documented_with_its_default():
    table = _documented_table()
    assert set(table) == set(SETTINGS), "docs/settings.md's table and compute/settings.py differ"
    for name, entry in SETTINGS.items():
        assert table[name] == ("unset" if entry.default is None else f"`{entry.default}`"), name
        assert entry.help


def test_the_environment_is_read_in_one_place_only():
    readers = [p.relative_to(ROOT).as_posix() for folder in ("app", "compute", "models")
               for p in (ROOT / folder).rglob("*.py")
               if re.search(r"os\.environ\.get|os\.getenv|os\.environ\[[^\]]+\](?!\s*=)", p.read_text())]
    assert readers == ["compute/settings.py"]


def test_unset_or_empty_means_the_default(monkeypatch):
    monkeypatch.setenv("LANDSCAPE_VISIBILITY_TIMEOUT", "")
    assert setting("LANDSCAPE_VISIBILITY_TIMEOUT") == "600" and int_setting("LANDSCAPE_VISIBILITY_TIMEOUT") == 600
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert setting("REDIS_URL") is None
    monkeypatch.setenv("LANDSCAPE_VISIBILITY_TIMEOUT", "soon")
    with pytest.raises(BadInput) as caught:
        int_setting("LANDSCAPE_VISIBILITY_TIMEOUT")
    assert caught.value.field == "LANDSCAPE_VISIBILITY_TIMEOUT"
