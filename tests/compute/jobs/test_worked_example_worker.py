"""Issue 20 §7 on the workers: the worked GPT-2 runs of docs/importing.md (save_pretrained and Lightning
folders, tests/worked_example.py) computed by a real Celery worker against a real Redis give the
embedded default's values, bit for bit."""

from __future__ import annotations

import pytest

from compute.jobs.backend import run_job
from compute.kinds.line import LineQuery
from compute.kinds.surface.query import SurfaceQuery
from compute.kinds import resolve
from tests.worked_example import worked_example

pytest.importorskip("transformers")


@pytest.mark.parametrize("name", ["tinygpt_hf", "tinygpt_lightning"])
def test_a_worker_computes_the_worked_example_line(name, thread_worker, jobs_factory, store):
    run = worked_example().imported(name)
    query = resolve(LineQuery.from_args(f"init:{run}", f"final:{run}", "-0.5:1.5", 9, "train,valid"), store)
    through_celery = run_job(query, jobs_factory("celery"))
    embedded = run_job(query, jobs_factory("local"))
    assert through_celery["cost"] == embedded["cost"] and len(through_celery["cost"]["train"]) == 9
    recorded = {s["step"]: s["cost"] for s in store.load(run).manifest["steps"]}
    assert through_celery["cost"]["valid"][2] == pytest.approx(recorded[0]["valid"], abs=1e-5)  # α = 0: θᵢ


def test_a_worker_draws_the_worked_example_surface(thread_worker, jobs_factory, store):
    run = worked_example().imported("tinygpt_hf")
    query = resolve(SurfaceQuery.from_args(run, "paper", points="4x3"), store)
    through_celery = run_job(query, jobs_factory("celery"))
    assert through_celery["cost"] == run_job(query, jobs_factory("local"))["cost"]
    assert len(through_celery["cost"]["train"]) == 4
