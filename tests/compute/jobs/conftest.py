"""The job layer's fixtures: a real redis-server of the session's own on a free port (flushed
before each test), real Celery workers (in-process on a thread pool, or `landscape worker`
subprocesses where one must be killed), all function-scoped so no worker outlives its test."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LOGS = ROOT / ".test-artifacts" / "jobs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, every: float = 0.05):
    """Poll until `predicate()` is truthy (and return it); fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def returns(fn, timeout: float = 60):
    """fn()'s value or exception, failing the test if it does not return at all (a hang guard)."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"{fn} did not return within {timeout} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


class RedisServer:
    """redis-server on a free port; `persistent` keeps its data across a stop/start (AOF, fsync always)."""

    def __init__(self, directory: Path, persistent: bool = False):
        self.port, self.dir, self.persistent, self.proc = free_port(), directory, persistent, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "yes" if self.persistent else "no", "--appendfsync", "always",
             "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=1)

        def up():
            try:
                return client.ping()
            except redis.ConnectionError:
                assert self.proc.poll() is None, "redis-server exited"
                return False

        wait_for(up, 30, f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis flushes its append-only file and exits
            self.proc.wait(30)
        self.proc = None


@pytest.fixture
def wait():
    """wait_for(predicate, timeout, what, every=0.05): poll with a deadline."""
    return wait_for


@pytest.fixture
def no_hang():
    """returns(fn, timeout=60): fn()'s value or exception, or the test fails if it hangs."""
    return returns


@pytest.fixture
def persistent_redis(tmp_path):
    """A redis-server of this test's own whose data survive `stop()` and `start()` again."""
    server = RedisServer(tmp_path / "redis", persistent=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    import redis

    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


@pytest.fixture
def celery_app(redis_url):
    from compute.jobs.celery_app import make_celery

    return make_celery(redis_url, visibility=600)


@pytest.fixture
def thread_worker(celery_app):
    """A real Celery worker in this process, two threads (so chunks of one job run side by side)."""
    from celery.contrib.testing.worker import start_worker

    with start_worker(celery_app, pool="threads", concurrency=2, perform_ping_check=False,
                      loglevel="WARNING", shutdown_timeout=60) as worker:
        yield worker


@pytest.fixture
def jobs_factory(store, celery_app, tmp_path):
    """Job managers: 'celery' (this test's Redis) or 'local' (the embedded default, a private cache)."""
    from compute.jobs.cache import file_cache
    from compute.jobs.celery_app import CeleryJobs
    from compute.jobs.local import LocalJobs

    def make(kind: str):
        if kind == "celery":
            return CeleryJobs(celery_app.conf.broker_url, store, app=celery_app)
        return LocalJobs(store, file_cache(tmp_path / "cache"))

    return make


class WorkerProcess:
    def __init__(self, name: str, proc: subprocess.Popen, log: Path):
        self.name, self.proc, self.log = name, proc, log

    def ready(self) -> bool:
        assert self.proc.poll() is None, f"worker {self.name} exited:\n{self.log.read_text()[-3000:]}"
        return " ready." in self.log.read_text()

    def pool_pids(self) -> list[int]:
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def kill(self) -> None:
        """SIGKILL to the worker and its pool processes: a machine that died."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)


@pytest.fixture
def spawn_worker(redis_url):
    """`landscape worker` subprocesses (prefork, one pool process with one torch thread each, or
    `threads`)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    started: list[WorkerProcess] = []

    def spawn(name: str, url: str | None = None, visibility: int = 5, threads: int = 1) -> WorkerProcess:
        env = dict(os.environ, REDIS_URL=url or redis_url, LANDSCAPE_VISIBILITY_TIMEOUT=str(visibility),
                   PYTHONUNBUFFERED="1")
        log = LOGS / f"{name}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--threads", str(threads), "--hostname",
                                     f"{name}@%h", "--loglevel", "info"], cwd=ROOT, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        worker = WorkerProcess(name, proc, log)
        started.append(worker)
        return worker

    yield spawn
    for worker in started:
        worker.kill()


@pytest.fixture
def one_thread():
    """Torch on one thread in this process too, while a test compares with one-thread workers
    (a GEMM's summation order, hence the last bits, depends on the thread count)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
