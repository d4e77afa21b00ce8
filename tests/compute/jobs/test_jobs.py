"""The job layer on a real Redis with a real Celery worker (in this process, a thread pool), and
the embedded default beside it: same values, one job per key, failures and cancel."""

from __future__ import annotations

import threading

import pytest

from compute.jobs.celery_app import CeleryJobs
from compute.job_status import CANCELLED, DONE, FAILED
from compute.jobs.backend import run_job
from compute.jobs.base import execute
from compute.service_errors import JobFailed
from compute.kinds.line import LineQuery
from compute.kinds.trajectory import TrajectoryQuery
from models.errors import BadInput


def _line(run, points=120, **kw) -> LineQuery:
    return LineQuery(f"init:{run.id}", f"final:{run.id}", kw.pop("alpha_min", -0.25), kw.pop("alpha_max", 1.25),
                     points, ("train", "valid"), **kw)


def _values(result: dict) -> tuple:
    return result["alpha"], result["cost"], result["error"]


def test_celery_path_equals_embedded_path(thread_worker, jobs_factory, relu_run, redis_url, monkeypatch, capsys):
    import json

    from app.cli import main
    from compute.jobs.cache import redis_cache

    query = _line(relu_run, 120)
    celery, local = jobs_factory("celery"), jobs_factory("local")
    through_celery = run_job(query, celery)
    embedded = run_job(query, local)
    assert celery.status(query.key()).total == 4 == local.status(query.key()).total  # four chunks each
    assert _values(through_celery) == _values(embedded)  # bit for bit
    assert through_celery["meta"]["chunks"] == 4 and through_celery["meta"]["nonfinite"] == {"train": 0, "valid": 0}
    assert through_celery["key"] == query.key() and through_celery["query"] == query.to_json()
    assert redis_cache(redis_url).get(query.key()) == through_celery  # in the Redis cache, under the query key
    costs = through_celery["cost"]["train"]
    assert min(costs) < costs[0] and len(costs) == 120  # a real curve: the cost falls from init

    # a second ask is answered from the cache: no new job, no chunk run again
    again = celery.submit(query)
    assert again.state == DONE and celery.runs(query.key()) == {i: 1 for i in range(4)}

    # the CLI goes through the same workers when REDIS_URL is set, and in-process with --local
    monkeypatch.setenv("REDIS_URL", redis_url)
    for extra in ([], ["--local"]):
        assert main(["line", "--from", str(query.start), "--to", str(query.end), "--alpha=-0.25:1.25", "--points", "120",
                     "--format", "json", *extra]) == 0
        assert _values(json.loads(capsys.readouterr().out)) == _values(embedded)

    trajectory = TrajectoryQuery(relu_run.id)
    assert run_job(trajectory, celery) == run_job(trajectory, local)


def test_twenty_concurrent_identical_requests_compute_each_chunk_once(thread_worker, celery_app, store, relu_run,
                                                                      wait):
    query = _line(relu_run, 150)
    barrier, statuses = threading.Barrier(20), []

    def ask():
        jobs = CeleryJobs(celery_app.conf.broker_url, store, app=celery_app)  # its own Redis connections
        barrier.wait()
        statuses.append(jobs.submit(query))

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(statuses) == 20 and len({s.job_id for s in statuses}) == 1  # one job, twenty askers

    jobs = CeleryJobs(celery_app.conf.broker_url, store, app=celery_app)
    status = wait(lambda: (s := jobs.status(query.key())).finished and s, 180, "the shared job")
    assert status.state == DONE and status.done == status.total == 5
    assert jobs.runs(query.key()) == {i: 1 for i in range(5)}  # every chunk computed exactly once
    assert _values(jobs.result(query.key())) == _values(execute(query, store).to_json())


@pytest.mark.parametrize("backend", ["celery", "local"])
def test_a_chunk_that_raises_fails_the_job_and_caches_nothing(backend, request, jobs_factory):
    if backend == "celery":
        request.getfixturevalue("thread_worker")
    query = LineQuery("init:nosuchrun", "final:nosuchrun", points=200)  # names a run the store does not have
    jobs = jobs_factory(backend)  # 7 chunks
    with pytest.raises(JobFailed, match="unknown run 'nosuchrun'") as failed:
        run_job(query, jobs)
    assert not isinstance(failed.value, BadInput) and failed.value.status == 422  # the job failed, not the request
    status = jobs.status(query.key())
    assert status.state == FAILED and "unknown run 'nosuchrun'" in status.error
    assert jobs.result(query.key()) is None
    assert sum(jobs.board.runs(query.key()).values()) < 7  # the first failure stops the job


