"""Fixtures of the engine's tests: surfaces of the session's real relu run, computed once."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def paper_surface(relu_run, store):
    """A `paper` surface with every recorded step as a row plus a few interpolated rows, train and
    valid, beta from 0 (the default range) over 4 columns: small enough for a loaded 2-core CPU."""
    from compute.kinds.surface.query import SurfaceQuery
    from compute.kinds.surface.kind import compute_surface

    rows = len(relu_run.steps) + 4
    query = SurfaceQuery(relu_run.id, "paper", rows=rows, columns=4, splits=("train", "valid"))
    return compute_surface(query, store)
