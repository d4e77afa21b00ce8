"""The job kind "curve" (`CURVE_KIND`, listed in compute/kinds/__init__.py): a curve of low cost
between two solutions (Garipov et al., NeurIPS 2018; the curves and the bend's training:
compute/curves.py), trained on a worker like a run and recorded like one.

    landscape curve --from final:A --to final:B --bends 1 [--kind bezier|polychain] [--epochs N]

One chunk in the "long" lane, with progress and cancel: the bend is trained by SGD on minibatches
of the training split, with the first run's learning rate, final momentum and batch size (its
preset's, recorded in the run) for as many epochs as the run trained at most unless --epochs says;
then J is evaluated exactly on whole splits at `points` values of t ∈ [0, 1] along the curve and
along the straight line, with the metrics of any line (barrier, monotone: compute/metrics.py). With
BatchNorm, the statistics are re-estimated at every point of both (the original's protocol).

The curve's record, under $LANDSCAPE_HOME/curves/ID: manifest.json (the query, the two runs' ids,
which end in their content digests, the training's hyper-parameters, the bend file's SHA-256) and
bend.safetensors (θ_b, float32). ID ends in a digest of the manifest, and the query's key names
both runs by digest: the same request always names the same curve.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from models.errors import BadInput

from ..chunks import single_chunk
from ..computing import lend
from ..curves import CURVE_KINDS, CurveTraining, coefficients, curve_basis, train_bend
from ..evaluator import EvalOptions, Evaluator, Progress
from ..metrics import line_metrics
from ..queries import Endpoint, Query, resolve_endpoint
from ..resources import buffer_basis, evaluator_for, theta_of
from ..scoring import Evaluation
from ..sources import source_of
from ..store import Run, Store, sha256_file
from ..validate import parse_choice, parse_int, parse_seed, parse_splits

MOST_EPOCHS = 1000
MOST_POINTS = 201


@dataclass(frozen=True)
class CurveQuery(Query):
    """Train the bend of a curve from `start` to `end` (final:A, final:B) and evaluate J along it."""

    kind: ClassVar[str] = "curve"
    start: Endpoint
    end: Endpoint
    curve: str = "bezier"
    bends: int = 1
    epochs: int | None = None  # None: the first run's most epochs
    seed: int = 0
    points: int = 21
    splits: tuple[str, ...] = ("train",)

    def __post_init__(self):
        for name in ("start", "end"):
            endpoint = Endpoint.of(getattr(self, name), name)
            if endpoint.kind != "final" or endpoint.aligned_to is not None:
                raise BadInput(f"a curve joins two solutions: {name} must be final:RUN, got {endpoint}", field=name)
            object.__setattr__(self, name, endpoint)
        parse_choice(self.curve, "kind", CURVE_KINDS, what="curve kind")
        if parse_int(self.bends, "bends", minimum=1, what="bends") != 1:
            raise BadInput("one bend is what is built (--bends 1): the quadratic Bézier curve or the polygonal "
                           "chain of Garipov et al.", field="bends")
        epochs = None if self.epochs is None else parse_int(self.epochs, "epochs", minimum=1, what="epochs")
        if epochs is not None and epochs > MOST_EPOCHS:
            raise BadInput(f"epochs must be at most {MOST_EPOCHS}, got {epochs}", field="epochs")
        points = parse_int(self.points, "points", minimum=3, what="points")
        if points > MOST_POINTS:
            raise BadInput(f"points must be at most {MOST_POINTS}, got {points}", field="points")
        for name, value in (("bends", 1), ("epochs", epochs), ("seed", parse_seed(self.seed, "seed")),
                            ("points", points), ("splits", parse_splits(self.splits))):
            object.__setattr__(self, name, value)

    @classmethod
    def from_json(cls, obj: dict) -> "CurveQuery":
        if obj.get("kind") != cls.kind:
            raise BadInput(f"not a curve query: kind {obj.get('kind')!r}")
        return cls(obj["start"], obj["end"], obj["curve"], obj["bends"], obj["epochs"], obj["seed"], obj["points"],
                   tuple(obj["splits"]))


def resolve_curve(query: CurveQuery, store: Store) -> CurveQuery:
    """Both runs by full id; refused when they cannot be joined (another architecture or data)."""
    start, end = resolve_endpoint(query.start, store), resolve_endpoint(query.end, store)
    a, b = store.load(start.run), store.load(end.run)
    if a.id == b.id:
        raise BadInput(f"a curve joins two runs: both ends are {a.id}", field="end")
    if a.family != b.family or a.layout != b.layout:
        raise BadInput(f"runs {a.id} and {b.id} are not of one model and data: no curve joins them", field="end")
    return replace(query, start=start, end=end)


@dataclass
class CurveResult:
    """The trained curve's record id, and J along it and along the straight line, at the same t."""

    curve: str  # the record's id (compute/kinds/curve.py: $LANDSCAPE_HOME/curves/ID)
    t: list[float]
    cost: dict[str, list[float]]  # split -> J(θ(t)) along the curve
    line_cost: dict[str, list[float]]  # split -> J((1 - t) θ_A + t θ_B)
    metrics: dict  # {"curve": {split: line metrics}, "line": {split: ...}}
    training: dict  # epochs, steps, lr, momentum, batch_size, seconds
    query: dict
    key: str
    meta: dict

    def to_json(self) -> dict:
        return {"curve": self.curve, "t": self.t, "cost": self.cost, "line_cost": self.line_cost,
                "metrics": self.metrics, "training": self.training, "query": self.query, "key": self.key,
                "meta": self.meta}

    @classmethod
    def from_json(cls, obj: dict) -> "CurveResult":
        return cls(obj["curve"], obj["t"], obj["cost"], obj["line_cost"], obj["metrics"], obj["training"],
                   obj["query"], obj["key"], obj.get("meta", {}))


