"""The first start: the missing demo runs trained as jobs of the job layer (compute/kinds/train.py
TRAIN_KIND, app/demo.py), their progress on every page (app/training_banner.py) and in
/api/demo.json, each run in the pickers once it is recorded. Each test has a LANDSCAPE_HOME of its
own (so its job manager, runs folder and cache are its own) and a short demo list."""

from __future__ import annotations

import re
import shutil
import threading
import time

import pytest
from selenium.webdriver.common.keys import Keys

from .conftest import free_port, screenshot, traces, wait_for
from .test_browser import control, query


@pytest.fixture
def own_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def slowed_training(monkeypatch, seconds_per_step: float) -> None:
    """The real training, each optimizer step followed by a short sleep: a tiny run stays on the
    page long enough to be seen, on an idle machine as on a loaded one."""
    from compute import training
    from compute.kinds import train as train_kind

    real = training.train

    def slowed(*args, step_progress=None, **kwargs):
        def progress(done: int, total: int) -> None:
            time.sleep(seconds_per_step)
            if step_progress is not None:
                step_progress(done, total)

        return real(*args, step_progress=progress, **kwargs)

    monkeypatch.setattr(train_kind, "train", slowed)  # the training job's loop


def demo_list(monkeypatch, runs):
    from app import demo

    monkeypatch.setattr(demo, "DEMO_RUNS", tuple(runs))


def test_a_train_query_is_one_chunk_the_budget_does_not_refuse(own_home):
    from compute import budget
    from compute.jobs.base import chunk_points
    from compute.kinds import estimate, kind_of
    from compute.kinds.train import TrainQuery
    from compute.store import Store
    from models.errors import BadInput

    query, store = TrainQuery("maxout-mnist", "paper", 3), Store()
    assert estimate(query, store) is None and budget.check(estimate(query, store)) is None  # not a grid of points: never estimated, never refused
    assert kind_of("train").split(query, chunk_points(query, store)) == [[0, 1]]
    assert TrainQuery.from_json(query.to_json()) == query and query.key().startswith("train-")
    assert query.key() != TrainQuery("maxout-mnist", "paper", 4).key()
    for bad, field in ((("no-such-model",), "model"), (("relu-mnist", "huge"), "preset"),
                       (("relu-mnist", "small", -1), "seed")):
        with pytest.raises(BadInput) as caught:
            TrainQuery(*bad)
        assert caught.value.field == field


def test_demo_runs_train_as_jobs_that_nobody_else_watches(own_home, monkeypatch):
    """With a grace of 1 s, the second and third jobs wait longer than that behind the first: only
    ensure_demo_runs' own status checks keep them from being cancelled as unwatched."""
    from app.demo import demo_status, ensure_demo_runs
    from app.runs import load_catalog
    from compute.jobs.backend import get_jobs
    from compute.kinds.train import TrainQuery
    from compute.store import Store

    monkeypatch.setenv("LANDSCAPE_UNWATCHED_GRACE", "1")
    demo_list(monkeypatch, [("scalar-linear", 0), ("scalar-linear", 1), ("scalar-linear", 2)])
    lines: list[str] = []
    made = ensure_demo_runs(log=lines.append)
    store = Store()
    assert sorted(made) == sorted(r.id for r in store.list_runs()) and len(made) == 3, lines
    assert [int(store.load(r).manifest["seed"]) for r in made] == [0, 1, 2]
    assert not any("cancelled" in line for line in lines), lines
    assert demo_status(load_catalog().trained()) == {"training": [], "active": False}
    assert ensure_demo_runs(log=lines.append) == [] and "all 3 present" in lines[-1]

    # a run deleted after it was trained: its job's cached result names a run that is gone, so the
    # job runs again rather than answering from the cache
    shutil.rmtree(store.runs_dir / made[1])
    again = ensure_demo_runs(log=lines.append)
    assert len(again) == 1 and store.load(again[0]).manifest["seed"] == 1
    assert get_jobs().status(TrainQuery("scalar-linear", "small", 1).key()).state == "done"


