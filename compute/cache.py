"""The one result cache, through flask-caching's backends (usable without a Flask app): a
file-system cache under $LANDSCAPE_HOME/cache in the embedded default, Redis when REDIS_URL is
set (the same Redis the Celery workers write to and the dashboard reads).

Keys are query keys; values are results' JSON. Both backends are given cachelib's JSON
serializer instead of their default pickle: whoever can write to the cache (a shared Redis, a
shared folder) must not be able to make us unpickle something.

Redis connections are made here, for the cache and for the job layer alike:
`redis_client(url, patient=False)` fails fast (the web process and the CLI report an unreachable
Redis within seconds, as `RedisUnavailable`); `patient=True` (workers) rides out a restart of
Redis for about half a minute before giving up.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cachelib.serializers import JSONSerializer
from flask_caching.backends.filesystemcache import FileSystemCache
from flask_caching.backends.rediscache import RedisCache

from models.errors import BadInput
from .store import landscape_home

KEY_PREFIX = "landscape:result:"


class RedisUnavailable(BadInput):
    """Redis (the job queue and result cache) cannot be reached. The CLI exits 2 with this line;
    the dashboard shows it and keeps serving what needs no Redis."""

    def __init__(self, url: str, cause: BaseException | str):
        reason = str(cause).strip() or type(cause).__name__
        super().__init__(f"Redis at {redact(url)} is unreachable ({reason}); start it, or unset "
                         "REDIS_URL (CLI: pass --local) to compute in this process", field="REDIS_URL", status=503)


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)


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


class _JSON(JSONSerializer):
    """cachelib's JSON serializer, quiet on a miss (it logs a warning when given None)."""

    def loads(self, bvalue, *args, **kwargs):
        return None if bvalue is None else super().loads(bvalue, *args, **kwargs)


class _JSONFileSystemCache(FileSystemCache):
    serializer = _JSON()  # a class attribute: the constructor already writes its file count with it


class _JSONRedisCache(RedisCache):
    serializer = _JSON()


class ResultCache:
    def __init__(self, backend, url: str | None = None):
        self.backend = backend
        self.url = url  # set for Redis: errors then name it

    def _call(self, method: str, *args):
        try:
            return getattr(self.backend, method)(*args)
        except redis_errors() as exc:
            raise RedisUnavailable(self.url or "?", exc) from None

    def get(self, key: str) -> dict | None:
        return self._call("get", key)

    def set(self, key: str, result_json: dict) -> None:
        if not self._call("set", key, result_json, 0):
            raise OSError(f"the result cache refused to store {key}")

    def has(self, key: str) -> bool:
        return bool(self._call("has", key))

    def delete(self, key: str) -> None:
        self._call("delete", key)


def redis_url() -> str | None:
    return os.environ.get("REDIS_URL") or None


def redis_cache(url: str, patient: bool = False) -> ResultCache:
    backend = _JSONRedisCache(host=redis_client(url, patient), key_prefix=KEY_PREFIX, default_timeout=0)
    return ResultCache(backend, url)


def file_cache(directory: str | os.PathLike | None = None) -> ResultCache:
    directory = Path(directory) if directory is not None else landscape_home() / "cache"
    directory.mkdir(parents=True, exist_ok=True)
    backend = _JSONFileSystemCache(str(directory), threshold=100_000, default_timeout=0)
    return ResultCache(backend)


def make_cache() -> ResultCache:
    """Redis when REDIS_URL is set, else the file-system cache of the embedded default."""
    url = redis_url()
    return redis_cache(url) if url else file_cache()