# ------------------------------------------------------------------------------------------ the record
def save_curve(store: Store, manifest: dict, bend: torch.Tensor) -> str:
    """Write the record (staged, then renamed into place: whole or absent) and return its id."""
    root = store.home / "curves"
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        save_file({"bend": bend.detach().float().contiguous().cpu()}, str(staging / "bend.safetensors"))
        manifest = dict(manifest, bend_sha256=sha256_file(staging / "bend.safetensors"))
        digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
        curve_id = manifest["id"] = f"curve-{manifest['query']['curve']}-{digest[:12]}"
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
        final = root / curve_id
        if final.exists():  # the same curve was trained before
            shutil.rmtree(staging)
        else:
            os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return curve_id


def load_curve(store: Store, curve_id: str) -> tuple[dict, torch.Tensor]:
    """(manifest, bend) of a recorded curve, its bend checked against the manifest's digest."""
    if not curve_id or "/" in curve_id or curve_id.startswith("."):
        raise BadInput(f"malformed curve id {curve_id!r}", field="curve")
    path = store.home / "curves" / curve_id
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError):
        raise BadInput(f"unknown curve {curve_id!r}; `landscape curve` trains one", field="curve") from None
    if sha256_file(path / "bend.safetensors") != manifest.get("bend_sha256"):
        raise BadInput(f"curve {curve_id}: its bend is corrupted or was modified (digest mismatch)", field="curve")
    return manifest, load_file(str(path / "bend.safetensors"))["bend"]


def recorded_curves(store: Store, start: str, end: str) -> list[str]:
    """The ids of the recorded curves from run `start` to run `end` (full ids), sorted."""
    found = []
    for path in sorted((store.home / "curves").glob("curve-*/manifest.json")):
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError):  # a record being written or damaged: load_curve says which
            continue
        if (manifest.get("start"), manifest.get("end")) == (start, end):
            found.append(path.parent.name)
    return found


# ------------------------------------------------------------------------------------------ J along a curve
def curve_end_buffers(a: Run, b: Run) -> torch.Tensor | None:
    """(2, B) the two solutions' own buffers (BatchNorm statistics) at their final steps; None without."""
    start = buffer_basis(a, [a.final_step])
    return None if start is None else torch.cat([start, buffer_basis(b, [b.final_step])])


