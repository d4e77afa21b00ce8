"""`landscape worker`: a Celery worker for Landscape's chunk tasks (compute/celery_app.py).

One worker process per GPU: with several GPUs visible (CUDA_VISIBLE_DEVICES, or all of them when
it is unset) this starts one worker per device, each with CUDA_VISIBLE_DEVICES set to its own,
and supervises them; with one GPU or none it runs a single worker (on the CPU when there is no
GPU). Each worker has `concurrency` pool processes (default 1: the evaluator already fills a GPU
or the CPU's cores) with `threads` torch threads each, and keeps datasets and checkpoints in
memory across tasks (compute/resources.py). Never imports Dash.

    REDIS_URL=redis://127.0.0.1:6379/0 landscape worker                  # all GPUs, or the CPU
    REDIS_URL=... landscape worker --threads 1 --hostname w1@%h          # one CPU thread
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

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
        hostname: str | None = None, loglevel: str = "info", cli_argv: list[str] | None = None) -> int:
    """Run worker(s) until stopped. `cli_argv` is this command's own argv, for the per-GPU children."""
    from .cache import RedisUnavailable, redis_client, redis_errors

    try:  # a clear line now rather than a worker that silently waits for a Redis that is not there
        redis_client(url).ping()
    except redis_errors() as exc:
        raise RedisUnavailable(url, exc) from None
    ids = devices()
    if ids != [None]:
        return _supervise(ids, cli_argv or [], hostname)
    if threads:
        os.environ["LANDSCAPE_TORCH_THREADS"] = str(threads)  # read in each pool process
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        if pool != "prefork":  # no pool processes: this process computes
            import torch

            torch.set_num_threads(threads)
    from .celery_app import celery_for

    celery_for(url).worker_main(celery_argv(concurrency, pool, hostname, loglevel))
    return 0


def _supervise(ids: list[str], cli_argv: list[str], hostname: str | None) -> int:
    children = []
    for device in ids:
        env = dict(os.environ, CUDA_VISIBLE_DEVICES=device)
        name = f"gpu{device}-{hostname}" if hostname else f"gpu{device}@%h"
        argv = [a for a in cli_argv if a]
        if "--hostname" in argv:  # each child its own name
            i = argv.index("--hostname")
            del argv[i:i + 2]
        children.append(subprocess.Popen([sys.executable, "-m", "app.cli", *argv, "--hostname", name], env=env))

    def forward(signum, _frame):
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    return max(child.wait() for child in children)
