"""What the dashboard knows about the recorded runs: a light, read-only summary of the store.

The pages need run ids, labels, seeds and recorded steps many times per request; reading every
manifest each time would be wasteful, so the summary is rebuilt only when the runs folder
changes (a run appears in it by an atomic rename, which changes the folder's mtime).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from models import MODELS
from models.errors import BadInput
from compute.sources import source_of
from compute.store import Store, run_matches, unknown_run


@dataclass(frozen=True)
class RunInfo:
    id: str
    model: str
    preset: str
    seed: int
    steps: tuple[int, ...]
    epochs: tuple[float, ...]  # epoch of each recorded step
    final_step: int
    final_valid_cost: float | None = None
    dropout: bool = False  # the model applies dropout in training (a Monte-Carlo line is possible)
    family: str = ""  # runs of one family share architecture and data: their θ can be joined by a line
    batchnorm: bool = False  # a BatchNorm policy applies to its lines and surfaces
    imported: bool = False  # the user's own model (landscape import / Recorder)
    objective: str = ""  # the cost J's name (cross-entropy, squared-error, ...): what its scale is

    @property
    def label(self) -> str:
        if self.imported:
            return f"{self.model} · imported"
        return f"{self.model} · {self.preset} · seed {self.seed}"


@dataclass(frozen=True)
class RunCatalog:
    """The known runs: everything URL parsing needs to know about the world. (Called a catalog,
    not a context, so that it is never mistaken for Dash's callback `ctx`.)"""

    runs: tuple[RunInfo, ...] = ()

    def get(self, run_id: str | None) -> RunInfo | None:
        return next((r for r in self.runs if r.id == run_id), None)

    def seed_of(self, run_id: str) -> int | None:
        """The seed of a run known here (None for another): what tells two solutions apart."""
        run = self.get(run_id)
        return run.seed if run is not None else None

    def find(self, ref: str) -> RunInfo | None:
        """A run by full id, or by a unique prefix such as `relu-mnist-small-s0` (model, preset,
        seed): what a person types, by the store's rule (compute.store.run_matches)."""
        hits = run_matches(ref, (r.id for r in self.runs))
        return self.get(hits[0]) if len(hits) == 1 else None

    def lookup(self, ref: str, field: str = "run") -> RunInfo:
        """`find`, or BadInput: unknown, or ambiguous with its candidates listed."""
        if not ref:
            raise BadInput("no run given", field=field)
        run = self.find(ref)
        if run is None:
            raise unknown_run(ref, run_matches(ref, (r.id for r in self.runs)), field)
        return run

    def default_run(self) -> RunInfo | None:
        """relu-mnist/small seed 0 (the paper's Figs 2 and 4), else the first run."""
        ranked = sorted(self.runs, key=lambda r: (r.model != "relu-mnist", r.preset != "small", r.seed, r.id))
        return ranked[0] if ranked else None

    def siblings(self, run_id: str | None) -> list[RunInfo]:
        """Other seeds of the same model and preset (for the final→final pair)."""
        run = self.get(run_id)
        if run is None:
            return []
        return sorted((r for r in self.runs if r.family == run.family and r.id != run.id),
                      key=lambda r: (r.seed, r.id))

    def trained(self) -> list[tuple[str, str, int]]:
        """(model, preset, seed) of every run: what app.demo compares the demo runs with."""
        return [(r.model, r.preset, r.seed) for r in self.runs]

    def one_per_model(self, limit: int = 6) -> list[RunInfo]:
        """The lowest-seed run of each model: the default set of the compare view (Fig. 3)."""
        best: dict[str, RunInfo] = {}
        for r in sorted(self.runs, key=lambda r: (r.preset != "small", r.seed, r.id)):
            best.setdefault(r.model, r)
        return sorted(best.values(), key=lambda r: r.model)[:limit]


def run_seed(run) -> int:
    """A recorded run's seed (an imported run records none: 0), as the page and the CLI label it."""
    return int(run.manifest.get("seed", 0))


def info(run) -> RunInfo:
    final = next((s for s in run.manifest["steps"] if s["step"] == run.final_step), {})
    return RunInfo(run.id, run.model_id, run.preset, run_seed(run), tuple(run.steps),
                   tuple(float(s.get("epoch", 0.0)) for s in run.manifest["steps"]), run.final_step,
                   final.get("cost", {}).get("valid"), _uses_dropout(run), run.family,
                   bool(run.manifest.get("batchnorm")), "source" in run.manifest, _objective(run.manifest))


def _objective(manifest: dict) -> str:
    """The objective's name, read from the manifest (an imported run's loss is never built here)."""
    if "source" in manifest:
        return (manifest["source"].get("loss") or {}).get("kind", "")  # cross-entropy | mse | callable
    spec = MODELS.get(manifest.get("model"))
    return spec.objective_name if spec is not None else ""


def _uses_dropout(run) -> bool:
    try:
        return source_of(run.manifest).uses_dropout()
    except BadInput:  # a run of a model or preset this version does not have
        return False


_lock = threading.Lock()
_cached: dict[str, tuple[int, RunCatalog]] = {}


def load_catalog(store: Store | None = None) -> RunCatalog:
    """The runs of `store` (default: $LANDSCAPE_HOME), re-read only when the runs folder changes."""
    store = store or Store()
    try:
        stamp = os.stat(store.runs_dir).st_mtime_ns
    except OSError:
        return RunCatalog()
    key = str(store.runs_dir)
    with _lock:
        hit = _cached.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    catalog = RunCatalog(tuple(info(r) for r in store.list_runs()))
    with _lock:
        _cached[key] = (stamp, catalog)
    return catalog
