"""One Celery worker against two on a chunked job: throughput side by side.

    .venv/bin/python benchmarks/workers.py                  # 1024-point line, 3 timed jobs each
    .venv/bin/python benchmarks/workers.py --points 2001 --repeats 5 --dtype float64

Starts its own redis-server on a free port and `landscape worker` processes (prefork, one pool
process with ONE torch thread each, so two workers use the two cores of this machine), and uses
the relu-mnist `small` run of $LANDSCAPE_HOME (trained first if there is none, about a minute).
For 1 and then 2 workers: one warm-up job (every worker loads the data and checkpoints once, as
it would in service), then `--repeats` timed jobs, each from `submit` to its result in the
cache, on distinct alpha ranges so that none is answered from the cache. Prints every time, the
medians, points per second and the ratio. The target on a 2-core machine is >= 1.6x.

The load average is printed before and after: on a shared machine the ratio is only as good as
the cores that were free. Run it on an idle machine for the figure to quote.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.02)
    return value


def relu_run(store):
    from compute.training import train

    wanted = ("relu-mnist", "small", 0)
    runs = [r for r in store.list_runs() if (r.model_id, r.preset, r.manifest.get("seed")) == wanted]
    if runs:
        return runs[0]
    print("training relu-mnist small (seed 0) into", store.runs_dir, file=sys.stderr)
    return train("relu-mnist", "small", 0, store=store, progress=False)


def start_workers(n: int, url: str, logs: Path) -> list[subprocess.Popen]:
    env = dict(os.environ, REDIS_URL=url, PYTHONUNBUFFERED="1")
    procs = []
    for i in range(n):
        log = logs / f"worker{i}.log"
        with open(log, "w") as out:
            procs.append(subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--threads", "1", "--hostname",
                                           f"bench{i}@%h", "--loglevel", "info"], cwd=ROOT, env=env, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True))
    for i in range(n):  # every worker consuming before the warm-up job, so that each one warms up
        wait(lambda: " ready." in (logs / f"worker{i}.log").read_text(), 300, f"worker {i}")
    return procs


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def timed_job(jobs, query) -> float:
    started = time.perf_counter()
    key = jobs.submit(query).key
    status = wait(lambda: (s := jobs.status(key)).finished and s, 3600, f"job {key}")
    elapsed = time.perf_counter() - started
    if status.state != "done":
        sys.exit(f"job {key} {status.state}: {status.error}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1024)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import redis

    from compute.jobs.celery_app import CeleryJobs
    from compute.chunks import index_ranges
    from compute.jobs.base import CHUNK_POINTS
    from compute.kinds.line import LineQuery
    from compute.store import Store

    store = Store()
    run = relu_run(store)
    logs = Path(tempfile.mkdtemp(prefix="landscape-bench-"))
    port = free_port()
    server = subprocess.Popen([shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port), "--bind",
                               "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(logs)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    wait(lambda: _ping(client), 30, "redis-server")
    jobs = CeleryJobs(url, store)
    chunks = len(index_ranges(args.points, CHUNK_POINTS))
    print(f"line init->final of {run.id}, {args.points} points ({chunks} chunks of ~{CHUNK_POINTS}), {args.dtype}, "
          f"train+valid; load average before: {_load()}")
    results: dict[int, list[float]] = {}
    counter = 0

    def line(tag: int) -> LineQuery:
        # a distinct alpha range per job (same work), so that no job is answered from the cache
        return LineQuery(f"init:{run.id}", f"final:{run.id}", -0.5, 1.5 + 1e-6 * tag, args.points,
                         ("train", "valid"), args.dtype)

    try:
        for n in (1, 2):
            procs = start_workers(n, url, logs)
            try:
                counter += 1
                timed_job(jobs, line(counter))  # warm-up: workers load data and checkpoints
                times = []
                for _ in range(args.repeats):
                    counter += 1
                    times.append(timed_job(jobs, line(counter)))
                results[n] = times
            finally:
                stop_workers(procs)
    finally:
        server.terminate()
        server.wait(30)

    print(f"{'workers':>8} {'seconds per job':>28} {'median s':>9} {'points/s':>9}")
    for n, times in results.items():
        median = statistics.median(times)
        print(f"{n:>8} {' '.join(f'{t:6.2f}' for t in times):>28} {median:9.2f} {args.points / median:9.1f}")
    ratio = statistics.median(results[1]) / statistics.median(results[2])
    print(f"throughput, 2 workers / 1 worker: {ratio:.2f}x (target >= 1.6x on 2 cores); "
          f"load average after: {_load()}; cores: {os.cpu_count()}")


def _ping(client) -> bool:
    import redis

    try:
        return client.ping()
    except redis.ConnectionError:
        return False


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    main()
