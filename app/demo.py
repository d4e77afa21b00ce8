"""The demo runs `landscape serve --demo` trains the first time (small presets, offline demo
data; a few minutes on a 2-core CPU in all), found again on later starts by model, preset and seed.

They are trained through the job layer: one `TrainQuery` job per missing run, submitted to
`compute.jobs.backend.get_jobs()`, so the embedded executor trains them in the serving process, or with
REDIS_URL set any `landscape worker` does (its runs folder must be the server's: the same
LANDSCAPE_HOME, or the shared volume of docker-compose.yml). Each run appears in the pages as it
finishes: the run pickers follow the runs folder (app/runs.py), and the page's banner
(`demo_status`, also /api/demo.json) shows the training's progress meanwhile.

A job nobody watches is cancelled after LANDSCAPE_UNWATCHED_GRACE seconds; nobody may have the page
open while the demo runs train, so `ensure_demo_runs` itself watches them: it asks for their status
every quarter of that grace (at most every 5 s) until every one is over.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, Iterable

from compute.job_status import FINISHED, PENDING, RUNNING, JobStatus
from compute.jobs.backend import get_jobs
from compute.jobs.base import unwatched_grace
from compute.service_errors import RedisUnavailable
from compute.kinds.train import TrainQuery
from compute.store import Store
from models import get_model
from models.errors import BadInput

# (model, seed): relu-mnist has two seeds for the final→final pair (Fig. 5)
DEMO_RUNS: tuple[tuple[str, int], ...] = (
    ("relu-mnist", 0), ("relu-mnist", 1), ("sigmoid-mnist", 0), ("maxout-mnist", 0),
    ("deep-linear-mnist", 0), ("scalar-linear", 0),
)
PRESET = "small"
MAX_BACKOFF_S = 8.0  # the longest wait between status checks while Redis is unreachable

Log = Callable[[str], None]


def training_progress(query: TrainQuery, status: JobStatus | None) -> dict:
    """A training job as the page and /api/demo.json show it: its state, and while it runs the
    percentage of the preset's most steps done and the epoch under way."""
    epochs = get_model(query.model).presets[query.preset].train.max_epochs
    out = {"model": query.model, "preset": query.preset, "seed": query.seed, "key": query.key(),
           "state": status.state if status is not None else "missing", "percent": None, "epoch": None,
           "epochs": epochs, "error": status.error if status is not None else None}
    if status is not None and status.state == RUNNING:
        done, total = status.chunk_progress or (0, 0)
        out["percent"] = 100.0 * done / total if total else 0.0
        out["epoch"] = min(epochs, done // max(1, total // epochs) + 1) if total else 1
    return out


def missing_demo_runs(present: Iterable[tuple[str, str, int]]) -> list[TrainQuery]:
    """The training jobs of the demo runs not among `present` ((model, preset, seed) of the runs)."""
    have = set(present)
    return [TrainQuery(m, PRESET, s) for m, s in DEMO_RUNS if (m, PRESET, s) not in have]


def _present(store: Store) -> list[tuple[str, str, int]]:
    return [(r.model_id, r.preset, int(r.manifest.get("seed", -1))) for r in store.list_runs()]


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _submit(jobs, query: TrainQuery, store: Store) -> None:
    """Submit one training job. A result cached for a run no longer in the runs folder (deleted
    since) would answer at once without a run: it is dropped and the run trained again."""
    status = jobs.submit(query)
    if status.state == "done" and not _has_run(store, (jobs.result(query.key()) or {}).get("run")):
        jobs.cache.delete(query.key())
        jobs.submit(query)


def _has_run(store: Store, run_id: str | None) -> bool:
    try:
        return run_id is not None and store.load(run_id).id == run_id
    except BadInput:
        return False


def watch_interval() -> float:
    """Seconds between status checks of the demo jobs: well inside LANDSCAPE_UNWATCHED_GRACE."""
    return max(0.2, min(5.0, unwatched_grace() / 4))


def ensure_demo_runs(store: Store | None = None, log: Log | None = None) -> list[str]:
    """Train the demo runs that are missing as jobs, watching them (so they are never cancelled as
    unwatched) with progress on stderr, until each is over; returns the new run ids. Redis
    unreachable (REDIS_URL set) is waited out, asking again with back-off."""
    store = store or Store()
    log = log or _stderr
    todo = missing_demo_runs(_present(store))
    if not todo:
        log(f"demo runs: all {len(DEMO_RUNS)} present in {store.runs_dir}")
        return []
    log(f"demo runs: training {len(todo)} of {len(DEMO_RUNS)} as jobs (small presets; once, later starts "
        "reuse them; progress on the page)")
    jobs, pause, submitted = get_jobs(), watch_interval(), False
    shown: dict[str, str] = {}  # key -> the line last logged
    made: list[str] = []
    while True:
        try:
            if not submitted:
                for query in todo:
                    _submit(jobs, query, store)
                submitted = True
            states = {q.key(): (q, jobs.status(q.key())) for q in todo}
            pause = watch_interval()
        except RedisUnavailable as exc:
            log(f"demo runs: {exc.message}")
            pause = min(MAX_BACKOFF_S, pause * 2)
            time.sleep(pause)
            continue
        for key, (query, status) in states.items():
            run = (jobs.result(key) or {}).get("run") if status is not None and status.state == "done" else None
            line = _logged(training_progress(query, status), run)
            if shown.get(key) != line:
                shown[key] = line
                log(line)
                if run is not None:
                    made.append(run)
        if all(s is None or s.state in FINISHED for _q, s in states.values()):
            return made
        time.sleep(pause)


def _logged(entry: dict, run: str | None) -> str:
    """One line of the terminal's log: a state, or the epoch under way (a line per epoch)."""
    label = f"demo run {label_of(entry)}"
    if entry["state"] == "missing":
        return f"{label}: its job is gone (Redis restarted without its data?)"
    if run is not None:
        return f"{label}: done, {run}"
    if entry["state"] == RUNNING and entry["epoch"] is not None:
        return f"{label}: epoch {entry['epoch']}/{entry['epochs']}"
    return f"{label}: {entry['state']}" + (f": {entry['error']}" if entry["error"] else "")


def label_of(entry: dict) -> str:
    """'relu-mnist/small seed 0': a training entry (`training_progress`) by name."""
    return f"{entry['model']}/{entry['preset']} seed {entry['seed']}"


def demo_status(present: Iterable[tuple[str, str, int]]) -> dict:
    """The demo runs' training as the page's banner and /api/demo.json show it: one entry per
    missing demo run whose training job exists (`training_progress`), and whether
    any is still pending or running. Asking counts as watching the jobs. RedisUnavailable (Redis
    unreachable) propagates."""
    jobs = get_jobs()
    entries = []
    for query in missing_demo_runs(present):
        status = jobs.status(query.key())
        if status is not None:  # no job: the server was started without --demo
            entries.append(training_progress(query, status))
    return {"training": entries, "active": any(e["state"] in (PENDING, RUNNING) for e in entries)}


def waiting_for_demo(present: Iterable[tuple[str, str, int]]) -> bool:
    """Whether a page with no runs should say it waits for the demo runs (they are training) rather
    than how to get a run. Redis unreachable: False (the banner says so)."""
    try:
        return demo_status(present)["active"]
    except Exception:
        return False
