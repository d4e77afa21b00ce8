"""Which job manager this process uses, and `run_job`, the Python twin of what the CLI does.

    jobs = get_jobs()             # CeleryJobs when REDIS_URL is set, else LocalJobs
    jobs = get_jobs(local=True)   # LocalJobs whatever REDIS_URL says (the CLI's --local)
    result = run_job(query)       # submit, wait, the result's JSON
"""

from __future__ import annotations

import threading
import time

from ..evaluator import Progress
from ..job_status import CANCELLED, FAILED
from ..queries import Query
from ..service_errors import JobFailed
from ..store import landscape_home
from .base import BaseJobs
from .cache import backend_url
from .local import LocalJobs

_managers: dict[tuple[str, str], BaseJobs] = {}
_managers_lock = threading.Lock()


def get_jobs(local: bool = False) -> BaseJobs:
    """This process's job manager for the backend `backend_url(local)` names: Celery workers and the
    Redis cache when REDIS_URL is set (and `local` is not asked for), else the embedded default
    (LocalJobs) for $LANDSCAPE_HOME."""
    url = backend_url(local)
    ident = ("redis", url) if url else ("local", str(landscape_home()))
    with _managers_lock:
        if ident not in _managers:
            if url is None:
                _managers[ident] = LocalJobs()
            else:
                from .celery_app import CeleryJobs  # here: the embedded default never loads Celery

                _managers[ident] = CeleryJobs(url)
        return _managers[ident]


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
