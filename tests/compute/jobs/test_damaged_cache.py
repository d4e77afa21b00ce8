"""A damaged cache entry is a miss (issue 18 §3): an entry cut short, not JSON, of another schema or
of another query is computed again and replaced, through the real API (Flask's test client), the
CLI (`--local`), Celery workers on the tests' own Redis, and the adaptive lines' points cache;
the damage is logged once per key and never reported as a failed job or a done one without a
result."""

from __future__ import annotations

import json
import logging

import pytest

from compute.jobs.cache import KEY_PREFIX, default_cache, file_cache, redis_client
from compute.jobs.backend import run_job
from compute.kinds.line import LineQuery
from compute.kinds import resolve
from compute.store import landscape_home


def _truncate(raw: bytes, _other: bytes) -> bytes:
    return raw[: len(raw) // 2]


def _garble(raw: bytes, _other: bytes) -> bytes:
    return b"\x80\x04" + raw[2:]  # not UTF-8, not JSON: a pickle's first bytes


def _other_schema(_raw: bytes, _other: bytes) -> bytes:
    return json.dumps({"alpha": [0.0, 1.0], "cost": {"train": [1.0]}}).encode()  # JSON, not this result


def _other_query(_raw: bytes, other: bytes) -> bytes:
    return other  # a whole, valid result, of another query


DAMAGES = [_truncate, _garble, _other_schema, _other_query]


def _damage_warnings(caplog, key: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and key in r.getMessage()
            and "damaged" in r.getMessage()]


@pytest.fixture
def evaluations(monkeypatch):
    """Counts calls of Evaluator.evaluate, the one place any cost is computed."""
    from compute.evaluator import Evaluator

    calls = []
    original = Evaluator.evaluate

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Evaluator, "evaluate", counting)
    return calls


@pytest.fixture(scope="module")
def client():
    from app.server import create_app

    return create_app().server.test_client()


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda f: f.__name__.strip("_"))
def test_the_api_recomputes_a_damaged_file_entry(client, scalar_run, evaluations, caplog, damage):
    base = f"/api/line.json?run={scalar_run.id}&pair=init&alpha=-1:2&splits=train,valid&wait=60"
    first = client.get(base + "&points=9")
    other = client.get(base + "&points=5")
    assert first.status_code == 200 and other.status_code == 200, first.json
    key = first.json["key"]
    path = landscape_home() / "cache" / f"{key}.json"
    path.write_bytes(damage(path.read_bytes(), json.dumps(other.json).encode()))
    computed = len(evaluations)
    with caplog.at_level(logging.WARNING, logger="compute.jobs.cache"):
        for _ in range(2):  # the first answer recomputes it; the second is a hit of the new entry
            again = client.get(base + "&points=9")
            assert again.status_code == 200, again.json
            assert again.json["cost"] == first.json["cost"] and again.json["alpha"] == first.json["alpha"]
    assert len(evaluations) > computed  # computed again, not served from the damaged entry
    assert json.loads(path.read_text())["cost"] == first.json["cost"]  # replaced, whole
    assert len(_damage_warnings(caplog, key)) == 1  # logged once


def test_the_cli_recomputes_a_damaged_file_entry(capsys, scalar_run, caplog):
    from app.cli import main

    def line() -> tuple[int, dict | None]:
        try:
            code = main(["line", "--from", f"init:{scalar_run.id}", "--to", f"final:{scalar_run.id}", "--points", "7",
                         "--local", "--format", "json"])
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return code, (json.loads(out) if code == 0 else err)

    code, first = line()
    assert code == 0, first
    path = landscape_home() / "cache" / f"{first['key']}.json"
    for damage in (_truncate, _other_schema):
        path.write_bytes(damage(path.read_bytes(), b""))
        code, again = line()
        assert code == 0, again  # not "computed but could not be read back"
        assert again["cost"] == first["cost"]
    assert json.loads(path.read_text())["cost"] == first["cost"]


