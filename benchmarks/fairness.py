"""Fair scheduling: the latency of a new 50-point line alone, and while a 201x201 surface is being
computed, through the job layer (the embedded executor by default: round robin over the active
jobs; with REDIS_URL set and workers running, Celery's priorities by chunk index). Target: with
the surface running, at most 3x alone.

    python benchmarks/fairness.py                   # trains relu-mnist/small in LANDSCAPE_HOME if missing
    python benchmarks/fairness.py --reps 5

Each line asks for a range no one asked before (so nothing comes from the cache); the surface is
cancelled at the end. The lines alone are timed before the surface and again after it. Prints the
medians and their ratio side by side, and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--points", type=int, default=50)
    args = parser.parse_args()

    from compute.jobs.backend import get_jobs, run_job
    from compute.kinds.line import LineQuery
    from compute.kinds.surface.query import SurfaceQuery
    from compute.kinds import resolve
    from compute.store import Store
    from compute.training import train

    store = Store()
    run = next((r for r in store.list_runs() if r.model_id == "relu-mnist" and r.preset == "small"), None)
    run = run or train("relu-mnist", "small", 0, store=store, progress=False)
    jobs = get_jobs()
    stamp = time.time() % 1000  # ranges no earlier run of this benchmark asked for

    def line_latency(i: int) -> float:
        query = resolve(LineQuery(f"init:{run.id}", f"final:{run.id}", -0.5 - stamp / 1e4 - i / 1e6, 1.5,
                                  args.points), store)
        started = time.perf_counter()
        run_job(query, jobs, poll=0.02)
        return time.perf_counter() - started

    line_latency(-1)  # loads the data and the model once: not part of either measurement
    load = os.getloadavg()
    alone = [line_latency(i) for i in range(args.reps)]
    surface = resolve(SurfaceQuery(run.id, "random-plane", -1.0, 1.0, -1.0, 1.0, 201, 201, seed=int(stamp)), store)
    jobs.submit(surface)
    key = surface.key()
    deadline = time.monotonic() + 120
    while jobs.status(key).done < 1 and time.monotonic() < deadline:  # the surface is under way
        time.sleep(0.05)
    try:
        busy = []
        for i in range(args.reps):
            busy.append(line_latency(100 + i))
            jobs.status(key)  # we are still watching the surface (else it is cancelled as unwatched)
        status = jobs.status(key)
    finally:
        jobs.cancel(key)
    settle = time.monotonic() + 120
    while not jobs.status(key).finished and time.monotonic() < settle:  # the surface's chunk under way ends
        time.sleep(0.05)
    # alone again after the surface: the machine's speed drifts (other work shares it), and the
    # median of both sides of the busy measurements is the fairer reference
    alone += [line_latency(200 + i) for i in range(args.reps)]
    a, b = statistics.median(alone), statistics.median(busy)
    print(f"new {args.points}-point line on {run.id} ({type(jobs).__name__}), {args.reps} reps busy, "
          f"{len(alone)} alone (before and after); load average {load[0]:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after")
    print(f"  alone:                        median {a:.3f} s  (min {min(alone):.3f}, max {max(alone):.3f})")
    print(f"  while a 201x201 surface runs: median {b:.3f} s  (min {min(busy):.3f}, max {max(busy):.3f}); "
          f"surface at chunk {status.done} of {status.total}")
    print(f"  ratio busy / alone: {b / a:.2f}x  (target <= 3x); surface chunks of about "
          f"{surface.rows * surface.columns // status.total} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
