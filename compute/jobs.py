"""The one place that runs jobs: a query in, its result out, once per query key.

`execute` computes a query in this process. A job manager runs `execute` for queries
asynchronously, shares one job among everyone who asks for the same key, reports progress,
cancels, and writes the finished result to the result cache under the query key:

    jobs = get_jobs()                 # local (embedded default) or Celery when REDIS_URL is set
    status = jobs.submit(query)       # returns at once; idempotent per query.key()
    status = jobs.status(query.key()) # state, done/total, error
    result = jobs.result(query.key()) # the result's JSON from the cache, or None
    jobs.cancel(query.key())
"""

from __future__ import annotations

import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from .cache import ResultCache, make_cache
from .errors import BadInput
from .evaluator import Progress
from .lines import compute_line
from .queries import LineQuery, Query, TrajectoryQuery
from .store import Store
from .trajectory import compute_trajectory

PENDING, RUNNING, DONE, FAILED, CANCELLED = "pending", "running", "done", "failed", "cancelled"


def execute(query: Query, store: Store, progress: Progress | None = None):
    if isinstance(query, LineQuery):
        return compute_line(query, store, progress)
    if isinstance(query, TrajectoryQuery):
        return compute_trajectory(query, store)
    raise TypeError(f"no executor for {type(query).__name__}")


class Cancelled(Exception):
    pass


@dataclass
class JobStatus:
    key: str
    state: str
    done: int = 0
    total: int = 0
    error: str | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def finished(self) -> bool:
        return self.state in (DONE, FAILED, CANCELLED)


class LocalJobs:
    """Jobs in this process on one background thread (the embedded default)."""

    def __init__(self, store: Store | None = None, cache: ResultCache | None = None):
        self.store = store or Store()
        self.cache = cache or make_cache()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="landscape-job")
        self.jobs: dict[str, JobStatus] = {}
        self.cancelled: set[str] = set()
        self.lock = threading.Lock()

    def submit(self, query: Query) -> JobStatus:
        key = query.key()
        with self.lock:
            job = self.jobs.get(key)
            if job is not None and not job.finished:
                return job
            if self.cache.has(key):
                return JobStatus(key, DONE, 1, 1)
            job = self.jobs[key] = JobStatus(key, PENDING)
            self.cancelled.discard(key)
        self.pool.submit(self._run, query, job)
        return job

    def status(self, key: str) -> JobStatus | None:
        with self.lock:
            job = self.jobs.get(key)
        if job is None and self.cache.has(key):
            return JobStatus(key, DONE, 1, 1)
        return job

    def result(self, key: str) -> dict | None:
        return self.cache.get(key)

    def cancel(self, key: str) -> None:
        with self.lock:
            self.cancelled.add(key)
            job = self.jobs.get(key)
            if job is not None and job.state == PENDING:
                job.state = CANCELLED

    def _run(self, query: Query, job: JobStatus) -> None:
        key = job.key
        if job.state == CANCELLED:
            return

        def progress(done: int, total: int) -> None:
            if key in self.cancelled:
                raise Cancelled()
            job.done, job.total = done, total

        job.state = RUNNING
        try:
            result = execute(query, self.store, progress)
            self.cache.set(key, result.to_json())
            job.state = DONE
        except Cancelled:
            job.state = CANCELLED
        except BadInput as exc:
            job.state, job.error = FAILED, str(exc)
        except Exception as exc:  # a job's failure is shown, never a traceback in the page
            traceback.print_exc()
            job.state, job.error = FAILED, f"{type(exc).__name__}: {exc}"


_jobs = None


def get_jobs():
    """The process's job manager: local threads by default (Celery when REDIS_URL is set,
    once the distributed layer is in)."""
    global _jobs
    if _jobs is None:
        _jobs = LocalJobs()
    return _jobs