@pytest.mark.parametrize("damage", [_truncate, _other_schema], ids=lambda f: f.__name__.strip("_"))
def test_celery_jobs_recompute_a_damaged_redis_entry(store, scalar_run, jobs_factory, thread_worker, redis_url,
                                                     caplog, damage):
    jobs = jobs_factory("celery")
    query = resolve(LineQuery.from_args(f"init:{scalar_run.id}", f"final:{scalar_run.id}", "0:1", 6), store)
    key = query.key()
    first = run_job(query, jobs)
    client = redis_client(redis_url)
    client.set(KEY_PREFIX + key, damage(client.get(KEY_PREFIX + key), b""))
    with caplog.at_level(logging.WARNING, logger="compute.jobs.cache"):
        status = jobs.status(key)  # the board says done, the entry does not read: it is computed again
        assert status is not None and status.state != "done"
        assert run_job(query, jobs)["cost"] == first["cost"]
    assert jobs.runs(key) == {0: 1}  # a new job, run once
    assert json.loads(client.get(KEY_PREFIX + key))["cost"] == first["cost"]
    assert len(_damage_warnings(caplog, key)) == 1
    # with no board record left (expired), the next submit recomputes it too
    client.set(KEY_PREFIX + key, b"{")
    for name in client.scan_iter("landscape:job:*"):
        client.delete(name)
    assert jobs.status(key) is None
    assert run_job(query, jobs)["cost"] == first["cost"]


@pytest.mark.parametrize("backend", ["file", "redis"])
def test_a_damaged_points_cache_of_adaptive_lines_is_a_miss(store, scalar_run, monkeypatch, tmp_path, caplog,
                                                             backend, request):
    from compute.job_context import job_cache
    from compute.kinds.line import compute_adaptive_line
    from compute.kinds.line_points import points_key

    if backend == "redis":
        monkeypatch.setenv("REDIS_URL", request.getfixturevalue("redis_url"))
    else:
        monkeypatch.setenv("LANDSCAPE_HOME", str(tmp_path))
    query = resolve(LineQuery.from_args(f"init:{scalar_run.id}", f"final:{scalar_run.id}", "0:1", "auto"), store)
    key = points_key(query)

    def adaptive_line() -> dict:  # in a job's context, as run_chunk and execute compute it
        with job_cache(default_cache()):
            return compute_adaptive_line(query, store)

    first = adaptive_line()
    assert first["meta"]["adaptive"]["reused"] == 0

    def write(raw: bytes) -> None:
        if backend == "redis":
            redis_client(request.getfixturevalue("redis_url")).set(KEY_PREFIX + key, raw)
        else:
            (tmp_path / "cache" / f"{key}.json").write_bytes(raw)

    def read() -> dict | None:
        if backend == "redis":
            return redis_client(request.getfixturevalue("redis_url")).get(KEY_PREFIX + key)
        return (tmp_path / "cache" / f"{key}.json").read_bytes()

    whole = read()
    schema = json.dumps({"points": [{"alpha": [0.5], "cost": {"train": [1.0]}}]}).encode()  # no valid split
    with caplog.at_level(logging.WARNING, logger="compute.jobs.cache"):
        for raw in (whole[: len(whole) // 3], schema, b"[1, 2]"):
            write(raw)
            again = adaptive_line()
            assert again["meta"]["adaptive"]["reused"] == 0  # nothing reused from the damaged entry
            assert again["alpha"] == first["alpha"] and again["cost"] == first["cost"]
            assert json.loads(read())["points"]  # replaced by the points just evaluated
    assert len(_damage_warnings(caplog, key)) == 3  # once per damage: each new entry heals it
    reused = adaptive_line()  # the healed entry is reused whole
    assert reused["meta"]["adaptive"]["reused"] == len(first["alpha"]) and reused["cost"] == first["cost"]


def test_the_file_cache_reads_damage_as_a_miss(tmp_path, caplog):
    cache = file_cache(tmp_path)
    key = "line-" + "ab" * 20
    (tmp_path / f"{key}.json").write_bytes(b'{"alpha": [0.0, 0')
    assert cache.has(key)  # there, but:
    with caplog.at_level(logging.WARNING, logger="compute.jobs.cache"):
        assert cache.get(key) is None and cache.get(key) is None
        (tmp_path / f"{key}.json").write_text("[]")  # JSON, not an object
        assert cache.get(key) is None
    assert len(_damage_warnings(caplog, key)) == 1
    cache.set(key, {"alpha": [0.0]})
    assert cache.get(key) == {"alpha": [0.0]}
