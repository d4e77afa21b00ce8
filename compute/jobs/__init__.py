"""The one job layer: a query in, its result in the cache under the query key, once per key.

    result = run_job(query)           # submit, wait, the result's JSON (what the CLI does)
    result = execute(query, Store())  # the result object, computed here chunk by chunk, no board nor cache
    jobs = get_jobs()                 # compute/jobs/backend.py: LocalJobs, or CeleryJobs when REDIS_URL is set
    status = jobs.submit(query)       # returns at once; one job per query.key(), however many ask
    status = jobs.status(query.key()) # JobStatus: state, done/total chunks, error, finished
    result = jobs.result(query.key()) # the result's JSON from the cache, or None
    jobs.cancel(query.key())          # chunks not yet run are skipped, a running one stops; nothing is cached

How a job runs. `submit` splits the query's grid into chunks (`ChunkKind.split`) and records the
job on a *board* (LocalBoard in this process; RedisBoard in compute/jobs/redis_board.py, shared by every
process that uses the same Redis). Each chunk is one call of `run_chunk` (a Celery task on any
worker, or the embedded default's thread), which
  1. claims the chunk (atomically: skipped if the job was cancelled, failed or replaced, or the
     chunk's part is already in; so a redelivered or duplicated chunk is harmless),
  2. computes it with the kind's `compute` through the existing compute functions (the one
     evaluator), checking between evaluation steps whether the job was cancelled,
  3. stores its part on the board; the chunk that completes the set assembles the parts, checks the
     result (`ChunkKind.check`: shape, the query it answers, finite values or null) and only then
     writes it to the result cache (compute/jobs/cache.py) under the query key.
A chunk that raises fails the whole job with its message; no partial result is ever cached.
`execute` computes a query in this process with the same chunks, without a board; what a chunk
keeps beside its result (an adaptive line's points) goes to the default backend's cache.

A damaged cache entry is a miss. Every read of a result (`submit`, `status`, `result`) goes through
`cached`, which reads the entry and checks it as the job checked it before writing it (`entry_check`:
the query it carries has this key, `ChunkKind.check`, the result type reads it); an entry that does
not read or check is logged once and computed again (a new job, forced past a board that says
"done"), and the recomputed result replaces it atomically. So a board never reports as done a
job whose result cannot be read back: its status is that of the job that recomputes it.

The kinds (how a query is split, computed, assembled and checked: compute/chunks.py) are listed
in compute/kinds/__init__.py; `split` is always given `chunk_points(query, store)`, so every path
(embedded, Celery, `execute`) computes the same chunks and so the same values.

Fairness and budget. `submit` refuses a query whose estimated work is above LANDSCAPE_MAX_WORK
(compute/budget.py). Chunks are sized by that estimate to about a second each (`chunk_points`:
at most CHUNK_POINTS points for a line; a surface's chunks are whole rows or parts of a row, see
compute/kinds/surface/kind.py `split_surface`), and the chunks of different jobs take turns: the job with
the fewest chunks run goes next in the embedded executor (round robin among equals), priorities
by chunk index on Celery (compute/jobs/celery_app.py), so a new small job runs its first chunks next,
whatever a big one still has queued: it waits for the chunk under way at most. A job that nobody
watches (no `status` call: a page polling it, the API or the CLI waiting for it) for
LANDSCAPE_UNWATCHED_GRACE seconds is cancelled before its next chunk.

The modules, each importing only those above it:
  cache.py        the result caches (files, Redis), Redis connections, and the one choice of backend
  base.py         run_chunk, BaseJobs (submit, status, result, cancel), execute
  local.py        LocalBoard and LocalJobs: the embedded default
  redis_board.py  RedisBoard: the same records in Redis, one Lua script per transition
  celery_app.py   the Celery app, its chunk task, CeleryJobs
  backend.py      get_jobs (LocalJobs or CeleryJobs, chosen by cache.backend_url) and run_job
  worker.py       `landscape worker` / `python -m compute.jobs.worker`
Below the package, so that what a job computes and the app use them without importing the job
layer: a job's states and JobStatus (compute/job_status.py), the cache a chunk keeps its by-products
in (compute/job_context.py), and the job system's errors, ServiceError: RedisUnavailable (503),
JobFailed (422), not bad input (compute/service_errors.py).
"""

from .backend import get_jobs, run_job
from .base import execute

__all__ = ["execute", "get_jobs", "run_job"]
