"""The SGD trajectory in the line's frame (appendix B, Figs 13 and 1 right).

u = (theta_f - theta_i) / ||theta_f - theta_i||, alpha(t) = (theta(t) - theta_i)^T u and
beta(t) = ||theta(t) - theta_i - alpha(t) u||. Computed in float64, one checkpoint at a time,
so a long run never sits in memory whole. The `Frame` is shared with the `paper` surface
(compute/kinds/surface/kind.py), whose rows follow each step's residual direction.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from models.errors import BadInput
from ..chunks import finite_or_null, single_chunk
from ..queries import Query, check_run_id
from ..resources import theta_of
from ..results import csv_table, json_safe
from ..store import Run, Store


@dataclass(frozen=True)
class TrajectoryQuery(Query):
    """alpha(t), beta(t), ||theta(t)|| and the learning curve of one run (appendix B)."""

    kind: ClassVar[str] = "trajectory"
    run: str

    def __post_init__(self):
        check_run_id(self.run)

    @classmethod
    def from_json(cls, obj: dict) -> "TrajectoryQuery":
        return cls(obj["run"])


def resolve_trajectory(query: TrajectoryQuery, store: Store) -> TrajectoryQuery:
    return dataclasses.replace(query, run=store.load(query.run).id)


@dataclass
class TrajectoryResult:
    step: list[int]
    epoch: list[float]
    alpha: list[float]  # projection on u, normalised by ||theta_f - theta_i|| (the line's alpha)
    alpha_distance: list[float]  # the same in parameter-space distance
    beta: list[float]  # norm of the residual
    theta_norm: list[float]
    residual_ratio: list[float]  # beta / ||theta(t)||
    cost: dict[str, list]  # learning curve: exact cost per recorded step
    error: dict[str, list]
    final_step: int
    distance: float  # ||theta_f - theta_i||
    query: dict
    key: str

    def to_json(self) -> dict:
        return json_safe(dict(self.__dict__))

    @classmethod
    def from_json(cls, obj: dict) -> "TrajectoryResult":
        return cls(**obj)

    def to_csv(self) -> str:
        columns = [(k, getattr(self, k)) for k in
                   ("step", "epoch", "alpha", "alpha_distance", "beta", "theta_norm", "residual_ratio")]
        columns += [(f"cost_{s}", v) for s, v in self.cost.items()]
        columns += [(f"error_{s}", v) for s, v in self.error.items()]
        return csv_table(columns)


@dataclass
class Frame:
    """A run in the line's frame: theta_i, theta_f and every recorded step's (alpha, beta)."""

    run: Run
    theta_i: torch.Tensor  # float64
    theta_f: torch.Tensor
    distance: float  # D
    steps: list[int]
    alpha: np.ndarray  # (T,) normalised by D
    alpha_distance: np.ndarray  # (T,) the same in parameter-space distance: (theta(t) - theta_i)^T u
    beta: np.ndarray  # (T,) residual norm
    theta_norm: np.ndarray  # (T,) ||theta(t)||
    chord: np.ndarray  # (T-1,) ||theta(t_k+1) - theta(t_k)||

    def theta(self, k: int) -> torch.Tensor:
        return theta_of(self.run, self.steps[k]).double()

    def residual(self, k: int) -> torch.Tensor:
        return self.theta(k) - self.theta_i - float(self.alpha[k]) * (self.theta_f - self.theta_i)


def line_frame(run: Run) -> Frame:
    theta_i = theta_of(run, run.init_step).double()
    theta_f = theta_of(run, run.final_step).double()
    direction = theta_f - theta_i
    distance = float(torch.linalg.vector_norm(direction))
    if distance == 0.0:
        raise BadInput(f"run {run.id}: theta_f equals theta_i, the line has no direction", field="run")
    u = direction / distance
    along, beta, norms, chord, previous = [], [], [], [], None
    # one checkpoint at a time, not kept in the process's cache of θ (theta_of): a long run of a large
    # model never sits in memory whole
    for step, theta in run.thetas():
        theta = theta.double()
        delta = theta - theta_i
        a = float(delta @ u)
        along.append(a)
        beta.append(float(torch.linalg.vector_norm(delta - a * u)))
        norms.append(float(torch.linalg.vector_norm(theta)))
        if previous is not None:
            chord.append(float(torch.linalg.vector_norm(theta - previous)))
        previous = theta
    along = np.array(along)
    return Frame(run, theta_i, theta_f, distance, run.steps, along / distance, along, np.array(beta),
                 np.array(norms), np.array(chord))


_frames: OrderedDict[str, Frame] = OrderedDict()  # run id -> its frame: a job's chunks do not redo it


def frame_of(run: Run) -> Frame:
    if run.id in _frames:
        _frames.move_to_end(run.id)
        return _frames[run.id]
    frame = _frames[run.id] = line_frame(run)
    while len(_frames) > 4:
        _frames.popitem(last=False)
    return frame


def compute_trajectory(query: TrajectoryQuery, store: Store) -> TrajectoryResult:
    run = store.load(query.run)
    frame = frame_of(run)
    beta, norms = frame.beta.tolist(), frame.theta_norm.tolist()
    steps = run.manifest["steps"]
    splits = sorted({k for s in steps for k in s["cost"]})
    return TrajectoryResult(
        step=run.steps, epoch=[s["epoch"] for s in steps],
        alpha=frame.alpha.tolist(), alpha_distance=frame.alpha_distance.tolist(), beta=beta, theta_norm=norms,
        residual_ratio=[b / n if n > 0 else 0.0 for b, n in zip(beta, norms)],
        cost={k: [s["cost"].get(k) for s in steps] for k in splits},
        error={k: [s["error"].get(k) for s in steps] for k in splits if any(k in s["error"] for s in steps)},
        final_step=run.final_step, distance=frame.distance, query=query.to_json(), key=query.key())


def check_trajectory(query: TrajectoryQuery, result: dict) -> None:
    n = len(result["step"])
    series = {k: result[k] for k in ("epoch", "alpha", "alpha_distance", "beta", "theta_norm", "residual_ratio")}
    series.update({f"cost of {s}": v for s, v in result["cost"].items()})
    for name, values in series.items():
        if len(values) != n:
            raise ValueError(f"{name} has {len(values)} values for {n} steps")
        finite_or_null(values, name)


# The job kind "trajectory" (listed in compute/kinds/__init__.py): one chunk, a pass over the checkpoints.
# Not estimated: one pass per checkpoint, cheap whatever is asked.
TRAJECTORY_KIND = single_chunk("trajectory", TrajectoryQuery, TrajectoryResult, compute_trajectory, check_trajectory,
                               resolve=resolve_trajectory)
