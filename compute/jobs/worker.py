"""`landscape worker`: a Celery worker for Landscape's chunk tasks (compute/jobs/celery_app.py).

One worker process per GPU: with several GPUs visible (CUDA_VISIBLE_DEVICES, or all of them when
it is unset) this starts one worker per device, each with CUDA_VISIBLE_DEVICES set to its own,
and supervises them; with one GPU or none it runs a single worker (on the CPU when there is no
GPU). Each worker has `concurrency` pool processes (default 1: the evaluator already fills a GPU
or the CPU's cores) with `threads` torch threads each, and keeps datasets and checkpoints in
memory across tasks (compute/resources.py). Imports neither the app nor Flask nor Dash: the
per-GPU children are `python -m compute.jobs.worker`, this module's own small entry point.

    REDIS_URL=redis://127.0.0.1:6379/0 landscape worker                  # all GPUs, or the CPU
    REDIS_URL=... landscape worker --threads 1 --hostname w1@%h          # one CPU thread
    REDIS_URL=... python -m compute.jobs.worker --threads 1              # the same without the CLI
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

from models.errors import BadInput
from ..service_errors import ServiceError
from ..settings import worker_redis_url

POOLS = ("prefork", "threads", "solo")


def devices(env: dict | None = None) -> list[str | None]:
    """The CUDA device of each worker process to start; [None] = one process, environment as is."""
    env = os.environ if env is None else env
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [d.strip() for d in visible.split(",") if d.strip()]
    else:
        import torch

        ids = [str(i) for i in range(torch.cuda.device_count())]  # NVML: does not initialise CUDA here
    return ids if len(ids) > 1 else [None]


def celery_argv(concurrency: int = 1, pool: str = "prefork", hostname: str | None = None,
                loglevel: str = "info") -> list[str]:
    from .celery_app import QUEUE

    argv = ["worker", f"--pool={pool}", f"--concurrency={concurrency}", f"--loglevel={loglevel}", "-Q", QUEUE,
            "--without-gossip", "--without-mingle"]  # no start-up chatter between workers: faster, quieter
    return argv + (["--hostname", hostname] if hostname else [])


def run(url: str, concurrency: int = 1, pool: str = "prefork", threads: int | None = None,
        hostname: str | None = None, loglevel: str = "info") -> int:
    """Run worker(s) for the Redis at `url` until stopped: one per GPU (see the module docstring)."""
    from .cache import redis_client, redis_errors
    from ..service_errors import RedisUnavailable

    try:  # a clear line now rather than a worker that silently waits for a Redis that is not there
        redis_client(url).ping()
    except redis_errors() as exc:
        raise RedisUnavailable(url, exc) from None
    ids = devices()
    if ids != [None]:
        return _supervise(ids, url, worker_argv(concurrency, pool, threads, loglevel), hostname)
    if threads:
        os.environ["LANDSCAPE_TORCH_THREADS"] = str(threads)  # read in each pool process
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        if pool != "prefork":  # no pool processes: this process computes
            import torch

            torch.set_num_threads(threads)
    from .celery_app import celery_for

    celery_for(url).worker_main(celery_argv(concurrency, pool, hostname, loglevel))
    return 0


def worker_argv(concurrency: int = 1, pool: str = "prefork", threads: int | None = None,
                loglevel: str = "info") -> list[str]:
    """The options of `python -m compute.jobs.worker` for one worker, its hostname aside."""
    argv = ["--concurrency", str(concurrency), "--pool", pool, "--loglevel", loglevel]
    return argv + (["--threads", str(threads)] if threads else [])


def _supervise(ids: list[str], url: str, argv: list[str], hostname: str | None) -> int:
    children = []
    for device in ids:
        env = dict(os.environ, CUDA_VISIBLE_DEVICES=device, REDIS_URL=url)
        name = f"gpu{device}-{hostname}" if hostname else f"gpu{device}@%h"
        children.append(subprocess.Popen([sys.executable, "-m", "compute.jobs.worker", *argv, "--hostname", name], env=env))

    def forward(signum, _frame):
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    return max(child.wait() for child in children)


def main(argv: list[str] | None = None) -> int:
    """`python -m compute.jobs.worker [options]`: what `landscape worker` runs, for the Redis of REDIS_URL."""
    parser = argparse.ArgumentParser(prog="python -m compute.jobs.worker", description=main.__doc__)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--pool", choices=POOLS, default="prefork")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--hostname")
    parser.add_argument("--loglevel", default="info")
    args = parser.parse_args(argv)
    try:
        return run(worker_redis_url(), args.concurrency, args.pool, args.threads, args.hostname, args.loglevel)
    except (BadInput, ServiceError) as exc:  # no REDIS_URL, or Redis unreachable: one line and status 2, as `landscape worker`
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