def evaluate_curve(evaluator: Evaluator, kind: str, theta_a: torch.Tensor, bend: torch.Tensor,
                   theta_b: torch.Tensor, end_buffers: torch.Tensor | None, t: np.ndarray, splits: Sequence[str],
                   progress: Progress | None = None, options: EvalOptions = EvalOptions()) -> Evaluation:
    """J at θ(t) = c(t) · (θ_A, θ_b, θ_B) for every t, on each split: the one path by which both the
    curve job and `line --curve` (compute/kinds/line.py) evaluate a curve. The bend's buffers are
    the mean of the ends' (with bn=recompute they are re-estimated at every point anyway)."""
    buffers = None
    if end_buffers is not None:
        buffers = torch.stack([end_buffers[0], 0.5 * (end_buffers[0] + end_buffers[1]), end_buffers[1]])
    return evaluator.evaluate(curve_basis(theta_a, bend, theta_b), coefficients(kind, t), splits, progress,
                              buffer_basis=buffers, options=options)


# ------------------------------------------------------------------------------------------ the job
def _training(query: CurveQuery, hyperparameters: dict) -> CurveTraining:
    """The first run's own SGD settings (its momentum at the end of training), the query's epochs and seed."""
    momentum = hyperparameters.get("final_momentum")
    return CurveTraining(epochs=query.epochs or int(hyperparameters.get("max_epochs", 10)),
                         batch_size=int(hyperparameters.get("batch_size", 50)), lr=float(hyperparameters.get("lr", 0.05)),
                         momentum=float(momentum if momentum is not None else hyperparameters.get("momentum", 0.9)),
                         seed=query.seed)


def train_curve(query: CurveQuery, store: Store, progress: Progress | None = None) -> CurveResult:
    """The curve job's one chunk: train the bend, record the curve, evaluate J along it and the line."""
    started = time.perf_counter()
    a, b = store.load(query.start.run), store.load(query.end.run)
    source = source_of(a.manifest)
    evaluator = evaluator_for(a)  # the device and the data: the bend trains on the split J is evaluated on
    if not evaluator.in_memory("train"):
        raise BadInput("a curve's bend is trained on a training split held in memory (tensors); this run's "
                       "data is read in batches", field="start")
    theta_a, theta_b = theta_of(a, a.final_step), theta_of(b, b.final_step)
    training = _training(query, a.manifest.get("hyperparameters") or {})

    def step(done: int, total: int) -> None:
        if progress is not None:
            progress(done, total)  # may raise to cancel
        lend()  # a line asked for meanwhile computes now, not after the whole curve

    x, y = evaluator.tensors(["train"])
    # its own module, not the evaluator's: training mode (dropout, batch statistics) must not reach the
    # evaluations other threads run meanwhile on the shared one
    bend = train_bend(source.build(None), source.objective(), x, y, theta_a, theta_b, query.curve, training,
                      progress=step).cpu()
    trained = time.perf_counter() - started
    curve_id = save_curve(store, {"query": query.to_json(), "key": query.key(), "start": a.id, "end": b.id,
                                  "training": vars(training)}, bend)
    t = np.linspace(0.0, 1.0, query.points)
    recompute = bool(a.manifest.get("batchnorm"))
    ends = curve_end_buffers(a, b)
    bn = "recompute" if recompute else "interpolate"
    options = EvalOptions(bn=bn)
    on_curve = evaluate_curve(evaluator, query.curve, theta_a, bend, theta_b, ends, t, query.splits, options=options)
    line = evaluator.line(theta_a, theta_b, t, query.splits, buffer_basis=ends, options=options)
    cost = {s: m.cost.tolist() for s, m in on_curve.splits.items()}
    line_cost = {s: m.cost.tolist() for s, m in line.splits.items()}
    metrics = {"curve": {s: line_metrics(t, v) for s, v in cost.items()},
               "line": {s: line_metrics(t, v) for s, v in line_cost.items()}}
    return CurveResult(curve_id, t.tolist(), cost, line_cost, metrics,
                       dict(vars(training), steps_seconds=round(trained, 3)), query.to_json(), query.key(),
                       {"start": a.id, "end": b.id, "bn": bn if recompute else None,
                        "seconds": round(time.perf_counter() - started, 3)})


def _check_curve(query: CurveQuery, result: dict) -> None:
    for name in ("cost", "line_cost"):
        if list(result[name]) != list(query.splits) or any(len(v) != query.points for v in result[name].values()):
            raise ValueError(f"{name} is not {query.points} values for each of {list(query.splits)}")


CURVE_KIND = single_chunk("curve", CurveQuery, CurveResult, train_curve, _check_curve, with_progress=True,
                          lane="long", resolve=resolve_curve)
