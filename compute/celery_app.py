"""The distributed job layer: the Celery app, the chunk task, and the job board in Redis.

With REDIS_URL set, `compute.jobs.get_jobs()` is a `CeleryJobs`: `submit` records the job in
Redis and queues one `landscape.chunk` task per chunk on the `landscape.chunks` queue; any worker
(`landscape worker`, or `celery -A compute.celery_app worker`) runs them with
`compute.jobs.run_chunk`, and the chunk that completes a job writes the result to the Redis cache
(compute/cache.py) under the query key. Never imports Dash.

Redis holds, per query key K (all small; finished records expire after a week, the cached result
does not):
  landscape:job:K          hash: job_id, kind, query, chunks, total, state, error, created, updated,
                           queued (1 once the submitter has queued every chunk: see ENQUEUE_GRACE),
                           progress (a running chunk's last [done, total]: JobStatus.chunk_progress)
  landscape:job:K:parts    hash: chunk index -> the chunk's part (JSON), until the job is over
  landscape:job:K:runs     hash: chunk index -> times the chunk was started (1 unless a worker was lost)
  landscape:job:K:owners   hash: chunk index -> the worker that ran it last
  landscape:job:K:leases   hash: chunk index -> when its running chunk's lease ends (renewed while it runs)
  landscape:active         sorted set: the active jobs' keys by creation time (for "queued behind N")
  landscape:chunk_s        a moving average of chunk seconds (for the waiting jobs' estimates)
Every transition is one Lua script, so it is atomic across processes: concurrent identical
submits create one job (the rest join it), a chunk is claimed only while its job is active (a
cancel takes effect for every chunk not yet started), and exactly one chunk assembles.

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
from functools import wraps

from celery import Celery
from celery.exceptions import Reject
from celery.signals import worker_process_init

from .cache import RedisUnavailable, redis_cache, redis_client, redis_errors
from .board import ACTIVE, DEFAULT_CHUNK_S, ENQUEUE_GRACE, LEASE_S, JobStatus, eta, public_state, stale_job
from .jobs import BaseJobs, run_chunk
from .settings import int_setting, worker_redis_url
from .store import Store

QUEUE = "landscape.chunks"  # not Celery's default queue: Dash's background callbacks may share the Redis
CHUNK_TASK = "landscape.chunk"
FINISHED_TTL = 7 * 24 * 3600  # finished job records (not results) expire after a week
PREFIX = "landscape:job:"
ACTIVE_SET = "landscape:active"
CHUNK_SECONDS = "landscape:chunk_s"
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


def __getattr__(name: str):
    """`app`, made on first use, for `celery -A compute.celery_app worker` (which needs REDIS_URL)."""
    if name == "app":
        return celery_for(worker_redis_url())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------- the board in Redis
_CREATE = """
local job = redis.call('HMGET', KEYS[1], 'state', 'queued', 'created')
local state = job[1]
local stale = (state == 'pending' or state == 'running') and job[2] == '0'
              and tonumber(ARGV[6]) - tonumber(job[3]) > tonumber(ARGV[8])
if not stale and (state == 'pending' or state == 'running' or state == 'assembling'
                  or (state == 'done' and ARGV[7] == '0')) then
  return {0, redis.call('HGET', KEYS[1], 'job_id')}
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('HSET', KEYS[1], 'job_id', ARGV[1], 'kind', ARGV[2], 'query', ARGV[3], 'chunks', ARGV[4],
           'total', ARGV[5], 'state', 'pending', 'error', '', 'created', ARGV[6], 'updated', ARGV[6], 'skipped', 0,
           'queued', '0', 'watched', ARGV[6], 'seconds', 0)
redis.call('ZADD', KEYS[6], ARGV[6], ARGV[9])
return {1, ARGV[1]}
"""
_RENEW = """
local job = redis.call('HMGET', KEYS[1], 'job_id', 'state')
if job[1] == ARGV[1] and redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
end
return 0
"""
_QUEUED = """
if redis.call('HGET', KEYS[1], 'job_id') == ARGV[1] then redis.call('HSET', KEYS[1], 'queued', '1') end
return 0
"""
_REPORT = """
if redis.call('HGET', KEYS[1], 'job_id') == ARGV[1] then redis.call('HSET', KEYS[1], 'progress', ARGV[2]) end
return 0
"""
_CLAIM = """
local job = redis.call('HMGET', KEYS[1], 'job_id', 'state')
if job[1] ~= ARGV[1] then return 'skip' end
if job[2] == 'assembling' then return 'assemble' end
if (job[2] ~= 'pending' and job[2] ~= 'running') or redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then
  if job[2] == 'cancelled' then redis.call('HINCRBY', KEYS[1], 'skipped', 1) end
  return 'skip'
