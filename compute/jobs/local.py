"""The embedded default: jobs run in this process (`LocalJobs`), their records on a `LocalBoard`
in its memory, their results in the file-system cache under $LANDSCAPE_HOME/cache. No Redis.

`LocalBoard` has the operations and answers of compute/jobs/redis_board.py's `RedisBoard`, so
compute/jobs/base.py runs jobs on either the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

from ..job_status import (ACTIVE, ASSEMBLING, CANCELLED, DEFAULT_CHUNK_S, DONE, FAILED, PENDING, RUNNING,
                          JobStatus, eta, public_state, stale_job)
from ..kinds import kind_of
from ..store import Store
from .base import BaseJobs, failure_message, run_chunk
from .cache import ResultCache, file_cache

log = logging.getLogger(__name__)


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


LANES = ("compute", "long")  # ChunkKind.lane


class LocalJobs(BaseJobs):
    """The embedded default: jobs run in this process, one chunk at a time, round robin over the
    active jobs (see `_next`), on a thread per lane (training has its own, and lends the right to
    compute to the other between its steps: compute/computing.py); results go to the
    file-system cache under $LANDSCAPE_HOME/cache. No Redis."""

    def __init__(self, store: Store | None = None, cache: ResultCache | None = None):
        super().__init__(store)
        self.cache = cache or file_cache()
        self.board = LocalBoard()
        # key -> [job_id, chunks, query_json, index of its next chunk], in turn order
        self.turns: OrderedDict[str, list] = OrderedDict()
        self.running = 0
        self.wakeup = threading.Condition()
        # A thread per lane, daemons (a CLI that exits does not wait for them). Training (one chunk
        # of tens of seconds) has its own lane, and lends the right to compute between its steps
        # (compute/computing.py): a line asked for meanwhile runs then, not after the whole run.
        for lane in LANES:
            threading.Thread(target=self._loop, args=(lane,), name=f"landscape-jobs-{lane}", daemon=True).start()

    def _enqueue(self, key: str, job_id: str, chunks: list, query_json: dict) -> None:
        with self.wakeup:
            self.turns[key] = [job_id, chunks, query_json, 0]  # a new attempt at a key replaces the old
            self.wakeup.notify_all()  # the lanes' threads wait on one condition

    def idle(self) -> bool:
        """No job queued or running."""
        with self.wakeup:
            return not self.turns and not self.running

    def _next(self, lane: str) -> tuple:
        """The next chunk of `lane` to run: that of the job with the fewest chunks run so far (the
        first in turn order among equals), which then goes to the back of the line. So jobs of
        equal age alternate chunk by chunk, and a new job runs its first chunks next, as the chunk
        priorities do on Celery."""
        with self.wakeup:
            while not (mine := [k for k, turn in self.turns.items() if kind_of(turn[2]["kind"]).lane == lane]):
                self.wakeup.wait()
            key = min(mine, key=lambda k: self.turns[k][3])  # min keeps the first of equals
            turn = self.turns[key]
            job_id, chunks, query_json, index = turn
            turn[3] += 1
            if turn[3] >= len(chunks):
                del self.turns[key]
            else:
                self.turns.move_to_end(key)
            self.running += 1
            return key, job_id, chunks[index], index, query_json

    def _loop(self, lane: str) -> None:
        while True:
            key, job_id, chunk, index, query_json = self._next(lane)
            try:
                outcome = run_chunk(self.board, self.cache, self.store, key, job_id, index, chunk, query_json)
            except Exception as exc:  # the cache folder is unwritable, say: the job says so
                log.exception("job %s failed", key)
                self.board.finish(key, job_id, FAILED, failure_message(exc))
                outcome = "failed"
            with self.wakeup:
                self.running -= 1
                if (outcome in ("failed", "cancelled") or not self.board.active(key, job_id)) and \
                        self.turns.get(key, [None])[0] == job_id:
                    del self.turns[key]
