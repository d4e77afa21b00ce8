"""Fixtures of the surfaces area: surfaces of the session's real relu run, computed once."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def paper_surface(relu_run, store):
    """A `paper` surface with every recorded step as a row plus a few interpolated rows, train and
    valid, beta from 0 (the default range) over 4 columns: small enough for a loaded 2-core CPU."""
    from compute.queries import SurfaceQuery
    from compute.surfaces import compute_surface

    rows = len(relu_run.steps) + 4
    query = SurfaceQuery(relu_run.id, "paper", rows=rows, columns=4, splits=("train", "valid"))
    return compute_surface(query, store)


@pytest.fixture
def surface_dashboard(dash_duo):
    """dash_duo serving a fresh app on a free port."""
    import socket

    from app.server import create_app
    from compute.jobs import get_jobs

    # The job layer's thread first: dash's runner stops, when a test ends, the threads started
    # after its server thread, and the job manager lives for the whole session.
    get_jobs()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dash_duo.start_server(create_app(), port=port)
    return dash_duo
