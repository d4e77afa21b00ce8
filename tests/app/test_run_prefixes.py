"""A run reference means the same run to the store (the CLI) and to the catalog (the page, the API):
one rule, compute.store.run_matches."""

from __future__ import annotations

import pytest

from compute.store import Store, run_matches
from compute.training import train
from models.errors import BadInput

from app.runs import load_catalog


def test_a_seed_prefix_names_its_run_and_not_a_longer_seed():
    ids = ["scalar-linear-small-s1-aaaa", "scalar-linear-small-s10-bbbb"]
    assert run_matches("scalar-linear-small-s1", ids) == ["scalar-linear-small-s1-aaaa"]
    assert run_matches("scalar-linear-small-s10-b", ids) == ["scalar-linear-small-s10-bbbb"]  # a digest cut short
    assert run_matches("scalar-linear-small-s", ids) == ids  # ambiguous: both listed
    assert run_matches("scalar-linear-small-s2", ids) == []
    assert run_matches(".tmp-x", [".tmp-x1"]) == []  # a run being recorded is no run yet


def test_the_store_and_the_catalog_agree(tmp_path):
    store = Store(tmp_path)
    one, ten = (train("scalar-linear", "small", seed, store=store, progress=False) for seed in (1, 10))
    catalog = load_catalog(store)
    prefix = "scalar-linear-small-s1"
    assert store.load(prefix).id == catalog.lookup(prefix).id == one.id
    assert store.load(ten.id[:-3]).id == catalog.lookup(ten.id[:-3]).id == ten.id
    for ask in (store.load, catalog.lookup):
        with pytest.raises(BadInput, match="is ambiguous: 2 runs start with it"):
            ask("scalar-linear-small-s")
