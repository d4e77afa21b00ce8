"""The demo runs `landscape serve --demo` trains the first time (small presets, offline demo
data; about two to three minutes on a 2-core CPU in all), and finds again on later starts by
model, preset and seed.
"""

from __future__ import annotations

import sys
import time
from typing import Callable

from compute.store import Store

# (model, seed): relu-mnist has two seeds for the final→final pair (Fig. 5)
DEMO_RUNS: tuple[tuple[str, int], ...] = (
    ("relu-mnist", 0), ("relu-mnist", 1), ("sigmoid-mnist", 0), ("maxout-mnist", 0),
    ("deep-linear-mnist", 0), ("scalar-linear", 0),
)
PRESET = "small"


def missing_demo_runs(store: Store) -> list[tuple[str, int]]:
    have = {(r.model_id, r.preset, int(r.manifest.get("seed", -1))) for r in store.list_runs()}
    return [(m, s) for m, s in DEMO_RUNS if (m, PRESET, s) not in have]


def ensure_demo_runs(store: Store | None = None, log: Callable[[str], None] | None = None) -> list[str]:
    """Train the demo runs that are missing, with progress on stderr; returns the new run ids."""
    from compute.training import train

    store = store or Store()
    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    todo = missing_demo_runs(store)
    if not todo:
        log(f"demo runs: all {len(DEMO_RUNS)} present in {store.runs_dir}")
        return []
    log(f"demo runs: training {len(todo)} of {len(DEMO_RUNS)} (small presets; once, later starts reuse them)")
    made = []
    for i, (model, seed) in enumerate(todo, 1):
        started = time.perf_counter()
        log(f"[{i}/{len(todo)}] {model}/{PRESET} seed {seed} …")
        run = train(model, PRESET, seed, store=store, progress=True,
                    log=lambda line, m=model: print(f"    {m}: {line}", file=sys.stderr, flush=True))
        log(f"[{i}/{len(todo)}] {run.id} in {time.perf_counter() - started:.0f} s")
        made.append(run.id)
    return made
