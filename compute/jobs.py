"""The one job layer: a query in, its result in the cache under the query key, once per key.

    jobs = get_jobs()                 # LocalJobs (embedded default), or CeleryJobs when REDIS_URL is set
    status = jobs.submit(query)       # returns at once; one job per query.key(), however many ask
    status = jobs.status(query.key()) # JobStatus: state, done/total chunks, error, finished
    result = jobs.result(query.key()) # the result's JSON from the cache, or None
    jobs.cancel(query.key())          # chunks not yet run are skipped, a running one stops; nothing is cached

How a job runs. `submit` splits the query's grid into chunks (`ChunkKind.split`) and records the
job on a *board* (LocalBoard in this process; RedisBoard in compute/celery_app.py, shared by every
process that uses the same Redis). Each chunk is one call of `run_chunk` (a Celery task on any
worker, or the embedded default's thread), which
  1. claims the chunk (atomically: skipped if the job was cancelled, failed or replaced, or the
     chunk's part is already in; so a redelivered or duplicated chunk is harmless),
  2. computes it with the kind's `compute` through the existing compute functions (the one
     evaluator), checking between evaluation steps whether the job was cancelled,
  3. stores its part on the board; the chunk that completes the set assembles the parts, checks the
     result (`ChunkKind.check`: shape, the query it answers, finite values or null) and only then
     writes it to the result cache (compute/cache.py) under the query key.
A chunk that raises fails the whole job with its message; no partial result is ever cached.
`execute` computes a query in this process with the same chunks, without a board or a cache.

A damaged cache entry is a miss. Every read of a result (`submit`, `status`, `result`) goes through
`cached`, which reads the entry and checks it as the job checked it before writing it (`entry_check`:
the query it carries has this key, `ChunkKind.check`, the result type reads it); an entry that does
not read or check is logged once and computed again (a new job, forced past a board that says
"done"), and the recomputed result replaces it atomically. So a board never reports as done a
job whose result cannot be read back: its status is that of the job that recomputes it.

The kinds (how a query is split, computed, assembled and checked: compute/chunks.py) are listed
in compute/kinds/__init__.py; `split` is always given `chunk_points(query, store)`, so every path
(embedded, Celery, `execute`) computes the same chunks and so the same values.

Fairness and budget. `submit` refuses a query whose estimated work is above LANDSCAPE_MAX_WORK
(compute/budget.py). Chunks are sized by that estimate to about a second each (`chunk_points`:
at most CHUNK_POINTS points for a line; a surface's chunks are whole rows or parts of a row, see
compute/kinds/surface/kind.py `split_surface`), and the chunks of different jobs take turns: the job with
the fewest chunks run goes next in the embedded executor (round robin among equals), priorities
by chunk index on Celery (compute/celery_app.py), so a new small job runs its first chunks next,
whatever a big one still has queued: it waits for the chunk under way at most. A job that nobody
watches (no `status` call: a page polling it, the API or the CLI waiting for it) for
LANDSCAPE_UNWATCHED_GRACE seconds is cancelled before its next chunk.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from collections import OrderedDict

from models.errors import BadInput
from . import budget
from .board import ACTIVE, CANCELLED, DONE, FAILED, LEASE_S, JobStatus, LocalBoard
from .cache import RedisUnavailable, ResultCache, file_cache
from .evaluator import Progress
from .computing import computing
from .kinds import estimate, kind_of
from .queries import Query
from .settings import int_setting, redis_url
from .store import Store, landscape_home

log = logging.getLogger(__name__)

# Grid points per chunk. Every chunk pays the evaluator's per-call set-up again (the first layer
# of its basis, a line path's plan), so small chunks waste time on small models; 32 keeps that
# small and still gives a 200-point line 7 chunks to share among workers.
CHUNK_POINTS = 32
JobsUnavailable = RedisUnavailable  # the job layer's name for "Redis cannot be reached"
# One chunk computes at a time per process: compute/computing.py says why.


class Cancelled(Exception):
    pass


def chunk_points(query: Query, store: Store) -> int:
    """Grid points per chunk of `query`: about budget.CHUNK_WORK of work (a second or so), at most
    the kind's `most_points` (CHUNK_POINTS unless it says). Made from the query and its runs alone,
    so every path cuts the same chunks."""
    most = kind_of(query.kind).most_points or CHUNK_POINTS
    found = estimate(query, store)
    if found is None or found[1] <= 0:
        return min(most, CHUNK_POINTS)
    return int(min(most, max(1, budget.CHUNK_WORK // found[1])))


def entry_check(key: str, result: dict) -> None:
    """Raises (ValueError, KeyError, TypeError, BadInput) unless `result` is a result of the query
    named by `key`, as its kind checks it before it is cached, and reads as its result type."""
    kind = kind_of(key.rsplit("-", 1)[0])  # Query.key(): "<kind>-<digest>"
    query = kind.query_type.from_json(result["query"])
    if query.key() != key:
        raise ValueError(f"it holds the result of {query.key()}")
    kind.check(query, result)
    kind.result_type.from_json(result)


def split_chunks(kind, query: Query, store: Store) -> list:
    """The chunks of `query`: ranges of its grid points, and for a line over streamed data too big
    for one chunk also ranges of the data's shards (compute/kinds/line_shards.py; the kind's data_cut)."""
    if kind.data_split is not None:
        most = kind.most_points or CHUNK_POINTS
        cut = kind.data_cut(query, store, most)
        if cut is not None:
            return kind.data_split(query, most, *cut)
    return kind.split(query, chunk_points(query, store))


def unwatched_grace() -> int:
    return int_setting("LANDSCAPE_UNWATCHED_GRACE")


def execute(query: Query, store: Store, progress: Progress | None = None):
    """The result object of `query`, computed here, chunk by chunk as a job would (so the values are
    those of every other path); `progress(done, total)` counts chunks and may raise to stop."""
    if not isinstance(query, Query):
        raise TypeError(f"no executor for {type(query).__name__}")
    kind = kind_of(query.kind)
    chunks = split_chunks(kind, query, store)
    parts = []
    for i, chunk in enumerate(chunks):
        with computing():
            parts.append(kind.compute(query, store, chunk, None))
        if progress is not None:
            progress(i + 1, len(chunks))
    result = kind.assemble(query, parts)
    kind.check(query, result)
    return kind.result_type.from_json(result)


# --------------------------------------------------------------------------- running a chunk
class _Watch:
    """The progress callback of a chunk: reports (done, total) to the board (JobStatus.chunk_progress)
    and raises Cancelled once the job is no longer active. The board is asked at most every `every`
    seconds (a Redis round trip per point would dominate small models); an unreachable board does
    not stop a computation."""

    def __init__(self, board, key: str, job_id: str, every: float = 0.5):
        self.board, self.key, self.job_id, self.every = board, key, job_id, every
        self.last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        try:
            self.board.report(self.key, self.job_id, done, total)
            active = self.board.active(self.key, self.job_id)
        except RedisUnavailable:
            return
        if not active:
            raise Cancelled()


class _Lease:
    """Renews a running chunk's lease on the board from a thread of its own while the chunk
    computes (an evaluation step may hold the main thread for longer than the lease)."""

    def __init__(self, board, key: str, job_id: str, index: int):
        self.board, self.args, self.stop = board, (key, job_id, index), threading.Event()

    def _renew(self) -> None:
        while not self.stop.wait(LEASE_S / 4):
            try:
                self.board.renew(*self.args)
            except RedisUnavailable:
                pass

    def __enter__(self):
        threading.Thread(target=self._renew, name="landscape-lease", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()


def _message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, BadInput) else f"{type(exc).__name__}: {exc}"


def run_chunk(board, cache: ResultCache, store: Store, key: str, job_id: str, index: int, chunk,
              query_json: dict, owner: str = "local") -> str:
    """Compute chunk `index` of job `job_id` and, if it is the last, assemble, check and cache the
    result. Idempotent. Returns what happened: 'done', 'skip', 'cancelled' or 'failed'.
    RedisUnavailable propagates (the chunk is to be retried, the job is not failed)."""
    if board.unwatched(key, job_id, unwatched_grace()):  # nobody waits for it any more
        board.cancel(key)
        log.info("job %s cancelled: unwatched for %s s", key, unwatched_grace())
        return "cancelled"
    verdict = board.claim(key, job_id, index, owner)
    if verdict == "skip":
        return "skip"
    kind = kind_of(query_json["kind"])
    try:
        query = kind.query_type.from_json(query_json)
        if verdict == "go":
            with computing(), _Lease(board, key, job_id, index):
                started = time.monotonic()
                part = kind.compute(query, store, chunk, _Watch(board, key, job_id))
            verdict = board.store(key, job_id, index, part, time.monotonic() - started)
            if verdict != "assemble":
                return "done" if verdict == "stored" else verdict
        parts = board.parts(key, job_id)
        if parts is None:
            return "skip"
        result = kind.assemble(query, parts)
        try:
            kind.check(query, result)
        except ValueError as exc:
            raise ValueError(f"result check failed: {exc}") from None
        cache.set(key, result)
        board.finish(key, job_id, DONE)
        return "done"
    except Cancelled:
        return "cancelled"
    except RedisUnavailable:
        raise
    except Exception as exc:  # the job fails with the chunk's message, shown in the page and CLI
        if not isinstance(exc, BadInput):
            log.exception("chunk %s of %s failed", index, key)
        board.finish(key, job_id, FAILED, _message(exc))
        return "failed"


# --------------------------------------------------------------------------- managers
class BaseJobs:
    """What every job manager does; subclasses give a board, a cache and `_enqueue`."""

    board: Any
    cache: ResultCache

    def __init__(self, store: Store | None):
        self.store = store or Store()

    def cached(self, key: str) -> dict | None:
        """The key's result from the cache, None when absent or damaged (see the module's docstring)."""
        return self.cache.read(key, entry_check)

    def submit(self, query: Query) -> JobStatus:
        key = query.key()
        if self.cached(key) is not None:
            return self._done(key)
        status = self.board.status(key)
        if status is not None and status.state in ACTIVE and not status.stale:  # join it: admitted before
            self.board.touch(key)
            return status
        budget.check(estimate(query, self.store))  # BadInput (400) above LANDSCAPE_MAX_WORK: before anything is queued
        kind = kind_of(query.kind)
        chunks = split_chunks(kind, query, self.store)
        query_json = query.to_json()
        created, job_id = self.board.create(key, kind.kind, query_json, chunks, uuid.uuid4().hex[:16])
        if not created:
            status = self.board.status(key)
            if status is None or status.state != DONE or self.cached(key) is not None:
                return status or self._done(key)
            # done, but the cache lost the result (evicted, flushed, damaged): compute it again
            created, job_id = self.board.create(key, kind.kind, query_json, chunks, uuid.uuid4().hex[:16], force=True)
        if created:
            self._enqueue(key, job_id, chunks, query_json)
            self.board.mark_queued(key, job_id)
        return self.board.status(key)

    def status(self, key: str) -> JobStatus | None:
        """The job's status; asking counts as watching it (see LANDSCAPE_UNWATCHED_GRACE), and
        queues again the chunks of workers that died (their leases ran out)."""
        status = self.board.status(key)
        if status is None or status.state == DONE:
            if self.cached(key) is not None:
                return status or self._done(key)
            query_json = self.board.query(key) if status is not None else None
            if query_json is None:  # nothing to recompute it from here: the next submit does
                return None
            return self.submit(kind_of(query_json["kind"]).query_type.from_json(query_json))
        if status.stale:  # its chunks may never come: start it again
            query_json = self.board.query(key)
            if query_json is not None:
                return self.submit(kind_of(query_json["kind"]).query_type.from_json(query_json))
        if status is not None and status.state in ACTIVE:
            self.board.touch(key)
            lost = self.board.lost_chunks(key)
            if lost:
                self._requeue(key, status.job_id, lost)
        return status

    def result(self, key: str) -> dict | None:
        """The result's JSON, None when it is absent or damaged (`status` then starts it again)."""
        return self.cached(key)

    def cancel(self, key: str) -> None:
        self.board.cancel(key)

    def runs(self, key: str) -> dict[int, int]:
        """How many times each chunk of the key's job was started (1 unless a worker was lost)."""
        return self.board.runs(key)

    def _done(self, key: str) -> JobStatus:
        status = self.board.status(key)
        return status if status is not None and status.state == DONE else JobStatus(key, DONE, 1, 1)

    def _enqueue(self, key: str, job_id: str, chunks: list, query_json: dict) -> None:
        raise NotImplementedError

    def _requeue(self, key: str, job_id: str, indices: list[int]) -> None:
        """Queue again the chunks `indices` of a job whose worker was lost."""


