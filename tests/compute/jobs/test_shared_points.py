"""Adaptive lines (issue 13 §3) share their evaluated points through the result cache: a zoom
computed in another process than the wide line (here: the wide line on a `landscape worker`, the
zoom in this process, both on the same Redis) reuses the wide line's points, with their values."""

from __future__ import annotations

import numpy as np

from compute.jobs.celery_app import CeleryJobs
from compute.jobs.backend import run_job
from compute.jobs.base import execute
from compute.kinds.line_points import points_key
from compute.kinds.line import LineQuery
from compute.kinds import resolve


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


def test_local_keeps_an_adaptive_line_s_points_in_its_own_files_with_redis_set(
        redis_url, store, relu_run, monkeypatch, capsys):
    """`--local` is local for the points an adaptive line keeps too: with REDIS_URL set, the CLI's
    --local line keeps them in $LANDSCAPE_HOME/cache, and that Redis gets nothing at all."""
    import redis

    from app.cli import main
    from compute.store import landscape_home

    points = landscape_home() / "cache" / f"{points_key(_adaptive(relu_run, '0:0.4', store))}.json"
    points.unlink(missing_ok=True)  # kept there by another test's line of the same endpoints
    monkeypatch.setenv("REDIS_URL", redis_url)
    argv = ["line", "--from", f"init:{relu_run.id}", "--to", f"final:{relu_run.id}", "--alpha", "0:0.4",
            "--points", "auto", "--tolerance", "0.0031", "--local"]  # a tolerance of its own: not cached yet
    assert main(argv) == 0, capsys.readouterr().err
    assert points.is_file()
    assert redis.Redis.from_url(redis_url).keys("*") == []