end
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[5], ARGV[2], tonumber(ARGV[4]) + tonumber(ARGV[5]))
redis.call('HSET', KEYS[1], 'state', 'running', 'updated', ARGV[4])
return 'go'
"""
_STORE = """
local job = redis.call('HMGET', KEYS[1], 'job_id', 'state', 'total')
if job[1] ~= ARGV[1] then return 'skip' end
if job[2] ~= 'pending' and job[2] ~= 'running' then return job[2] end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[2])
redis.call('HSET', KEYS[1], 'updated', ARGV[4])
redis.call('HINCRBYFLOAT', KEYS[1], 'seconds', ARGV[5])
local average = tonumber(redis.call('GET', KEYS[4]) or ARGV[5])
redis.call('SET', KEYS[4], tostring(0.8 * average + 0.2 * tonumber(ARGV[5])))
if redis.call('HLEN', KEYS[2]) == tonumber(job[3]) then
  redis.call('HSET', KEYS[1], 'state', 'assembling')
  return 'assemble'
end
return 'stored'
"""
_FINISH = """
local job = redis.call('HMGET', KEYS[1], 'job_id', 'state')
if job[1] ~= ARGV[1] then return 0 end
if ARGV[2] == 'cancelled' then
  if job[2] ~= 'pending' and job[2] ~= 'running' then return 0 end