def test_a_celery_worker_trains_a_demo_run_and_its_progress_goes_through_redis(own_home, monkeypatch, tmp_path):
    from celery.contrib.testing.worker import start_worker

    from app.demo import ensure_demo_runs
    from compute.jobs.celery_app import make_celery
    from compute.jobs.backend import get_jobs
    from compute.kinds.train import TrainQuery
    from compute.store import Store
    from tests.compute.jobs.conftest import RedisServer

    redis = RedisServer(tmp_path / "redis")
    redis.start()
    try:
        monkeypatch.setenv("REDIS_URL", redis.url)
        demo_list(monkeypatch, [("scalar-linear", 0)])
        slowed_training(monkeypatch, 0.02)  # over half a second: the board hears of its progress
        monkeypatch.setenv("LANDSCAPE_UNWATCHED_GRACE", "2")  # status checks every 0.5 s: done soon after
        lines: list[str] = []
        with start_worker(make_celery(redis.url), pool="threads", concurrency=1, perform_ping_check=False,
                          loglevel="WARNING", shutdown_timeout=60):
            made = ensure_demo_runs(log=lines.append)
        assert len(made) == 1 and Store().load(made[0]).manifest["seed"] == 0, lines
        status = get_jobs().status(TrainQuery("scalar-linear", "small", 0).key())
        # the last progress the worker reported, through the Redis board: steps of 60 (1 a epoch)
        assert status.state == "done" and status.chunk_progress[1] == 60 and 0 < status.chunk_progress[0] <= 60
    finally:
        redis.stop()


@pytest.mark.browser
def test_the_page_shows_demo_training_then_the_run_in_the_picker(own_home, monkeypatch, dash_duo):
    from app.demo import ensure_demo_runs
    from app.server import create_app
    from compute.jobs.backend import get_jobs

    demo_list(monkeypatch, [("scalar-linear", 0), ("scalar-linear", 1)])
    slowed_training(monkeypatch, 0.08)  # 60 steps: about 5 s each on the page, whatever the load
    get_jobs()  # the job thread first: dash's runner kills, at the end, the threads started after it
    dash_duo.start_server(create_app(), port=free_port())
    monkeypatch.setenv("LANDSCAPE_UNWATCHED_GRACE", "2")  # its status checks every 0.5 s: it ends soon after
    made: list[list[str]] = []
    keeper = threading.Thread(target=lambda: made.append(ensure_demo_runs(log=lambda line: None)), daemon=True)
    keeper.start()
    dash_duo.wait_for_page(f"{dash_duo.server_url}/line")

    def banner() -> str:
        return dash_duo.driver.execute_script(
            "const e = document.getElementById('training-text'); return e ? e.innerText : ''")

    def under_way(above: int = -1):
        """The banner while seed 0 trains past `above` percent, or (it finished between two looks, as
        under load it may: a run takes ~5 s) while seed 1 trains, none queued."""
        found = re.fullmatch(r"training demo runs: scalar-linear/small seed (\d) (\d+)% \(epoch (\d+)/60\)"
                             r"(, 1 more queued)?", banner())
        if not found:
            return None
        seed, percent, queued = int(found.group(1)), int(found.group(2)), found.group(4) is not None
        return found if (seed == 0 and queued and percent > above) or (above >= 0 and seed == 1 and not queued) else None

    first = wait_for(under_way, 60, "the banner of the run under way")
    assert first.group(1) == "0"
    later = wait_for(lambda: under_way(int(first.group(2))), 30, "the percentage to grow")
    assert int(later.group(2)) <= 100 and 1 <= int(later.group(3)) <= 60
    assert later.group(1) == "1" or int(first.group(2)) < int(later.group(2))
    for width, height in ((1400, 1000), (1024, 768)):
        dash_duo.driver.set_window_size(width, height)
        wait_for(lambda: dash_duo.driver.execute_script(  # the plots have followed the new width
            "return document.documentElement.scrollWidth <= window.innerWidth"), 10, "the layout at the new size")
        screenshot(dash_duo, f"demo-training-banner-{width}")
    json_twin = dash_duo.driver.execute_script(
        "return fetch('/api/demo.json').then(r => r.json())")
    assert json_twin["active"] and [e["seed"] for e in json_twin["training"]] in ([0, 1], [1])

    wait_for(lambda: banner() == "" and not dash_duo.driver.execute_script(
        "return document.getElementById('training-banner')"), 90, "the banner to go")
    keeper.join(10)
    assert len(made) == 1 and sorted(made[0])[0].startswith("scalar-linear-small-s0-") and len(made[0]) == 2
    # no reload: the picker has the new runs; picking one draws its line
    dropdown = control(dash_duo, "line", "run", "choice")
    dash_duo.select_dcc_dropdown(dropdown, value="scalar-linear · small · seed 1")
    dropdown.send_keys(Keys.ESCAPE)
    wait_for(lambda: query(dash_duo).get("run", "").startswith("scalar-linear-small-s1-"), 30, "the address")
    drawn = wait_for(lambda: (t := traces(dash_duo, "line", "line")) and all(len(c["x"]) == 50 for c in t) and t,
                     60, "the new run's line")
    assert {c["meta"] for c in drawn} == {"train", "valid"}
    assert all(y is not None and y >= 0 for c in drawn for y in c["y"])
