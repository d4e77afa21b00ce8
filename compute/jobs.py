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

## The chunk registry: one `ChunkKind` per query kind

    register(ChunkKind(
        kind="surface", query_type=SurfaceQuery, result_type=SurfaceResult,
        split=lambda q, points: index_ranges(q.rows, max(1, points // q.cols)),  # chunks of rows
        compute=lambda q, store, chunk, progress: compute_surface(q, store, progress, rows=range(*chunk)).to_json(),
        assemble=assemble_surface,   # (query, [part JSON in chunk order]) -> result JSON
        check=check_surface))        # (query, result JSON) -> None, raises ValueError
    register(single_chunk("control", ControlQuery, ControlResult, compute_control))  # no grid to split

`split(query, points_per_chunk)` returns JSON-able chunk specs (here [lo, hi) index ranges);
`points_per_chunk` is always CHUNK_POINTS (grid points), so a job's chunks depend on its query
alone: every path (embedded, Celery, `execute`) computes the same chunks and so the same values
(an evaluation can depend on which points share a call). A chunk spec and the query's JSON are
all a Celery task receives: never tensors. A module that registers kinds is
listed in KIND_MODULES and imported on first use (so it may import this module freely).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from .cache import RedisUnavailable, ResultCache, file_cache, redis_url
from models.errors import BadInput
from .evaluator import Progress
from .lines import compute_line
from .queries import LineQuery, Query, TrajectoryQuery
from .results import LineResult, TrajectoryResult
from .store import Store, landscape_home
from .trajectory import compute_trajectory

log = logging.getLogger(__name__)

PENDING, RUNNING, DONE, FAILED, CANCELLED = "pending", "running", "done", "failed", "cancelled"
ASSEMBLING = "assembling"  # all parts in, result being checked and cached (shown as running)
ACTIVE = (PENDING, RUNNING, ASSEMBLING)
FINISHED = (DONE, FAILED, CANCELLED)
# Grid points per chunk. Every chunk pays the evaluator's per-call set-up again (the first layer
# of its basis, a line path's plan), so small chunks waste time on small models; 32 keeps that
# small and still gives a 200-point line 7 chunks to share among workers.
CHUNK_POINTS = 32
JobsUnavailable = RedisUnavailable  # the job layer's name for "Redis cannot be reached"
# A submitter records a job, queues its chunks, then marks it queued: milliseconds. An active job
# still unmarked after this many seconds lost its submitter in between (a crash, a kill), and
# its chunks may never come: the next submit or status check starts it again.
ENQUEUE_GRACE = 30.0
# One chunk computes at a time per process. The evaluators in compute.resources are shared, and
# torch.func.functional_call swaps a module's parameters while it runs: two threads evaluating the
# same model at once get wrong costs (measured: off by 0.1-0.2 on the relu-mnist line). Threaded
# workers and a dashboard thread beside the local job thread would hit it; processes do not.
_compute_lock = threading.RLock()


class Cancelled(Exception):
    pass


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class ChunkKind:
    kind: str  # the query kind it handles (Query.kind)
    query_type: type  # has from_json(obj)
    result_type: type  # has from_json(obj)
    split: Callable[[Any, int], list]  # (query, points_per_chunk) -> chunk specs, JSON-able
    compute: Callable[[Any, Store, Any, Progress | None], dict]  # -> the chunk's part, as JSON
    assemble: Callable[[Any, list[dict]], dict]  # (query, parts in chunk order) -> result JSON
    check: Callable[[Any, dict], None]  # raises ValueError when the result is not what the query asked


KINDS: dict[str, ChunkKind] = {}
KIND_MODULES = ["compute.surfaces", "compute.controls"]  # modules that register their kinds
_imported = False
_import_lock = threading.Lock()


def register(kind: ChunkKind) -> ChunkKind:
    KINDS[kind.kind] = kind
    return kind


def kind_of(query_kind: str) -> ChunkKind:
    global _imported
    with _import_lock:  # the first lookups may come from several request threads at once
        if query_kind not in KINDS and not _imported:
            import importlib

            for name in KIND_MODULES:
                try:
                    importlib.import_module(name)
                except ModuleNotFoundError as exc:
                    if exc.name != name:  # a registering module that is there but broken must say so
                        raise
            _imported = True
    if query_kind not in KINDS:
        raise TypeError(f"no job kind registered for {query_kind!r}")
    return KINDS[query_kind]


def index_ranges(n: int, per_chunk: int, minimum: int = 3) -> list[list[int]]:
    """[lo, hi) ranges covering range(n) in nearly equal chunks of about `per_chunk`. Chunks keep
    at least `minimum` points where n allows: the evaluator's fast paths (first-layer reuse, the
    line path) need a call to hold more points than basis vectors."""
    per_chunk = max(int(per_chunk), minimum, 1)
    count = max(1, min(math.ceil(n / per_chunk), n // minimum if n >= minimum else 1))
    bounds = np.linspace(0, n, count + 1).round().astype(int)
    return [[int(lo), int(hi)] for lo, hi in zip(bounds[:-1], bounds[1:])]


def single_chunk(kind: str, query_type: type, result_type: type, compute: Callable[[Any, Store], Any],
                 check: Callable[[Any, dict], None] | None = None) -> ChunkKind:
    """A kind with nothing to split: one chunk computes the whole result with `compute(query, store)`."""
    def check_all(query, result: dict) -> None:
        if result.get("key") != query.key() or result.get("query") != query.to_json():
            raise ValueError("the result does not carry its query")
        if check is not None:
            check(query, result)

    return ChunkKind(kind, query_type, result_type, split=lambda q, n: [[0, 1]],
                     compute=lambda q, store, chunk, progress: compute(q, store).to_json(),
                     assemble=lambda q, parts: parts[0], check=check_all)


def _finite_or_null(values: list, what: str) -> int:
    """Checks every value is a finite float or null (non-finite, written as null); counts the nulls."""
    nulls = 0
    for v in values:
        if v is None:
            nulls += 1
        elif not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{what} holds {v!r}: neither a finite number nor null")
    return nulls


def _split_line(query: LineQuery, points: int) -> list[list[int]]:
    return index_ranges(query.points, points)


def _compute_line(query: LineQuery, store: Store, chunk: list[int], progress: Progress | None) -> dict:
    lo, hi = chunk
    return compute_line(query, store, progress, alphas=query.alphas()[lo:hi]).to_json()


def _assemble_line(query: LineQuery, parts: list[dict]) -> dict:
    first = parts[0]
    joined = lambda field, s: [v for p in parts for v in p[field][s]]  # noqa: E731
    precision = [p["meta"]["precision_error"] for p in parts if p["meta"].get("precision_error") is not None]
    meta = dict(first["meta"], seconds=round(sum(p["meta"]["seconds"] for p in parts), 4), chunks=len(parts),
                precision_error=max(precision) if precision else None)
    result = {"alpha": [a for p in parts for a in p["alpha"]],
              "cost": {s: joined("cost", s) for s in first["cost"]},
              "error": {s: (joined("error", s) if first["error"][s] is not None else None) for s in first["error"]},
              # the objective's further costs (clean / classification / perplexity), joined alike
              "extra": {k: {s: [v for p in parts for v in p["extra"][k][s]] for s in by_split}
                        for k, by_split in first.get("extra", {}).items()},
              "query": first["query"], "key": first["key"], "meta": meta}
    meta["nonfinite"] = {s: sum(v is None for v in c) for s, c in result["cost"].items()}  # NaN/inf marked
    return result


def _check_line(query: LineQuery, result: dict) -> None:
    if result.get("key") != query.key() or result.get("query") != query.to_json():
        raise ValueError("the result does not carry its query")
    alpha, n = result["alpha"], query.points
    if len(alpha) != n or _finite_or_null(alpha, "alpha") or not np.allclose(alpha, query.alphas(), rtol=0, atol=1e-12):
        raise ValueError(f"alpha is not the query's grid of {n} points")
    if list(result["cost"]) != list(query.splits):
        raise ValueError(f"costs for {list(result['cost'])}, asked for {list(query.splits)}")
    for s in query.splits:
        for field in ("cost", "error"):
            values = result[field].get(s)
            if values is None and field == "error":
                continue
            if len(values) != n:
                raise ValueError(f"{field} of {s} has {len(values)} values for {n} points")
            _finite_or_null(values, f"{field} of {s}")


def _check_trajectory(query: TrajectoryQuery, result: dict) -> None:
    n = len(result["step"])
    series = {k: result[k] for k in ("epoch", "alpha", "alpha_distance", "beta", "theta_norm", "residual_ratio")}
    series.update({f"cost of {s}": v for s, v in result["cost"].items()})
    for name, values in series.items():
        if len(values) != n:
            raise ValueError(f"{name} has {len(values)} values for {n} steps")
        _finite_or_null(values, name)


register(ChunkKind("line", LineQuery, LineResult, _split_line, _compute_line, _assemble_line, _check_line))
register(single_chunk("trajectory", TrajectoryQuery, TrajectoryResult, compute_trajectory, _check_trajectory))


def execute(query: Query, store: Store, progress: Progress | None = None):
    """The result object of `query`, computed here, chunk by chunk as a job would (so the values are
    those of every other path); `progress(done, total)` counts chunks and may raise to stop."""
    if not isinstance(query, Query):
        raise TypeError(f"no executor for {type(query).__name__}")
    kind = kind_of(query.kind)
    chunks = kind.split(query, CHUNK_POINTS)
    parts = []
    for i, chunk in enumerate(chunks):
        with _compute_lock:
            parts.append(kind.compute(query, store, chunk, None))
        if progress is not None:
            progress(i + 1, len(chunks))
    result = kind.assemble(query, parts)
    kind.check(query, result)
    return kind.result_type.from_json(result)


# --------------------------------------------------------------------------- job records
@dataclass
class JobStatus:
    key: str
    state: str
    done: int = 0  # chunks done
    total: int = 0  # chunks in the job
    error: str | None = None
    job_id: str | None = None  # one id per attempt at the key (a new one after a failure or cancel)
    stale: bool = False  # active, but its submitter died before queuing all its chunks

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "stale"}

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


def public_state(state: str) -> str:
    return RUNNING if state == ASSEMBLING else state


def stale_job(state: str, queued: bool, created: float) -> bool:
    """Active, never marked queued, and too old for its submitter to be still queuing it."""
    return state in (PENDING, RUNNING) and not queued and time.time() - created > ENQUEUE_GRACE


class LocalBoard:
    """Job records in this process's memory, with the semantics of RedisBoard's scripts."""

    def __init__(self):
        self.jobs: dict[str, dict] = {}
        self.lock = threading.Lock()

    def create(self, key: str, kind: str, query_json: dict, chunks: list, job_id: str,
               force: bool = False) -> tuple[bool, str]:
        """A new job unless one is active (or done, unless `force`): (created, the job's id)."""
        with self.lock:
            job = self.jobs.get(key)
            if job is not None and not stale_job(job["state"], job["queued"], job["created"]) and (
                    job["state"] in ACTIVE or (job["state"] == DONE and not force)):
                return False, job["job_id"]
            self.jobs[key] = dict(job_id=job_id, kind=kind, query=query_json, chunks=chunks, total=len(chunks),
                                  state=PENDING, error=None, parts={}, runs={}, owners={}, skipped=0,
                                  queued=False, created=time.time())
            return True, job_id

    def mark_queued(self, key: str, job_id: str) -> None:
        """Every chunk of the job is queued (see ENQUEUE_GRACE)."""
        with self.lock:
            job = self.jobs.get(key)
            if job is not None and job["job_id"] == job_id:
                job["queued"] = True

    def query(self, key: str) -> dict | None:
        with self.lock:
            job = self.jobs.get(key)
            return job["query"] if job else None

    def claim(self, key: str, job_id: str, index: int, owner: str = "local") -> str:
        """'go' (compute it), 'assemble' (all parts in: redo the assembly) or 'skip'."""
        with self.lock:
            job = self.jobs.get(key)
            if job is None or job["job_id"] != job_id:
                return "skip"
            if job["state"] == ASSEMBLING:
                return "assemble"
            if job["state"] not in ACTIVE or index in job["parts"]:
                job["skipped"] += job["state"] == CANCELLED
                return "skip"
            job["runs"][index] = job["runs"].get(index, 0) + 1
            job["owners"][index] = owner
            job["state"] = RUNNING
            return "go"

    def active(self, key: str, job_id: str) -> bool:
        with self.lock:
            job = self.jobs.get(key)
            return job is not None and job["job_id"] == job_id and job["state"] in ACTIVE

    def store(self, key: str, job_id: str, index: int, part: dict) -> str:
        """'assemble' when this part completes the set, else 'stored' or the job's final state."""
        with self.lock:
            job = self.jobs.get(key)
            if job is None or job["job_id"] != job_id:
                return "skip"
            if job["state"] not in (PENDING, RUNNING):
                return job["state"]
            job["parts"][index] = part
            if len(job["parts"]) == job["total"]:
                job["state"] = ASSEMBLING
                return "assemble"
            return "stored"

    def parts(self, key: str, job_id: str) -> list[dict] | None:
        with self.lock:
            job = self.jobs.get(key)
            if job is None or job["job_id"] != job_id or len(job["parts"]) != job["total"]:
                return None
            return [job["parts"][i] for i in range(job["total"])]

    def finish(self, key: str, job_id: str, state: str, error: str | None = None) -> bool:
        with self.lock:
            job = self.jobs.get(key)
            if job is None or job["job_id"] != job_id or job["state"] not in ACTIVE:
                return False
            job.update(state=state, error=error, parts={})  # parts are not kept once the job is over
            return True

    def cancel(self, key: str) -> bool:
        with self.lock:
            job = self.jobs.get(key)
            if job is None or job["state"] not in (PENDING, RUNNING):
                return False
            job.update(state=CANCELLED, parts={})
            return True

    def status(self, key: str) -> JobStatus | None:
        with self.lock:
            job = self.jobs.get(key)
            if job is None:
                return None
            done = job["total"] if job["state"] == DONE else len(job["parts"])
            return JobStatus(key, public_state(job["state"]), done, job["total"], job["error"], job["job_id"],
                             stale_job(job["state"], job["queued"], job["created"]))

    def runs(self, key: str) -> dict[int, int]:
        """How many times each chunk was started (more than once only after a worker was lost)."""
        with self.lock:
            job = self.jobs.get(key)
            return dict(job["runs"]) if job else {}

    def skipped(self, key: str) -> int:
        with self.lock:
            job = self.jobs.get(key)
            return job["skipped"] if job else 0


# --------------------------------------------------------------------------- running a chunk
class _Watch:
    """The progress callback of a chunk: raises Cancelled once the job is no longer active. The
    board is asked at most every `every` seconds (a Redis round trip per point would dominate
    small models); an unreachable board does not stop a computation."""

    def __init__(self, board, key: str, job_id: str, every: float = 0.5):
        self.board, self.key, self.job_id, self.every = board, key, job_id, every
        self.last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        try:
            active = self.board.active(self.key, self.job_id)
        except RedisUnavailable:
            return
        if not active:
            raise Cancelled()


def _message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, BadInput) else f"{type(exc).__name__}: {exc}"


def run_chunk(board, cache: ResultCache, store: Store, key: str, job_id: str, index: int, chunk,
              query_json: dict, owner: str = "local") -> str:
    """Compute chunk `index` of job `job_id` and, if it is the last, assemble, check and cache the
    result. Idempotent. Returns what happened: 'done', 'skip', 'cancelled' or 'failed'.
    RedisUnavailable propagates (the chunk is to be retried, the job is not failed)."""
    verdict = board.claim(key, job_id, index, owner)
    if verdict == "skip":
        return "skip"
    kind = kind_of(query_json["kind"])
    try:
        query = kind.query_type.from_json(query_json)
        if verdict == "go":
            with _compute_lock:
                part = kind.compute(query, store, chunk, _Watch(board, key, job_id))
            verdict = board.store(key, job_id, index, part)
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

    def submit(self, query: Query) -> JobStatus:
        key = query.key()
        if self.cache.has(key):
            return self._done(key)
        kind = kind_of(query.kind)
        chunks = kind.split(query, CHUNK_POINTS)
        query_json = query.to_json()
        created, job_id = self.board.create(key, kind.kind, query_json, chunks, uuid.uuid4().hex[:16])
        if not created:
            status = self.board.status(key)
            if status is None or status.state != DONE or self.cache.has(key):
                return status or self._done(key)
            # done, but the cache lost the result (evicted, flushed): compute it again
            created, job_id = self.board.create(key, kind.kind, query_json, chunks, uuid.uuid4().hex[:16], force=True)
        if created:
            self._enqueue(key, job_id, chunks, query_json)
            self.board.mark_queued(key, job_id)
        return self.board.status(key)

    def status(self, key: str) -> JobStatus | None:
        status = self.board.status(key)
        if status is None and self.cache.has(key):
            return self._done(key)
        if status is not None and status.stale:  # its chunks may never come: start it again
            query_json = self.board.query(key)
            if query_json is not None:
                return self.submit(kind_of(query_json["kind"]).query_type.from_json(query_json))
        return status

    def result(self, key: str) -> dict | None:
        return self.cache.get(key)

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


class LocalJobs(BaseJobs):
    """The embedded default: jobs run in this process, chunk by chunk, on one background thread;
    results go to the file-system cache under $LANDSCAPE_HOME/cache. No Redis."""

    def __init__(self, store: Store | None = None, cache: ResultCache | None = None):
        super().__init__(store)
        self.cache = cache or file_cache()
        self.board = LocalBoard()
        self.queue: queue.Queue = queue.Queue()
        # a daemon thread: a CLI that exits (or is interrupted) does not wait for it
        threading.Thread(target=self._loop, name="landscape-jobs", daemon=True).start()

    def _enqueue(self, key: str, job_id: str, chunks: list, query_json: dict) -> None:
        self.queue.put((key, job_id, chunks, query_json))

    def idle(self) -> bool:
        """No job queued or running."""
        return self.queue.unfinished_tasks == 0

    def _loop(self) -> None:
        while True:
            key, job_id, chunks, query_json = self.queue.get()
            for index, chunk in enumerate(chunks):
                try:
                    outcome = run_chunk(self.board, self.cache, self.store, key, job_id, index, chunk, query_json)
                except Exception as exc:  # the cache folder is unwritable, say: the job says so
                    log.exception("job %s failed", key)
                    self.board.finish(key, job_id, FAILED, _message(exc))
                    outcome = "failed"
                if outcome in ("failed", "cancelled") or not self.board.active(key, job_id):
                    break
            self.queue.task_done()


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