def test_an_error_outside_the_chunk_s_computation_fails_the_job_and_the_executor_goes_on(jobs_factory, relu_run,
                                                                                      monkeypatch, no_hang):
    """`run_chunk` itself raising (an unwritable cache folder, say) fails that job; the lane's thread
    lives on, so the next job still runs."""
    import compute.jobs.local as local

    real_run_chunk = local.run_chunk
    broken = _line(relu_run, 9)

    def run_chunk(board, cache, store, key, *args):
        if key == broken.key():
            raise OSError("the cache folder is not writable")
        return real_run_chunk(board, cache, store, key, *args)

    monkeypatch.setattr(local, "run_chunk", run_chunk)
    jobs = jobs_factory("local")
    with pytest.raises(JobFailed, match="not writable"):
        no_hang(lambda: run_job(broken, jobs), 120)
    assert jobs.status(broken.key()).state == FAILED
    after = _line(relu_run, 11)
    assert len(no_hang(lambda: run_job(after, jobs), 120)["alpha"]) == 11


@pytest.mark.parametrize("backend", ["celery", "local"])
def test_cancel_stops_the_chunks_not_yet_run_and_caches_nothing(backend, request, jobs_factory, relu_run, wait):
    if backend == "celery":
        request.getfixturevalue("thread_worker")
    query = _line(relu_run, 320, dtype="float64")
    jobs = jobs_factory(backend)  # 10 chunks
    key = jobs.submit(query).key
    wait(lambda: jobs.status(key).done >= 1, 120, "a first chunk", every=0.01)
    jobs.cancel(key)
    started = jobs.board.runs(key)  # chunks begun before the cancel (some may still be running)
    assert len(started) < 10
    if backend == "celery":  # every queued chunk is taken off the queue and skipped
        wait(lambda: len(started) + jobs.board.skipped(key) == 10, 120, "the queue to drain")
    else:
        wait(jobs.idle, 120, "the job thread")
    assert jobs.board.runs(key) == started  # no chunk started after the cancel
    status = jobs.status(key)
    assert status.state == CANCELLED and status.finished
    assert jobs.result(key) is None and not jobs.cache.has(key)
    # asking again starts a new job, which completes
    assert jobs.submit(query).state in ("pending", "running")
    wait(lambda: jobs.status(key).state == DONE, 300, "the job asked again")
    assert len(jobs.result(key)["alpha"]) == 320



@pytest.mark.parametrize("backend", ["celery", "local"])
def test_a_job_whose_submitter_died_before_queuing_is_started_again(backend, request, jobs_factory, relu_run, wait):
    """A submitter that records a job and dies before queuing its chunks leaves a job that would
    wait forever: within the grace others join it; after it, the next status check starts it again."""
    from compute.job_status import ENQUEUE_GRACE
    from compute.kinds import kind_of

    if backend == "celery":
        request.getfixturevalue("thread_worker")
    jobs = jobs_factory(backend)
    query = _line(relu_run, 64)
    key, kind = query.key(), kind_of(query.kind)
    created, orphan = jobs.board.create(key, kind.kind, query.to_json(), kind.split(query, 32), "orphan")
    assert created and orphan == "orphan"  # recorded; the "submitter" dies here, nothing is queued

    joined = jobs.submit(query)  # within the grace: the record may still be being queued, so join it
    assert joined.job_id == "orphan" and joined.state == "pending" and not joined.stale

    _backdate(jobs, key, ENQUEUE_GRACE + 1)
    restarted = jobs.status(key)  # what every poller (page, API, CLI) asks: it starts the job again
    assert restarted.job_id != "orphan" and not restarted.stale
    status = wait(lambda: (s := jobs.status(key)).finished and s, 120, "the restarted job")
    assert status.state == DONE and status.job_id == restarted.job_id
    assert _values(jobs.result(key)) == _values(execute(query, jobs.store).to_json())

    # a job whose chunks were all queued is never restarted, however long it takes
    other = _line(relu_run, 96)
    jobs.board.create(other.key(), kind.kind, other.to_json(), kind.split(other, 32), "queued")
    jobs.board.mark_queued(other.key(), "queued")
    _backdate(jobs, other.key(), 10 * ENQUEUE_GRACE)
    assert not jobs.board.status(other.key()).stale
    assert jobs.board.create(other.key(), kind.kind, other.to_json(), [], "another") == (False, "queued")


def _backdate(jobs, key: str, seconds: float) -> None:
    """Make a job record look `seconds` older, as if its submitter had been gone that long."""
    import time

    if hasattr(jobs.board, "client"):
        jobs.board.client.hset(f"landscape:job:{key}", "created", time.time() - seconds)
    else:
        jobs.board.jobs[key]["created"] = time.time() - seconds
