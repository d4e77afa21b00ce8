"""The app's job client: a view's queries through the job layer (compute.jobs.backend.get_jobs()):
submit, look, wait.

Used alike by the page's callbacks and by the JSON API. Nothing here computes: a query that
is in the cache is answered from it, one that is running is shared, anything else is queued.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TypeVar

from compute.jobs.backend import get_jobs
from compute.queries import Query

DONE, FAILED, CANCELLED = "done", "failed", "cancelled"

R = TypeVar("R")  # a compute result class (compute/kinds/*): LineResult, SurfaceResult, ...


@dataclass
class Outcome:
    """A query's job as a view sees it when drawing."""

    key: str
    state: str  # pending | running | done | failed | cancelled | missing
    done: int = 0
    total: int = 0
    error: str | None = None
    result: dict | None = None  # the result's JSON once done
    waiting: str | None = None  # "queued behind 2 other jobs, ~40 s" while it waits its turn

    @property
    def ready(self) -> bool:
        return self.result is not None

    def read(self, result_type: type[R]) -> R:
        """The result as a `result_type` object, read from its JSON: once per draw, by the view that
        knows the type; the figures take the object."""
        if self.result is None:
            raise ValueError(f"the job {self.key} has no result yet ({self.state})")
        return result_type.from_json(self.result)


def submit(queries: dict[str, Query]) -> tuple[dict[str, str], bool]:
    """Submit every query; returns {name: key} and whether all of them were already cached."""
    jobs = get_jobs()
    keys, cached = {}, True
    for name, query in queries.items():
        status = jobs.submit(query)  # idempotent per key: a second tab asking the same shares the job
        keys[name] = status.key
        cached = cached and status.state == DONE
    return keys, cached


def outcomes(keys: dict[str, str], with_results: bool = True) -> dict[str, Outcome]:
    """The jobs' outcomes. RedisUnavailable (Redis unreachable, status 503) propagates: that is
    not a job's failure, the jobs may well finish while Redis is away."""
    jobs = get_jobs()
    out = {}
    for name, key in keys.items():
        status = jobs.status(key)
        if status is None:
            out[name] = Outcome(key, "missing")
            continue
        outcome = Outcome(key, status.state, status.done, status.total, status.error, waiting=status.waiting_text())
        if status.state == DONE and with_results:
            outcome.result = jobs.result(key)
            if outcome.result is None:  # evicted or damaged since: asking again recomputes it
                again = jobs.status(key)
                outcome = (Outcome(key, again.state, again.done, again.total, again.error)
                           if again is not None and again.state != DONE else Outcome(key, "missing"))
        out[name] = outcome
    return out


def finished(state: str) -> bool:
    return state in (DONE, FAILED, CANCELLED, "missing")


def wait(keys: dict[str, str], timeout: float, interval: float = 0.05) -> dict[str, Outcome]:
    """Block until every job is finished (or `timeout` seconds pass); then the outcomes."""
    deadline = time.monotonic() + timeout
    while True:
        states = outcomes(keys, with_results=False)
        if all(finished(o.state) for o in states.values()) or time.monotonic() >= deadline:
            return outcomes(keys)
        time.sleep(interval)


def progress(outs: dict[str, Outcome]) -> tuple[int, int, int]:
    """(points done, points in all, jobs still running) over the unfinished jobs."""
    running = [o for o in outs.values() if not finished(o.state)]
    return sum(o.done for o in running), sum(o.total for o in running), len(running)


def cancel(keys: dict[str, str]) -> None:
    jobs = get_jobs()
    for key in keys.values():
        status = jobs.status(key)
        if status is not None and not finished(status.state):
            jobs.cancel(key)
