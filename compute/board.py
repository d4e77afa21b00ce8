"""Job records: a job's state, its chunks' parts and counts, kept on a *board*.

`LocalBoard` keeps them in this process's memory (the embedded default); `RedisBoard`
(compute/celery_app.py) keeps the same records in Redis, with the same operations and answers,
for every process that uses that Redis. compute/jobs.py runs jobs on either.
"""

from __future__ import annotations

import threading
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


class LocalBoard:
    """Job records in this process's memory, with the semantics of RedisBoard's scripts."""

    def __init__(self):
        self.jobs: dict[str, dict] = {}
        self.lock = threading.Lock()

    def create(self, key: str, kind: str, query_json: dict, chunks: list, job_id: str,
               force: bool = False) -> tuple[bool, str]:
        """A new job unless one is active (or done, unless `force`): (created, the job's id)."""
        with self.lock:
            job = self.jobs.get(key)
            if job is not None and not stale_job(job["state"], job["queued"], job["created"]) and (
                    job["state"] in ACTIVE or (job["state"] == DONE and not force)):
                return False, job["job_id"]
            self.jobs[key] = dict(job_id=job_id, kind=kind, query=query_json, chunks=chunks, total=len(chunks),
                                  state=PENDING, error=None, parts={}, runs={}, owners={}, skipped=0,
                                  queued=False, created=time.time(), watched=time.time(), seconds=0.0,
                                  progress=None)
            return True, job_id

    def mark_queued(self, key: str, job_id: str) -> None:
        """Every chunk of the job is queued (see ENQUEUE_GRACE)."""
        with self.lock:
            job = self.jobs.get(key)
            if job is not None and job["job_id"] == job_id:
                job["queued"] = True

    def query(self, key: str) -> dict | None:
        with self.lock:
            job = self.jobs.get(key)
            return job["query"] if job else None

    def claim(self, key: str, job_id: str, index: int, owner: str = "local") -> str:
        """'go' (compute it), 'assemble' (all parts in: redo the assembly) or 'skip'."""
        with self.lock:
            job = self.jobs.get(key)
            if job is None or job["job_id"] != job_id:
                return "skip"
            if job["state"] == ASSEMBLING:
                return "assemble"
            if job["state"] not in ACTIVE or index in job["parts"]:
                job["skipped"] += job["state"] == CANCELLED
                return "skip"
            job["runs"][index] = job["runs"].get(index, 0) + 1
            job["owners"][index] = owner
            job["state"] = RUNNING
            return "go"

    def active(self, key: str, job_id: str) -> bool:
        with self.lock:
            job = self.jobs.get(key)
            return job is not None and job["job_id"] == job_id and job["state"] in ACTIVE

    def store(self, key: str, job_id: str, index: int, part: dict, seconds: float = 0.0) -> str:
        """'assemble' when this part completes the set, else 'stored' or the job's final state.
        `seconds`: how long the chunk took (for the waiting jobs' estimates)."""
        with self.lock:
            job = self.jobs.get(key)
            if job is None or job["job_id"] != job_id:
                return "skip"
            if job["state"] not in (PENDING, RUNNING):
                return job["state"]
            job["parts"][index] = part
            job["seconds"] += seconds
            if len(job["parts"]) == job["total"]:
                job["state"] = ASSEMBLING
                return "assemble"
            return "stored"

    def parts(self, key: str, job_id: str) -> list[dict] | None:
        with self.lock:
            job = self.jobs.get(key)
            if job is None or job["job_id"] != job_id or len(job["parts"]) != job["total"]:
                return None
            return [job["parts"][i] for i in range(job["total"])]

    def finish(self, key: str, job_id: str, state: str, error: str | None = None) -> bool:
        with self.lock:
            job = self.jobs.get(key)
            if job is None or job["job_id"] != job_id or job["state"] not in ACTIVE:
                return False
            job.update(state=state, error=error, parts={})  # parts are not kept once the job is over
            return True

    def cancel(self, key: str) -> bool:
        with self.lock:
            job = self.jobs.get(key)
            if job is None or job["state"] not in (PENDING, RUNNING):
                return False
            job.update(state=CANCELLED, parts={})
            return True

    def touch(self, key: str) -> None:
        """Someone is watching the job (a page polling it, an API or CLI status call)."""
        with self.lock:
            job = self.jobs.get(key)
            if job is not None:
                job["watched"] = time.time()

    def unwatched(self, key: str, job_id: str, grace: float) -> bool:
        """The job is active and nobody has asked about it for `grace` seconds."""
        with self.lock:
            job = self.jobs.get(key)
            return (job is not None and job["job_id"] == job_id and job["state"] in ACTIVE
                    and time.time() - job["watched"] > grace)

    def report(self, key: str, job_id: str, done: int, total: int) -> None:
        """A running chunk's progress (see JobStatus.chunk_progress)."""
        with self.lock:
            job = self.jobs.get(key)
            if job is not None and job["job_id"] == job_id:
                job["progress"] = [int(done), int(total)]

    def renew(self, key: str, job_id: str, index: int) -> None:
        """A chunk's lease: nothing to renew in one process (its chunks die with it)."""

    def lost_chunks(self, key: str) -> list[int]:
        return []

    def status(self, key: str) -> JobStatus | None:
        with self.lock:
            job = self.jobs.get(key)
            if job is None:
                return None
            done = job["total"] if job["state"] == DONE else len(job["parts"])
            status = JobStatus(key, public_state(job["state"]), done, job["total"], job["error"], job["job_id"],
                               stale_job(job["state"], job["queued"], job["created"]), chunk_progress=job["progress"])
            if job["state"] in ACTIVE:
                others = [j for k, j in self.jobs.items() if k != key and j["state"] in ACTIVE]
                status.ahead = sum(j["created"] <= job["created"] for j in others) if job["state"] == PENDING else 0
                timed = [(j["seconds"], len(j["parts"])) for j in self.jobs.values() if j["parts"]]
                chunk_s = (sum(t for t, _ in timed) / sum(n for _, n in timed)) if timed else DEFAULT_CHUNK_S
                status.eta_s = eta(job["total"] - done, chunk_s, len(others))
            return status

    def runs(self, key: str) -> dict[int, int]:
        """How many times each chunk was started (more than once only after a worker was lost)."""
        with self.lock:
            job = self.jobs.get(key)
            return dict(job["runs"]) if job else {}

    def skipped(self, key: str) -> int:
        with self.lock:
            job = self.jobs.get(key)
            return job["skipped"] if job else 0