elseif job[2] ~= 'pending' and job[2] ~= 'running' and job[2] ~= 'assembling' then
  return 0
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'error', ARGV[3], 'updated', ARGV[4])
redis.call('DEL', KEYS[2], KEYS[5])
redis.call('ZREM', KEYS[6], ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[3], ARGV[5])
redis.call('EXPIRE', KEYS[4], ARGV[5])
return 1
"""


def _reachable(method):
    @wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except redis_errors() as exc:
            raise RedisUnavailable(self.url, exc) from None

    return wrapper


class RedisBoard:
    """Job records in Redis; the same operations and answers as compute.board.LocalBoard."""

    def __init__(self, client, url: str):
        self.client, self.url = client, url
        self._create, self._claim, self._store, self._finish, self._queued, self._renew, self._report = (
            client.register_script(s) for s in (_CREATE, _CLAIM, _STORE, _FINISH, _QUEUED, _RENEW, _REPORT))

    @staticmethod
    def _keys(key: str) -> list[str]:
        job = PREFIX + key
        return [job, job + ":parts", job + ":runs", job + ":owners", job + ":leases", ACTIVE_SET]

    @_reachable
    def create(self, key: str, kind: str, query_json: dict, chunks: list, job_id: str,
               force: bool = False) -> tuple[bool, str]:
        created, job_id = self._create(keys=self._keys(key), args=[
            job_id, kind, json.dumps(query_json), json.dumps(chunks), len(chunks), time.time(), int(force),
            ENQUEUE_GRACE, key])
        return bool(created), job_id.decode()

    @_reachable
    def mark_queued(self, key: str, job_id: str) -> None:
        """Every chunk of the job is queued (see compute.board.ENQUEUE_GRACE)."""
        self._queued(keys=[PREFIX + key], args=[job_id])

    @_reachable
    def query(self, key: str) -> dict | None:
        query = self.client.hget(PREFIX + key, "query")
        return json.loads(query) if query is not None else None

    @_reachable
    def claim(self, key: str, job_id: str, index: int, owner: str = "?") -> str:
        return self._claim(keys=self._keys(key)[:5], args=[job_id, index, owner, time.time(), LEASE_S]).decode()

    @_reachable
    def active(self, key: str, job_id: str) -> bool:
        current, state = self.client.hmget(PREFIX + key, "job_id", "state")
        return current is not None and current.decode() == job_id and state.decode() in ACTIVE

    @_reachable
    def store(self, key: str, job_id: str, index: int, part: dict, seconds: float = 0.0) -> str:
        job, parts, *_, leases, _active = self._keys(key)
        return self._store(keys=[job, parts, leases, CHUNK_SECONDS],
                           args=[job_id, index, json.dumps(part), time.time(), seconds]).decode()

    @_reachable
    def touch(self, key: str) -> None:
        self.client.hset(PREFIX + key, "watched", time.time())

    @_reachable
    def unwatched(self, key: str, job_id: str, grace: float) -> bool:
        current, state, watched = self.client.hmget(PREFIX + key, "job_id", "state", "watched")
        return (current is not None and current.decode() == job_id and state.decode() in ACTIVE
                and watched is not None and time.time() - float(watched) > grace)

    @_reachable
    def report(self, key: str, job_id: str, done: int, total: int) -> None:
        """A running chunk's progress (see compute.board.JobStatus.chunk_progress)."""
        self._report(keys=[PREFIX + key], args=[job_id, json.dumps([int(done), int(total)])])

    @_reachable
    def renew(self, key: str, job_id: str, index: int) -> None:
        job, *_, leases, _active = self._keys(key)
        self._renew(keys=[job, leases], args=[job_id, index, time.time() + LEASE_S])

    @_reachable
    def lost_chunks(self, key: str) -> list[int]:
        """Chunks claimed by a worker whose lease ran out (the worker died) and not yet in."""
        now = time.time()
        return sorted(int(i) for i, until in self.client.hgetall(self._keys(key)[4]).items() if float(until) < now)

    @_reachable
    def release(self, key: str, job_id: str, index: int) -> bool:
        """Drop a lost chunk's lease before queuing it again: True for the one caller that does."""
        return bool(self.client.hdel(self._keys(key)[4], index))

    @_reachable
    def parts(self, key: str, job_id: str) -> list[dict] | None:
        job, parts = self._keys(key)[:2]
        pipe = self.client.pipeline(transaction=True)
        pipe.hmget(job, "job_id", "total")
        pipe.hgetall(parts)
        (current, total), stored = pipe.execute()
        if current is None or current.decode() != job_id or len(stored) != int(total):
            return None
        return [json.loads(stored[str(i).encode()]) for i in range(int(total))]

    @_reachable
    def finish(self, key: str, job_id: str, state: str, error: str | None = None) -> bool:
        return bool(self._finish(keys=self._keys(key),
                                 args=[job_id, state, error or "", time.time(), FINISHED_TTL, key]))

    @_reachable
    def cancel(self, key: str) -> bool:
        current = self.client.hget(PREFIX + key, "job_id")
        return current is not None and self.finish(key, current.decode(), "cancelled")

    @_reachable
    def status(self, key: str) -> JobStatus | None:
        job, parts = self._keys(key)[:2]
        pipe = self.client.pipeline(transaction=True)
        pipe.hmget(job, "state", "total", "error", "job_id", "queued", "created", "progress")
        pipe.hlen(parts)
        pipe.zcard(ACTIVE_SET)
        pipe.get(CHUNK_SECONDS)
        (state, total, error, job_id, queued, created, progress), stored, active, chunk_s = pipe.execute()
        if state is None:
            return None
        state, total = state.decode(), int(total)
        done = total if state == "done" else int(stored)
        # a record without the mark (written before it existed) counts as queued
        status = JobStatus(key, public_state(state), done, total, (error or b"").decode() or None, job_id.decode(),
                           stale_job(state, queued != b"0", float(created)),
                           chunk_progress=json.loads(progress) if progress else None)
        if state in ACTIVE:
            if state == "pending":
                status.ahead = max(0, self.client.zcount(ACTIVE_SET, "-inf", float(created)) - 1)
            status.eta_s = eta(total - done, float(chunk_s) if chunk_s else DEFAULT_CHUNK_S, max(0, active - 1))
        return status

    @_reachable
    def runs(self, key: str) -> dict[int, int]:
        return {int(i): int(n) for i, n in self.client.hgetall(self._keys(key)[2]).items()}

    @_reachable
    def owners(self, key: str) -> dict[int, str]:
        return {int(i): o.decode() for i, o in self.client.hgetall(self._keys(key)[3]).items()}

    @_reachable
    def skipped(self, key: str) -> int:
        return int(self.client.hget(PREFIX + key, "skipped") or 0)


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
