"""Where a chunk keeps what it saves beside its result (an adaptive line's points): the cache of
the job it belongs to, so that they go where its result goes (a worker's Redis; the files of the
embedded default under --local, even with REDIS_URL set).

Below both the job layer and the kinds, as compute/job_status.py is: the job layer
(compute/jobs/base.py `run_chunk`, `execute`) says which cache a chunk computes in, a kind
(compute/kinds/line_points.py) asks for it, and neither imports the other for it.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Callable, Iterator, Protocol


class KeptCache(Protocol):
    """What a kind uses of the job's result cache (compute/jobs/cache.py `ResultCache`)."""

    def read(self, key: str, check: Callable[[str, dict], None] | None = None) -> dict | None: ...

    def set(self, key: str, result_json: dict) -> None: ...


_job_cache: ContextVar[KeptCache | None] = ContextVar("landscape_job_cache", default=None)


@contextlib.contextmanager
def job_cache(cache: KeptCache) -> Iterator[None]:
    """While a job's chunk computes in this context: `current_cache()` is that job's cache."""
    token = _job_cache.set(cache)
    try:
        yield
    finally:
        _job_cache.reset(token)


def current_cache() -> KeptCache | None:
    """The cache of the job computing here; None outside one (nothing is kept then: keeping is a
    saving, not a need)."""
    return _job_cache.get()