LANES = ("compute", "long")  # ChunkKind.lane

class LocalJobs(BaseJobs):
    """The embedded default: jobs run in this process, one chunk at a time, round robin over the
    active jobs (see `_next`), on a thread per lane (training has its own, and lends the right to
    compute to the other between its steps: compute/computing.py); results go to the
    file-system cache under $LANDSCAPE_HOME/cache. No Redis."""

    def __init__(self, store: Store | None = None, cache: ResultCache | None = None):
        super().__init__(store)
        self.cache = cache or file_cache()
        self.board = LocalBoard()
        # key -> [job_id, chunks, query_json, index of its next chunk], in turn order
        self.turns: OrderedDict[str, list] = OrderedDict()
        self.running = 0
        self.wakeup = threading.Condition()
        # A thread per lane, daemons (a CLI that exits does not wait for them). Training (one chunk
        # of tens of seconds) has its own lane, and lends the right to compute between its steps
        # (compute/computing.py): a line asked for meanwhile runs then, not after the whole run.
        for lane in LANES:
            threading.Thread(target=self._loop, args=(lane,), name=f"landscape-jobs-{lane}", daemon=True).start()

    def _enqueue(self, key: str, job_id: str, chunks: list, query_json: dict) -> None:
        with self.wakeup:
            self.turns[key] = [job_id, chunks, query_json, 0]  # a new attempt at a key replaces the old
            self.wakeup.notify_all()  # the lanes' threads wait on one condition

    def idle(self) -> bool:
        """No job queued or running."""
        with self.wakeup:
            return not self.turns and not self.running

    def _next(self, lane: str) -> tuple:
        """The next chunk of `lane` to run: that of the job with the fewest chunks run so far (the
        first in turn order among equals), which then goes to the back of the line. So jobs of
        equal age alternate chunk by chunk, and a new job runs its first chunks next, as the chunk
        priorities do on Celery."""
        with self.wakeup:
            while not (mine := [k for k, turn in self.turns.items() if kind_of(turn[2]["kind"]).lane == lane]):
                self.wakeup.wait()
            key = min(mine, key=lambda k: self.turns[k][3])  # min keeps the first of equals
            turn = self.turns[key]
            job_id, chunks, query_json, index = turn
            turn[3] += 1
            if turn[3] >= len(chunks):
                del self.turns[key]
            else:
                self.turns.move_to_end(key)
            self.running += 1
            return key, job_id, chunks[index], index, query_json

    def _loop(self, lane: str) -> None:
        while True:
            key, job_id, chunk, index, query_json = self._next(lane)
            try:
                outcome = run_chunk(self.board, self.cache, self.store, key, job_id, index, chunk, query_json)
            except Exception as exc:  # the cache folder is unwritable, say: the job says so
                log.exception("job %s failed", key)
                self.board.finish(key, job_id, FAILED, _message(exc))
                outcome = "failed"
            with self.wakeup:
                self.running -= 1
                if (outcome in ("failed", "cancelled") or not self.board.active(key, job_id)) and \
                        self.turns.get(key, [None])[0] == job_id:
                    del self.turns[key]


