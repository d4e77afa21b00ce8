"""Adaptive lines (issue 13 §3) share their evaluated points through the result cache: a zoom
computed in another process than the wide line (here: the wide line on a `landscape worker`, the
zoom in this process, both on the same Redis) reuses the wide line's points, with their values."""

from __future__ import annotations

import numpy as np

from compute.jobs.celery_app import CeleryJobs
from compute.jobs.backend import run_job
from compute.jobs.base import execute
from compute.lines import points_key
from compute.queries import LineQuery, resolve


def _adaptive(run, window: str, store) -> LineQuery:
    return resolve(LineQuery.from_args(f"init:{run.id}", f"final:{run.id}", window, "auto", tolerance=0.002), store)


def test_a_zoom_in_another_process_reuses_the_points_a_worker_evaluated(
        spawn_worker, redis_url, store, relu_run, monkeypatch, wait):
    worker = spawn_worker("points")
    wait(worker.ready, 180, "the worker", every=0.2)
    wide_query, zoom_query = _adaptive(relu_run, "0:1", store), _adaptive(relu_run, "0:0.25", store)
    assert points_key(wide_query) == points_key(zoom_query)  # one line, whatever the window
    wide = run_job(wide_query, CeleryJobs(redis_url, store))
    inside = [a for a in wide["alpha"] if a <= 0.25]

    monkeypatch.setenv("REDIS_URL", redis_url)  # this process's cache is now that Redis
    zoom = execute(zoom_query, store).to_json()
    assert zoom["meta"]["adaptive"]["reused"] == len(inside) > 3
    for alpha in inside:
        assert zoom["cost"]["train"][zoom["alpha"].index(alpha)] == wide["cost"]["train"][wide["alpha"].index(alpha)]
    assert np.all(np.diff(zoom["alpha"]) > 0) and zoom["alpha"][0] == 0 and zoom["alpha"][-1] == 0.25
