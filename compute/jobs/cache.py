"""The one result cache: a folder of JSON files under $LANDSCAPE_HOME/cache in the embedded
default, Redis when REDIS_URL is set (the same Redis the Celery workers write to and the
dashboard reads).

Keys are query keys (`line-<40 hex digits>`: safe as file names, and checked to be so before one
is used as a path); values are results' JSON, never pickles: whoever can write to the cache (a
shared Redis, a shared folder) must not be able to make us unpickle something. Entries do not
expire (a key names its query and the engine version, so a result never goes out of date).
The backends are written here against redis-py and the file system, so that a worker loads
neither Flask nor Dash.

A damaged entry (a file cut short, a Redis value that is not a result's JSON object, one that
does not check) is a miss, never an error: `ResultCache.read` returns None for it and logs one
warning line per key (`damaged`), and the job layer computes the result again, whose `set`
replaces the entry atomically (compute/jobs/base.py).

Which backend a process uses is chosen here, once: `backend_url(local)`. A chunk's own cache
lookups (an adaptive line's points) use its job's cache (compute/job_context.py `current_cache`),
so --local is local for them too.

Redis connections are made here, for the cache and for the job layer alike:
`redis_client(url, patient=False)` fails fast (the web process and the CLI report an unreachable
Redis within seconds, as `RedisUnavailable`); `patient=True` (workers) rides out a restart of
Redis for about half a minute before giving up.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import uuid
from pathlib import Path
from typing import Callable

from models.errors import BadInput
from ..results import dumps  # the one JSON writer: non-finite numbers as null
from ..service_errors import RedisUnavailable
from ..settings import redis_url
from ..store import landscape_home

log = logging.getLogger(__name__)

KEY_PREFIX = "landscape:result:"
_KEY = re.compile(r"[a-z][a-z0-9-]*-[0-9a-f]{40}")  # Query.key(): the kind, a hex digest


class DamagedEntry(ValueError):
    """An entry that is there but cannot be read as a result's JSON object."""


