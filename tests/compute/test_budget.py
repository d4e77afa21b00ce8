"""The work budget (compute/budget.py) and the fair executor (compute/jobs/local.py): the default admits
what the issue lists on every small preset and refuses the heavy Monte-Carlo line; a refusal
names the estimate and what to change; a new small job is not stuck behind a big one."""

from __future__ import annotations

import time

import pytest

from models.errors import BadInput


def _manifest(model_id: str) -> dict:
    from models import MODELS

    spec = MODELS[model_id]
    return {"model": model_id, "preset": "small", "dataset": {"name": spec.dataset, "data_dir": None,
                                                               "options": dict(spec.presets["small"].data)}}


@pytest.mark.slow
def test_the_default_admits_every_small_preset_at_the_largest_grids():
    from compute.budget import max_work, profile
    from models import MODELS

    limit = max_work()
    for model_id in MODELS:
        prof = profile(_manifest(model_id))
        examples = sum(prof.examples.values())  # all three splits
        assert 201 * 201 * examples * prof.flops <= limit, model_id
        assert 2001 * examples * prof.flops <= limit, model_id


def test_a_refusal_says_the_estimate_and_what_to_change(relu_run, store, monkeypatch):
    from compute.budget import check
    from compute.jobs.local import LocalJobs
    from compute.kinds.line import LineQuery
    from compute.kinds.surface.query import SurfaceQuery
    from compute.kinds import estimate

    line = LineQuery(f"init:{relu_run.id}", f"final:{relu_run.id}", points=2001, splits=("train", "valid", "test"))
    surface = SurfaceQuery(relu_run.id, rows=201, columns=201, splits=("train", "valid", "test"))
    assert check(estimate(line, store)) > 0  # admitted by default
    assert check(estimate(surface, store)) > check(estimate(line, store))
    monkeypatch.setenv("LANDSCAPE_MAX_WORK", "1e12")
    with pytest.raises(BadInput, match=r"about 2\.\de\+12 FLOP of work, above the budget of 1e\+12 FLOP") as refused:
        check(estimate(line, store))
    assert refused.value.field == "points" and "at most 7" in refused.value.message
    with pytest.raises(BadInput, match=r"at most \d+x\d+ points") as refused:
        LocalJobs(store).submit(surface)  # refused before anything is queued
    assert refused.value.status == 400


def test_a_new_line_runs_before_a_big_job_ends(relu_run, store):
    from compute.jobs.backend import run_job
    from compute.jobs.local import LocalJobs
    from compute.kinds.line import LineQuery
    from compute.kinds.surface.query import SurfaceQuery

    jobs = LocalJobs(store)
    surface = SurfaceQuery(relu_run.id, "random-plane", -1.0, 1.0, -1.0, 1.0, 61, 61, seed=7)
    key = jobs.submit(surface).key
    while jobs.status(key).done < 1:
        time.sleep(0.02)
    line = LineQuery(f"init:{relu_run.id}", f"final:{relu_run.id}", -0.3, 1.3, points=40)
    run_job(line, jobs)
    status = jobs.status(key)
    assert status.state == "running" and status.done < status.total  # the line did not wait for it
    jobs.cancel(key)


def test_an_unwatched_job_is_cancelled(relu_run, store, monkeypatch):
    from compute.jobs.local import LocalJobs
    from compute.kinds.surface.query import SurfaceQuery

    monkeypatch.setenv("LANDSCAPE_UNWATCHED_GRACE", "1")
    jobs = LocalJobs(store)
    key = jobs.submit(SurfaceQuery(relu_run.id, "random-plane", -1.0, 1.0, -1.0, 1.0, 31, 31, seed=8)).key
    time.sleep(2.5)  # nobody asks
    deadline = time.monotonic() + 60
    while jobs.board.status(key).state != "cancelled" and time.monotonic() < deadline:
        time.sleep(0.1)
    status = jobs.board.status(key)
    assert status.state == "cancelled" and status.done < status.total and jobs.result(key) is None
