"""The result cache's two backends: JSON in, the same JSON out, under the query key; nothing else
is ever read or written (no pickle, no path outside the cache folder)."""

from __future__ import annotations

import json

import pytest

from compute.jobs.cache import KEY_PREFIX, file_cache, redis_client, redis_cache
from compute.service_errors import RedisUnavailable, ServiceError
from models.errors import BadInput

KEY = "line-" + "0123456789abcdef" * 2 + "01234567"
RESULT = {"alpha": [0.0, 0.5, 1.0], "cost": {"train": [1.5, None, 0.25]}, "key": KEY}


def _round_trip(cache) -> None:
    assert cache.get(KEY) is None and not cache.has(KEY)
    cache.set(KEY, RESULT)
    assert cache.has(KEY) and cache.get(KEY) == RESULT
    cache.delete(KEY)
    assert cache.get(KEY) is None and not cache.has(KEY)


def test_the_file_cache_keeps_json_files_named_by_their_key(tmp_path):
    cache = file_cache(tmp_path)
    _round_trip(cache)
    cache.set(KEY, RESULT)
    assert [p.name for p in tmp_path.iterdir()] == [f"{KEY}.json"]  # written whole, no temporary left
    assert json.loads((tmp_path / f"{KEY}.json").read_text()) == RESULT
    (tmp_path / f"{KEY}.json").write_bytes(b"\x80\x04not json")  # written by someone else: a miss
    assert cache.get(KEY) is None


@pytest.mark.parametrize("key", ["../line-" + "0" * 40, "line-" + "0" * 40 + "/x", "", "line-xyz", "a" * 60])
def test_the_file_cache_uses_only_query_keys_as_file_names(tmp_path, key):
    cache = file_cache(tmp_path / "cache")
    assert cache.get(key) is None and not cache.has(key)
    cache.delete(key)
    with pytest.raises(ValueError):
        cache.set(key, RESULT)
    assert list((tmp_path / "cache").iterdir()) == []


def test_the_redis_cache_keeps_json_under_its_prefix(redis_url):
    cache = redis_cache(redis_url)
    _round_trip(cache)
    cache.set(KEY, RESULT)
    client = redis_client(redis_url)
    assert json.loads(client.get(KEY_PREFIX + KEY)) == RESULT
    client.set(KEY_PREFIX + KEY, b"!" + json.dumps(RESULT).encode())  # as flask-caching wrote it
    assert cache.get(KEY) == RESULT


def test_an_unreachable_redis_cache_says_so():
    cache = redis_cache("redis://127.0.0.1:1/0")
    with pytest.raises(RedisUnavailable, match="Redis at redis://127.0.0.1:1/0 is unreachable") as refused:
        cache.has(KEY)
    # a failure of the service, not bad input: its own status, and no `except BadInput` takes it for one
    assert not isinstance(refused.value, BadInput) and isinstance(refused.value, ServiceError)
    assert (refused.value.status, refused.value.field) == (503, "REDIS_URL")
    assert str(refused.value).startswith("REDIS_URL: Redis at redis://127.0.0.1:1/0 is unreachable")