_managers: dict[tuple[str, str], BaseJobs] = {}
_managers_lock = threading.Lock()


def get_jobs(local: bool = False) -> BaseJobs:
    """This process's job manager: Celery workers and the Redis cache when REDIS_URL is set (and
    `local` is not asked for), else the embedded default (LocalJobs) for $LANDSCAPE_HOME."""
    url = None if local else redis_url()
    ident = ("redis", url) if url else ("local", str(landscape_home()))
    with _managers_lock:
        if ident not in _managers:
            if url is None:
                _managers[ident] = LocalJobs()
            else:
                from .celery_app import CeleryJobs

                _managers[ident] = CeleryJobs(url)
        return _managers[ident]


class JobFailed(BadInput):
    """A job that failed or was cancelled: its message is the failing chunk's."""


def run_job(query: Query, jobs: BaseJobs | None = None, progress: Progress | None = None,
            poll: float = 0.1) -> dict:
    """Submit `query` and wait for its result JSON; `progress(done, total)` counts chunks.
    The Python twin of what the CLI does. Raises JobFailed, or RedisUnavailable."""
    jobs = jobs or get_jobs()
    key = query.key()
    for _attempt in range(3):
        status = jobs.submit(query)
        while True:
            if progress is not None:
                progress(status.done, status.total)
            if status.finished:
                break
            time.sleep(poll)
            # no record: Redis restarted without its data; asking again starts the job again
            status = jobs.status(key) or jobs.submit(query)
        if status.state == FAILED:
            raise JobFailed(status.error or "the job failed")
        if status.state == CANCELLED:
            raise JobFailed("the job was cancelled")
        result = jobs.result(key)
        if result is not None:
            return result
    raise JobFailed(f"the result of {key} was computed but could not be read back from the cache")
