"""Faults with real `landscape worker` processes: a worker killed in the middle of a chunk (the
whole worker, or its pool process), and Redis stopped in the middle of a job and started again."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import redis

from compute.service_errors import RedisUnavailable
from compute.jobs.celery_app import CeleryJobs
from compute.jobs.redis_board import PREFIX
from compute.job_status import DONE
from compute.jobs.base import execute
from compute.kinds.line import LineQuery


def _line(run, points: int) -> LineQuery:
    # float64 makes a chunk slow enough (tenths of a second) to be caught in the middle
    return LineQuery(f"init:{run.id}", f"final:{run.id}", -0.25, 1.25, points, ("train", "valid"), "float64")


def _values(result: dict) -> tuple:
    return result["alpha"], result["cost"], result["error"]


def _which(got: dict, ref: dict, jobs, key: str) -> str:
    """Which chunks differ, and who ran them: the message of a failed comparison."""
    from compute.chunks import index_ranges
    from compute.jobs.base import CHUNK_POINTS

    chunks = index_ranges(len(ref["alpha"]), CHUNK_POINTS)
    bad = [i for i, (lo, hi) in enumerate(chunks)
           if any(got[f][s][lo:hi] != ref[f][s][lo:hi] for f in ("cost", "error") for s in ref[f] if ref[f][s])]
    return f"chunks {bad} differ; runs {jobs.runs(key)}; owners {jobs.board.owners(key)}"


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")  # a zombie: dead, not reaped


@pytest.mark.parametrize("victim", ["whole worker", "pool process"])
def test_a_killed_worker_s_job_finishes_within_a_minute_with_the_values_of_an_undisturbed_run(
        victim, spawn_worker, redis_url, store, relu_run, one_thread, wait):
    """`kill -9` of a worker's main process (its pool process dies with it: Celery sets the child's
    parent-death signal) or of its pool process alone, while it computes a chunk, with a second
    worker alive and the broker's visibility timeout at its default of 600 s: the job is done
    within 60 s of the kill (the lease of the chunk runs out, 20 s at most, and the next status
    poll queues it again; a lost pool process is requeued by its parent at once)."""
    a, b = spawn_worker("a", visibility=600), spawn_worker("b", visibility=600)
    wait(lambda: a.ready() and b.ready(), 180, "two workers", every=0.2)
    query = _line(relu_run, 320)  # 10 chunks
    jobs, client = CeleryJobs(redis_url, store), redis.Redis.from_url(redis_url)
    key = jobs.submit(query).key
    parts = PREFIX + key + ":parts"

    def running_on_a():  # a chunk that worker a has begun and not finished
        return next(((i,) for i, owner in jobs.board.owners(key).items()
                     if owner.startswith("a@") and not client.hexists(parts, i)), None)

    (index,) = wait(running_on_a, 120, "worker a to take a chunk", every=0.01)
    pool = a.pool_pids()
    os.kill(a.proc.pid if victim == "whole worker" else pool[0], signal.SIGKILL)
    interrupted = not client.hexists(parts, index)

    # polled as a page or the CLI polls a job: the status checks are what requeue a lost lease's chunk
    status = wait(lambda: (s := jobs.status(key)).finished and s, 60, "the job to finish within 60 s of the kill",
                  every=0.2)
    assert status.state == DONE and status.done == status.total == 10
    got, ref = jobs.result(key), execute(query, store).to_json()  # undisturbed, one thread
    assert _values(got) == _values(ref), _which(got, ref, jobs, key)
    if victim == "whole worker":
        assert a.proc.wait(10) == -signal.SIGKILL
        assert all(_gone(pid) for pid in pool)  # no orphan still computing (or renewing the lease)
    if interrupted:  # killed in the middle of the chunk (almost always): it was computed again, by b
        assert jobs.runs(key)[index] >= 2
        if victim == "whole worker":
            assert jobs.board.owners(key)[index].startswith("b@")


def test_redis_stopped_midway_gives_clear_errors_then_work_resumes(
        spawn_worker, persistent_redis, store, relu_run, one_thread, monkeypatch, capsys, wait, no_hang):
    from app.cli import main

    server = persistent_redis  # its data (the queue, the job) survive a stop and a start
    worker = spawn_worker("w", url=server.url)
    wait(worker.ready, 180, "the worker", every=0.2)
    query = _line(relu_run, 320)
    jobs = CeleryJobs(server.url, store)
    key = jobs.submit(query).key
    wait(lambda: jobs.status(key).done >= 1, 120, "a first chunk")
    server.stop()

    for ask in (lambda: jobs.status(key), lambda: jobs.submit(query), lambda: jobs.result(key)):
        with pytest.raises(RedisUnavailable, match=f"Redis at {server.url} is unreachable"):
            no_hang(ask, 60)  # an error, not a hang
    monkeypatch.setenv("REDIS_URL", server.url)
    code = no_hang(lambda: main(["line", "--from", str(query.start), "--to", str(query.end), "--alpha=-0.25:1.25",
                                 "--points", "320", "--dtype", "float64"]), 60)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and out == "" and len(lines) == 1, err
    assert lines[0].startswith("landscape: error:") and "unreachable" in lines[0] and "--local" in lines[0]

    server.start()  # Redis back: the worker reconnects and finishes the queued chunks
    status = wait(lambda: (s := jobs.status(key)).finished and s, 240, "the job to resume", every=0.2)
    assert status.state == DONE and status.done == status.total == 10
    got, ref = jobs.result(key), execute(query, store).to_json()
    assert _values(got) == _values(ref), _which(got, ref, jobs, key)
