"""Signed references on a real Celery worker (issue 18 §4): a worker verifies a run before it
resolves any of its references, whoever queued the job. A job for a forged run that reached Redis
past the web's checks (anyone who can write to Redis can queue one) fails with the one line and
never imports the module; a worker without the key says so; a good import computes as the
embedded default does. The user code and runs are those of tests/compute/test_signing.py."""

from __future__ import annotations

import uuid

from compute import signing
from compute.jobs.backend import run_job
from compute.jobs.base import CHUNK_POINTS
from compute.service_errors import JobFailed
from compute.kinds import kind_of, resolve
from compute.kinds.line import LineQuery
from tests.compute.test_signing import (  # noqa: F401  (fixtures)
    checkpoints, code, evil_model, forge, never_ran, tiny_run)


def queue_past_the_checks(jobs, query) -> str:
    """What a client that can write to Redis could queue: a job the web never admitted."""
    key, kind, query_json = query.key(), kind_of(query.kind), query.to_json()
    chunks = kind.split(query, CHUNK_POINTS)
    created, job_id = jobs.board.create(key, kind.kind, query_json, chunks, uuid.uuid4().hex[:16])
    assert created
    jobs._enqueue(key, job_id, chunks, query_json)
    jobs.board.mark_queued(key, job_id)
    return key


def ended(jobs, key: str, wait):
    return wait(lambda: (s := jobs.status(key)) is not None and s.state in ("done", "failed", "cancelled") and s,
                60, f"job {key} to end")


def _line(run_id: str, store, points: int = 5):
    return resolve(LineQuery.from_args(f"init:{run_id}", f"final:{run_id}", "0:1", points, "train"), store)


def test_a_worker_fails_a_forged_run_without_importing_it(thread_worker, jobs_factory, tiny_run, store, code, wait):
    forged = forge(tiny_run, store, evil_model(code))
    jobs = jobs_factory("celery")
    status = ended(jobs, queue_past_the_checks(jobs, _line(forged, store)), wait)
    assert status.state == "failed" and forged in status.error and "do not verify" in status.error
    assert "\n" not in status.error  # the never_ran fixture checks the marker file and sys.modules


def test_a_worker_without_the_key_fails_the_job_in_one_line(thread_worker, jobs_factory, tiny_run, store, wait,
                                                             monkeypatch, tmp_path):
    jobs, key_file = jobs_factory("celery"), signing.key_path()
    query = _line(tiny_run.id, store, points=6)
    monkeypatch.setenv("LANDSCAPE_SECRET_KEY_FILE", str(tmp_path / "not-copied.key"))  # the worker's machine
    status = ended(jobs, queue_past_the_checks(jobs, query), wait)
    assert status.state == "failed" and "\n" not in status.error
    assert status.error.startswith(f"run: run {tiny_run.id} is signed, but this machine has no signing key at "
                                   f"{tmp_path / 'not-copied.key'}: copy the key file")
    with_the_key_again = tmp_path / "copied.key"
    with_the_key_again.write_bytes(key_file.read_bytes())
    monkeypatch.setenv("LANDSCAPE_SECRET_KEY_FILE", str(with_the_key_again))
    assert run_job(_line(tiny_run.id, store, points=7), jobs)["cost"]["train"]


def test_a_good_import_runs_on_the_worker_as_embedded(thread_worker, jobs_factory, tiny_run, store):
    query = _line(tiny_run.id, store, points=9)
    through_celery = run_job(query, jobs_factory("celery"))
    assert through_celery["cost"] == run_job(query, jobs_factory("local"))["cost"]
    assert len(through_celery["cost"]["train"]) == 9


def test_a_forged_run_asked_for_as_usual_fails_its_job(thread_worker, jobs_factory, tiny_run, store, code):
    forged = forge(tiny_run, store, lambda m: m["source"]["data"].update(module="signing_evil", function="splits"))
    try:
        run_job(_line(forged, store, points=8), jobs_factory("celery"))
    except JobFailed as exc:
        assert forged in str(exc) and "do not verify" in str(exc)
    else:
        raise AssertionError("a forged run was computed")
