"""The commands that serve: `worker` (a Celery worker) and `serve` (the dashboard)."""

from __future__ import annotations

import click

from compute import validate
from compute.jobs.worker import POOLS, run as run_worker
from compute.settings import worker_redis_url

from .options import Integer


@click.command("worker")
@click.option("--concurrency", type=Integer(1), default=1, help="pool processes per worker (default 1)")
@click.option("--pool", type=click.Choice(POOLS), default="prefork")
@click.option("--threads", type=Integer(1), help="torch threads per pool process (default: torch's)")
@click.option("--hostname", help="worker name, e.g. w1@%h (default celery@%h)")
@click.option("--loglevel", default="info")
def cmd_worker(concurrency: int, pool: str, threads: int | None, hostname: str | None, loglevel: str) -> None:
    """run a Celery worker for REDIS_URL's queue (one per GPU, or the CPU)"""
    run_worker(worker_redis_url(), concurrency=concurrency, pool=pool, threads=threads, hostname=hostname, loglevel=loglevel)


@click.command("serve")
@click.option("--host", default="127.0.0.1", help="an IP address or a host name to listen on")
@click.option("--port", default="8050", help="1 to 65535 (default 8050)")
@click.option("--demo", is_flag=True, help="train the missing demo runs meanwhile, as jobs (progress on the page)")
@click.option("--access-log", is_flag=True, help="one line per request on stderr (off: the progress stays readable)")
def cmd_serve(host: str, port: str, demo: bool, access_log: bool) -> None:
    """serve the dashboard (waitress, a production WSGI server)"""
    host, port = validate.parse_host(host), validate.parse_port(port)  # one line, before any server starts
    from app.server import serve  # Dash is loaded only here: a worker or a line never imports it

    serve(host=host, port=port, demo=demo, access_log=access_log)
