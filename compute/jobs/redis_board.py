"""The job board in Redis (`RedisBoard`): the records of compute/jobs/local.py's `LocalBoard`, with
the same operations and answers, shared by every process that uses the same Redis.

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
"""

from __future__ import annotations

import json
import time
from functools import wraps

from ..job_status import ACTIVE, DEFAULT_CHUNK_S, ENQUEUE_GRACE, LEASE_S, JobStatus, eta, public_state, stale_job
from ..service_errors import RedisUnavailable
from .cache import redis_errors

FINISHED_TTL = 7 * 24 * 3600  # finished job records (not results) expire after a week
PREFIX = "landscape:job:"
ACTIVE_SET = "landscape:active"
CHUNK_SECONDS = "landscape:chunk_s"

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
    """Job records in Redis; the same operations and answers as compute.jobs.local.LocalBoard."""

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
        """Every chunk of the job is queued (see compute.job_status.ENQUEUE_GRACE)."""
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
        """A running chunk's progress (see compute.job_status.JobStatus.chunk_progress)."""
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
