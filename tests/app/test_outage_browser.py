"""Redis stopped in the middle of a line the page asked for, and started again: the page says so,
polls on with back-off, and draws the result without a reload (docs/workers.md).
A real redis-server whose queue survives the stop (append-only file), a real `landscape worker`
process, the real app in headless Chromium."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.compute.jobs.conftest import ROOT, RedisServer, WorkerProcess

from .conftest import free_port, screenshot, traces, wait_for

pytestmark = pytest.mark.browser
POINTS = 1200  # 38 chunks of 32 points: a few seconds on one worker, time to stop Redis midway


@pytest.fixture
def worker_on(tmp_path):
    """`landscape worker` processes against a given Redis (one pool process, one torch thread)."""
    started: list[WorkerProcess] = []

    def spawn(url: str) -> WorkerProcess:
        log = tmp_path / "worker.log"
        env = dict(os.environ, REDIS_URL=url, LANDSCAPE_VISIBILITY_TIMEOUT="5", PYTHONUNBUFFERED="1")
        with open(log, "w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--threads", "1", "--loglevel", "info"],
                                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        started.append(WorkerProcess("outage", proc, log))
        return started[-1]

    yield spawn
    for worker in started:
        worker.kill()


def test_the_page_rides_out_a_redis_outage_and_draws_the_line(tmp_path, monkeypatch, dash_duo, relu_run, worker_on):
    from app.server import create_app
    from compute.jobs.backend import get_jobs
    from compute.jobs.base import execute
    from compute.kinds.line import LineQuery
    from compute.store import Store

    redis = RedisServer(tmp_path / "redis", persistent=True)  # its queue and job board survive stop/start
    redis.start()
    try:
        worker = worker_on(redis.url)  # it starts (torch, celery) while the app and browser do
        monkeypatch.setenv("REDIS_URL", redis.url)
        get_jobs()  # the job layer before the server thread (dash's runner kills threads started after it)
        dash_duo.start_server(create_app(), port=free_port())
        wait_for(worker.ready, 120, "the worker")
        dash_duo.wait_for_page(f"{dash_duo.server_url}/line?run={relu_run.id}&points={POINTS}")
        dash_duo.driver.execute_script("window.__sameDocument = true")  # gone if the page reloads

        def page_text(element_id: str) -> str:
            return dash_duo.driver.execute_script(
                "const e = document.getElementById(arguments[0]); return e ? e.innerText : ''", element_id)

        def parts_done() -> int:
            found = re.search(r"part (\d+) of (\d+)", page_text("progress"))
            return int(found.group(1)) if found else 0

        wait_for(lambda: parts_done() >= 1, 60, "a first chunk done")
        redis.stop()
        wait_for(lambda: "unreachable" in page_text("status-outage"), 30, "the page to say Redis is unreachable")
        # it keeps polling, less and less often (250 ms doubled per failed poll, up to 8 s)
        wait_for(lambda: re.search(r"asking again in [48] s", page_text("status-outage")), 30, "the back-off")
        screenshot(dash_duo, "redis-outage")
        redis.start()

        drawn = wait_for(lambda: (t := traces(dash_duo, "line", "line")) and all(len(c["x"]) == POINTS for c in t)
                         and t, 90, f"the {POINTS}-point line after the outage")
        assert {c["meta"] for c in drawn} == {"train", "valid"}
        assert all(y is not None and y >= 0 for c in drawn for y in c["y"])
        assert dash_duo.driver.execute_script("return window.__sameDocument === true"), "the page was reloaded"
        assert page_text("status-outage") == ""
        # the values are the line's: both ends as this process computes them undisturbed (one torch
        # thread there, two here: equal to float32 rounding)
        ends = execute(LineQuery(f"init:{relu_run.id}", f"final:{relu_run.id}", -0.25, 1.25, 2), Store()).to_json()
        for trace in drawn:
            assert [trace["y"][0], trace["y"][-1]] == pytest.approx(ends["cost"][trace["meta"]], rel=1e-4)
    finally:
        redis.stop()