def _decoded(raw: bytes) -> dict:
    try:
        value = json.loads(raw)
    except ValueError as exc:  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
        raise DamagedEntry(f"not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise DamagedEntry(f"a JSON {type(value).__name__}, not an object")
    return value


def redis_errors() -> tuple[type[BaseException], ...]:
    import redis

    return (redis.ConnectionError, redis.TimeoutError)


def redis_client(url: str, patient: bool = False):
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    if patient:  # a worker: wait for Redis to come back (about 30 s) rather than drop a chunk
        retry = Retry(ExponentialBackoff(cap=4.0, base=0.25), retries=12)
        timeouts = dict(socket_connect_timeout=5, socket_timeout=30)
    else:  # the web process and the CLI: say so at once
        retry = Retry(ExponentialBackoff(cap=0.5, base=0.1), retries=1)
        timeouts = dict(socket_connect_timeout=2, socket_timeout=10)
    return redis.Redis.from_url(url, retry=retry, retry_on_error=[redis.ConnectionError, redis.TimeoutError],
                                health_check_interval=30, **timeouts)


class FileBackend:
    """One JSON file per key, written to a temporary name and renamed into place: a reader sees
    the whole result or none. A key that is not a query key is never present (and never written)."""

    def __init__(self, directory: Path):
        self.directory = directory

    def _path(self, key: str) -> Path | None:
        return self.directory / f"{key}.json" if _KEY.fullmatch(key) else None

    def get(self, key: str) -> dict | None:
        """The entry, None when absent; DamagedEntry when it is there but unreadable."""
        path = self._path(key)
        if path is None:
            return None
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:  # a folder in its place, unreadable permissions
            raise DamagedEntry(f"unreadable ({exc.strerror or exc})") from None
        return _decoded(raw)

    def set(self, key: str, value: dict) -> None:
        path = self._path(key)
        if path is None:
            raise ValueError(f"{key!r} is not a query key")
        tmp = self.directory / f".{key}.{uuid.uuid4().hex}.tmp"
        try:
            tmp.write_text(dumps(value))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def has(self, key: str) -> bool:
        path = self._path(key)
        return path is not None and path.is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        if path is not None:
            path.unlink(missing_ok=True)


class RedisBackend:
    """One Redis string per key, `landscape:result:KEY`, holding the result's JSON."""

    def __init__(self, client):
        self.client = client

    def get(self, key: str) -> dict | None:
        raw = self.client.get(KEY_PREFIX + key)
        if raw is None:
            return None
        # entries written through flask-caching before carry its one-byte "!" marker
        return _decoded(raw[1:] if raw.startswith(b"!") else raw)

    def set(self, key: str, value: dict) -> None:
        self.client.set(KEY_PREFIX + key, dumps(value))

    def has(self, key: str) -> bool:
        return bool(self.client.exists(KEY_PREFIX + key))

    def delete(self, key: str) -> None:
        self.client.delete(KEY_PREFIX + key)


class ResultCache:
    def __init__(self, backend: FileBackend | RedisBackend, url: str | None = None):
        self.backend = backend
        self.url = url  # set for Redis: errors then name it

    def _call(self, method: str, *args):
        try:
            return getattr(self.backend, method)(*args)
        except redis_errors() as exc:
            raise RedisUnavailable(self.url or "?", exc) from None

    def get(self, key: str) -> dict | None:
        """The entry's JSON object; None when absent or damaged (logged once: `damaged`)."""
        return self.read(key)

    def read(self, key: str, check: Callable[[str, dict], None] | None = None) -> dict | None:
        """The entry, None when it is absent, unreadable, or `check(key, value)` raises (a
        ValueError, KeyError, TypeError or BadInput: the entry does not hold what its key names).
        A damaged entry is logged once and left in place until the recomputed result replaces it
        (deleting it could remove a good one another process has just written)."""
        try:
            value = self._call("get", key)
            if value is not None and check is not None:
                check(key, value)
        except (ValueError, KeyError, TypeError, BadInput) as exc:  # RedisUnavailable is none of them
            self.damaged(key, exc)
            return None
        return value

    def damaged(self, key: str, reason: BaseException | str) -> None:
        """Log once per key (until it is written again) that its entry is damaged: a miss."""
        with _warned_lock:
            if key in _warned:
                return
            _warned.add(key)
        text = str(reason).strip() or type(reason).__name__
        log.warning("cache entry %s is damaged (%s): treated as a miss, computed again", key, text[:200])

    def set(self, key: str, result_json: dict) -> None:
        self._call("set", key, result_json)
        with _warned_lock:
            _warned.discard(key)  # a later damage of the new entry is news again

    def has(self, key: str) -> bool:
        """Something is stored under the key (cheap; it may still be damaged: `read` says)."""
        return bool(self._call("has", key))

    def delete(self, key: str) -> None:
        self._call("delete", key)


_warned: set[str] = set()  # keys whose damage this process has logged
_warned_lock = threading.Lock()


def redis_cache(url: str, patient: bool = False) -> ResultCache:
    return ResultCache(RedisBackend(redis_client(url, patient)), url)


def file_cache(directory: str | os.PathLike | None = None) -> ResultCache:
    directory = Path(directory) if directory is not None else landscape_home() / "cache"
    directory.mkdir(parents=True, exist_ok=True)
    return ResultCache(FileBackend(directory))


def backend_url(local: bool = False) -> str | None:
    """The one choice of backend: the Redis of REDIS_URL (Celery workers; the job board and the
    result cache in Redis), or None for the embedded default (jobs in this process, results under
    $LANDSCAPE_HOME/cache). `local` (the CLI's --local) is the embedded default whatever REDIS_URL
    says. `get_jobs` (compute/jobs/backend.py) and every cache lookup outside a job go by it."""
    return None if local else redis_url()


_default_caches: dict[tuple, ResultCache] = {}


def default_cache() -> ResultCache:
    """The default backend's cache, one per process, backend and home: what a query computed
    outside a job (`execute`) keeps its by-products in (compute/job_context.py)."""
    url = backend_url()
    ident = (os.getpid(), url, str(landscape_home()))
    if ident not in _default_caches:
        _default_caches[ident] = redis_cache(url) if url else file_cache()
    return _default_caches[ident]
