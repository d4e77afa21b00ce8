"""The distributed job layer: the Celery app, its chunk task, and `CeleryJobs`.

With REDIS_URL set, `compute.jobs.backend.get_jobs()` is a `CeleryJobs`: `submit` records the job
on the board in Redis (compute/jobs/redis_board.py) and queues one `landscape.chunk` task per chunk
on the `landscape.chunks` queue; any worker (`landscape worker`, compute/jobs/worker.py) runs them
with `compute.jobs.base.run_chunk`, and the chunk that completes a job writes the result to the
Redis cache (compute/jobs/cache.py) under the query key. Never imports Dash.

Fairness. Chunks are sent with a priority that grows with their index in the job (chunks 0-1:
0, the highest, then one step per CHUNKS_PER_PRIORITY chunks, up to 9), on kombu's Redis
priority queues (`priority_steps`, `queue_order_strategy=priority`): a new job's first chunks
go before the later chunks of a big job already queued, so a 50-point line is not stuck behind
a 201x201 surface. No broker of our own: Celery's priorities do the ordering.

Faults. Tasks are acknowledged late and requeued when their worker process is lost
(`task_acks_late`, `task_reject_on_worker_lost`). A whole worker that dies (SIGKILL) leaves its
chunk unacknowledged, which Redis would hand out again only after the visibility timeout
(LANDSCAPE_VISIBILITY_TIMEOUT, default 600 s). So a running chunk holds a *lease* on the board
(LEASE_S, 20 s), renewed every 5 s by a thread of the worker computing it (its pool process,
which dies with the main process: Celery sets the child's parent-death signal to SIGKILL, so no
orphan goes on renewing); the next status check of the job (any page, API or CLI call waiting for
it: `BaseJobs.status`, no beat) finds a lease that ran out and queues that chunk again at the top
priority (the job was done 21 s after the kill in tests/compute/jobs/test_faults.py). The old
message, restored after the visibility timeout, is then skipped (its part is in). A worker that
loses Redis retries for about half a minute, then requeues the chunk (`Reject`). Chunks are idempotent: a chunk whose part is in, or
whose job is over, is skipped. Workers prefetch one task each (a queued chunk waits for the first
free worker, not behind a busy one).
"""

from __future__ import annotations

import json
import os
import time

from celery import Celery
from celery.exceptions import Reject
from celery.signals import worker_process_init

from ..service_errors import RedisUnavailable
from ..settings import int_setting
from ..store import Store
from .base import BaseJobs, run_chunk
from .cache import redis_cache, redis_client, redis_errors
from .redis_board import PREFIX, RedisBoard

QUEUE = "landscape.chunks"  # not Celery's default queue: Dash's background callbacks may share the Redis
CHUNK_TASK = "landscape.chunk"
CHUNKS_PER_PRIORITY = 2


def visibility_timeout() -> int:
    return int_setting("LANDSCAPE_VISIBILITY_TIMEOUT")


def make_celery(url: str, visibility: int | None = None) -> Celery:
    vt = visibility or visibility_timeout()
    app = Celery("landscape", broker=url, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,  # results travel through the board and the cache, not Celery's backend
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=False,  # a chunk rides out a Redis restart
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker waits for Redis to come back
        broker_connection_timeout=3,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
        broker_transport_options={
            "visibility_timeout": vt,
            # how often a worker looks for chunks of dead workers to hand out again
            "unacked_restore_interval": max(1, min(10, vt // 4)),
            "unacked_restore_throttle": 1,
            # kombu's priority queues on Redis: 0 is served first (see "Fairness" above)
            "priority_steps": list(range(10)),
            "queue_order_strategy": "priority",
        },
    )
    app.task(name=CHUNK_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)(_chunk)
    return app


def _chunk(task, key: str, job_id: str, index: int, chunk, query_json: dict) -> str:
    """One chunk of job `job_id` (the task id is KEY:JOB_ID:INDEX)."""
    board, cache, store = _context(task.app.conf.broker_url)
    try:
        return run_chunk(board, cache, store, key, job_id, index, chunk, query_json,
                         owner=task.request.hostname or f"pid{os.getpid()}")
    except RedisUnavailable as exc:  # back on the queue; if Redis is gone, the visibility timeout brings it back
        raise Reject(str(exc), requeue=True) from None


_contexts: dict[tuple[int, str], tuple] = {}


def _context(url: str) -> tuple:
    """This process's board, cache and store (made after a fork, kept across tasks: with
    compute.resources' caches, a job's second chunk reloads nothing)."""
    ident = (os.getpid(), url)
    if ident not in _contexts:
        _contexts[ident] = (RedisBoard(redis_client(url, patient=True), url), redis_cache(url, patient=True), Store())
    return _contexts[ident]


@worker_process_init.connect
def _init_process(**_) -> None:
    threads = int_setting("LANDSCAPE_TORCH_THREADS")
    if threads:  # set in each pool process, never in the parent before it forks
        import torch

        torch.set_num_threads(threads)


_apps: dict[str, Celery] = {}


def celery_for(url: str) -> Celery:
    if url not in _apps:
        _apps[url] = make_celery(url)
    return _apps[url]


class CeleryJobs(BaseJobs):
    """Jobs whose chunks run on Celery workers; the job board and the result cache in Redis."""

    def __init__(self, url: str, store: Store | None = None, app: Celery | None = None):
        super().__init__(store)
        self.url = url
        self.app = app or celery_for(url)
        self.cache = redis_cache(url)
        self.board = RedisBoard(redis_client(url), url)

    def _enqueue(self, key: str, job_id: str, chunks: list, query_json: dict) -> None:
        from kombu.exceptions import OperationalError

        task = self.app.tasks[CHUNK_TASK]
        try:
            with self.app.producer_or_acquire() as producer:
                for index, chunk in enumerate(chunks):
                    task.apply_async((key, job_id, index, chunk, query_json), task_id=f"{key}:{job_id}:{index}",
                                     producer=producer, priority=chunk_priority(index))
        except (OperationalError, OSError, *redis_errors()) as exc:
            # a job whose chunks are not all queued would wait forever: it fails (the next submit retries it)
            try:
                self.board.finish(key, job_id, "failed", f"could not queue its chunks: {exc}")
            except RedisUnavailable:
                pass
            raise RedisUnavailable(self.url, exc) from None

    def _requeue(self, key: str, job_id: str, indices: list[int]) -> None:
        """Chunks whose worker died (their lease ran out): queued again, at the top priority."""
        query_json = self.board.query(key)
        chunks = json.loads(self.board.client.hget(PREFIX + key, "chunks") or "[]")
        task = self.app.tasks[CHUNK_TASK]
        for index in indices:
            if query_json is None or index >= len(chunks) or not self.board.release(key, job_id, index):
                continue  # someone else requeued it
            task.apply_async((key, job_id, index, chunks[index], query_json),
                             task_id=f"{key}:{job_id}:{index}:again{int(time.time())}", priority=0)


def chunk_priority(index: int) -> int:
    """The priority of a job's chunk `index` (0 is served first): see "Fairness" above."""
    return min(9, index // CHUNKS_PER_PRIORITY)
