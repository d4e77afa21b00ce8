"""The job kind "train" (`TRAIN_KIND`, listed in compute/kinds/__init__.py): train a zoo model with one
of its presets and a seed on the offline demo data and record the run, through the job layer, so
the embedded executor or any Celery worker trains it with compute/training.py's loop. One chunk,
run in the embedded executor's "long" lane, lending the right to compute between its steps; not
estimated (training is not a grid of points)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from models.errors import BadInput

from ..chunks import single_chunk
from ..computing import lend
from ..evaluator import Progress
from ..queries import Query
from ..store import Store
from ..training import check_training, train


@dataclass(frozen=True)
class TrainQuery(Query):
    """Train a zoo model with one of its presets and a seed on the offline demo data, and record the
    run (compute/training.py): the job of `landscape serve --demo`. Its result names the run."""

    kind: ClassVar[str] = "train"
    model: str
    preset: str = "small"
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "seed", check_training(self.model, self.preset, self.seed))

    @classmethod
    def from_json(cls, obj: dict) -> "TrainQuery":
        if obj.get("kind") != cls.kind:
            raise BadInput(f"not a train query: kind {obj.get('kind')!r}")
        return cls(obj["model"], obj["preset"], obj["seed"])


@dataclass
class TrainResult:
    """What a training job leaves in the cache: the run it recorded (in the runs folder)."""

    run: str  # the run id
    final_step: int
    epochs: float  # epochs trained (early stopping may end before the preset's most)
    final_valid_cost: float | None
    query: dict
    key: str

    def to_json(self) -> dict:
        return {"run": self.run, "final_step": self.final_step, "epochs": self.epochs,
                "final_valid_cost": self.final_valid_cost, "query": self.query, "key": self.key}

    @classmethod
    def from_json(cls, obj: dict) -> "TrainResult":
        return cls(obj["run"], obj["final_step"], obj["epochs"], obj.get("final_valid_cost"), obj["query"], obj["key"])


def train_job(query: TrainQuery, store: Store, progress: Progress | None = None) -> TrainResult:
    """A training job's one chunk: `train` on the offline demo data, quietly (a worker's stderr)."""
    def step(done: int, total: int) -> None:
        if progress is not None:
            progress(done, total)  # may raise to cancel
        lend()  # a line asked for meanwhile computes now, not after the whole run

    run = train(query.model, query.preset, query.seed, store=store, progress=False, step_progress=step)
    final = next(s for s in run.manifest["steps"] if s["step"] == run.final_step)
    return TrainResult(run.id, run.final_step, float(run.manifest["steps"][-1].get("epoch", 0.0)),
                       final.get("cost", {}).get("valid"), query.to_json(), query.key())


def _check_trained(query: TrainQuery, result: dict) -> None:
    if not str(result.get("run", "")).startswith(f"{query.model}-{query.preset}-s{query.seed}-"):
        raise ValueError(f"the run {result.get('run')!r} is not of {query.model}/{query.preset} seed {query.seed}")


TRAIN_KIND = single_chunk("train", TrainQuery, TrainResult, train_job, _check_trained, with_progress=True,
                          lane="long")
