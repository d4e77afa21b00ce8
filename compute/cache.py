"""The result cache, through flask-caching's backends (usable without a Flask app):
a file-system cache under $LANDSCAPE_HOME/cache in the embedded default, Redis when REDIS_URL is
set. Keys are query keys; values are results' JSON text (plain data, nothing to unpickle that
we did not write).
"""

from __future__ import annotations

import json
import os

from flask_caching.backends.filesystemcache import FileSystemCache
from flask_caching.backends.rediscache import RedisCache

from .store import landscape_home

KEY_PREFIX = "landscape:result:"


class ResultCache:
    def __init__(self, backend):
        self.backend = backend

    def get(self, key: str) -> dict | None:
        text = self.backend.get(key)
        return json.loads(text) if text is not None else None

    def set(self, key: str, result_json: dict) -> None:
        self.backend.set(key, json.dumps(result_json), timeout=0)

    def has(self, key: str) -> bool:
        return bool(self.backend.has(key))

    def delete(self, key: str) -> None:
        self.backend.delete(key)


def redis_url() -> str | None:
    return os.environ.get("REDIS_URL") or None


def make_cache() -> ResultCache:
    url = redis_url()
    if url:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10)
        return ResultCache(RedisCache(host=client, key_prefix=KEY_PREFIX, default_timeout=0))
    directory = landscape_home() / "cache"
    directory.mkdir(parents=True, exist_ok=True)
    return ResultCache(FileSystemCache(str(directory), threshold=100_000, default_timeout=0))
