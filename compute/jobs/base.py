"""What every job manager shares: `run_chunk` (one chunk, claimed, computed, stored, and the last
one assembled, checked and cached), `BaseJobs` (submit, status, result, cancel over a board and a
cache) and `execute` (a query computed here, chunk by chunk, with no board or cache). The
package's docstring (compute/jobs/__init__.py) tells how a job runs.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from models.errors import BadInput
from .. import budget
from ..computing import computing
from ..evaluator import Progress
from ..job_context import job_cache
from ..job_status import ACTIVE, DONE, FAILED, LEASE_S, JobStatus
from ..kinds import estimate, kind_of
from ..queries import Query
from ..service_errors import RedisUnavailable, ServiceError
from ..settings import int_setting
from ..store import Store
from .cache import ResultCache, default_cache

log = logging.getLogger(__name__)

# Grid points per chunk. Every chunk pays the evaluator's per-call set-up again (the first layer
# of its basis, a line path's plan), so small chunks waste time on small models; 32 keeps that
# small and still gives a 200-point line 7 chunks to share among workers.
CHUNK_POINTS = 32
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
    cache = default_cache()  # what a chunk keeps beside its result (an adaptive line's points) goes there
    parts = []
    for i, chunk in enumerate(chunks):
        with computing(), job_cache(cache):
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


def failure_message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, (BadInput, ServiceError)) else f"{type(exc).__name__}: {exc}"


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
            with computing(), _Lease(board, key, job_id, index), job_cache(cache):
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
        if not isinstance(exc, (BadInput, ServiceError)):
            log.exception("chunk %s of %s failed", index, key)
        board.finish(key, job_id, FAILED, failure_message(exc))
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
