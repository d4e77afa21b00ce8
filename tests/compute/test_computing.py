"""The right to compute (compute/computing.py): a long chunk lends it between its steps, a waiting
chunk runs then, and the long one goes on with its own torch RNG state; in the embedded executor a
line asked for while a run trains is answered before the training ends."""

from __future__ import annotations

import threading
import time

import torch

from compute.jobs.cache import file_cache
from compute.computing import computing, lend
from compute.job_status import DONE
from compute.jobs.backend import run_job
from compute.jobs.local import LocalJobs
from compute.kinds.line import LineQuery
from compute.kinds.train import TrainQuery
from compute.kinds import resolve
from compute.store import Store
from compute.training import train


def test_a_waiting_chunk_runs_when_a_long_one_lends_and_the_long_ones_draws_are_unchanged():
    order: list[str] = []
    torch.manual_seed(5)
    expected = torch.rand(3).tolist()  # what the long chunk draws after its first step, undisturbed
    started = threading.Event()

    def waiting_chunk() -> None:
        started.set()
        with computing():
            torch.manual_seed(123)  # as a dropout-sampled line does
            torch.rand(10)
            order.append("waiting chunk")

    with computing():
        torch.manual_seed(5)
        other = threading.Thread(target=waiting_chunk)
        other.start()
        started.wait(5)
        time.sleep(0.05)  # it is blocked on the lock now
        lend()
        order.append("long chunk goes on")
        drawn = torch.rand(3).tolist()
    other.join(5)
    assert order == ["waiting chunk", "long chunk goes on"] and drawn == expected


def test_lend_is_free_when_nobody_waits_and_when_held_twice():
    with computing():
        with computing():
            started = time.monotonic()
            lend()  # nested: does not release (it could not), returns at once
            assert time.monotonic() - started < 0.5
        lend()  # nobody waits


def test_a_line_asked_for_while_a_run_trains_is_answered_first(tmp_path, monkeypatch):
    from compute import training
    from compute.kinds import train as train_kind

    monkeypatch.setenv("LANDSCAPE_HOME", str(tmp_path / "home"))
    store = Store()
    run = train("scalar-linear", "small", 0, store=store, progress=False)
    real, steps = training.train, []

    def slowed(*args, step_progress=None, **kwargs):  # the real training, ~0.05 s a step
        def progress(done: int, total: int) -> None:
            time.sleep(0.05)
            steps.append(done)
            step_progress(done, total)

        return real(*args, step_progress=progress, **kwargs)

    monkeypatch.setattr(train_kind, "train", slowed)  # the training job's loop
    jobs = LocalJobs(store, file_cache(tmp_path / "cache"))
    training_job = TrainQuery("scalar-linear", "small", 1)
    jobs.submit(training_job)
    deadline = time.monotonic() + 60
    while not steps and time.monotonic() < deadline:
        time.sleep(0.01)
    line = run_job(resolve(LineQuery(f"init:{run.id}", f"final:{run.id}", -0.5, 1.5, 50), store), jobs)
    assert len(line["cost"]["train"]) == 50
    assert not jobs.status(training_job.key()).finished  # the line did not wait for the run
    while not jobs.status(training_job.key()).finished and time.monotonic() < deadline:
        time.sleep(0.05)
    assert jobs.status(training_job.key()).state == DONE
