"""A job's status, as every board reports it and everyone reads it: its states, `JobStatus`, and
the timings both boards (compute/jobs/local.py, compute/jobs/redis_board.py) judge a job by.

Below the job layer (compute/jobs/), so that what a job computes (training reports its progress
through a status: compute/training.py) and the app read a status without importing the boards.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

PENDING, RUNNING, DONE, FAILED, CANCELLED = "pending", "running", "done", "failed", "cancelled"
ASSEMBLING = "assembling"  # all parts in, result being checked and cached (shown as running)
ACTIVE = (PENDING, RUNNING, ASSEMBLING)
FINISHED = (DONE, FAILED, CANCELLED)
# A submitter records a job, queues its chunks, then marks it queued: milliseconds. An active job
# still unmarked after this many seconds lost its submitter in between (a crash, a kill), and
# its chunks may never come: the next submit or status check starts it again.
ENQUEUE_GRACE = 30.0
# A running chunk's lease (RedisBoard): renewed every LEASE_S / 4 by the worker computing it; a
# chunk whose lease has run out lost its worker (a SIGKILL, a machine gone) and is queued again
# by the next status check of its job, long before the broker's visibility timeout.
LEASE_S = 20.0
# Seconds a chunk is assumed to take before any chunk of the board has been timed.
DEFAULT_CHUNK_S = 1.0


@dataclass
class JobStatus:
    key: str
    state: str
    done: int = 0  # chunks done
    total: int = 0  # chunks in the job
    error: str | None = None
    job_id: str | None = None  # one id per attempt at the key (a new one after a failure or cancel)
    stale: bool = False  # active, but its submitter died before queuing all its chunks
    ahead: int = 0  # while pending: active jobs submitted before it (they share the workers with it)
    eta_s: float | None = None  # while active: about how many seconds until it is done
    # [done, total] as a running chunk's progress callback last reported it (any chunk of the job,
    # heard at most every half second): what a long single chunk, a training run, shows meanwhile
    chunk_progress: list[int] | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "stale"}

    def waiting_text(self) -> str | None:
        """'queued behind 2 other jobs, ~40 s' while it waits; None once it runs or is over."""
        if self.state != PENDING or not self.ahead:
            return None
        eta = f", ~{self.eta_s:.0f} s" if self.eta_s is not None else ""
        return f"queued behind {self.ahead} other job{'s' if self.ahead > 1 else ''}{eta}"

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


def public_state(state: str) -> str:
    return RUNNING if state == ASSEMBLING else state


def stale_job(state: str, queued: bool, created: float) -> bool:
    """Active, never marked queued, and too old for its submitter to be still queuing it."""
    return state in (PENDING, RUNNING) and not queued and time.time() - created > ENQUEUE_GRACE


def eta(remaining: int, chunk_s: float, sharing: int) -> float:
    """Seconds until a job's `remaining` chunks are done, each taking about `chunk_s`, while its
    chunks take turns with those of `sharing` other active jobs (round robin, or priorities by
    chunk index on the workers)."""
    return remaining * chunk_s * (1 + sharing)
