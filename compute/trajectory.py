"""The SGD trajectory in the line's frame (appendix B, Figs 13 and 1 right).

u = (theta_f - theta_i) / ||theta_f - theta_i||, alpha(t) = (theta(t) - theta_i)^T u and
beta(t) = ||theta(t) - theta_i - alpha(t) u||. Computed in float64, one checkpoint at a time,
so a long run never sits in memory whole.
"""

from __future__ import annotations

import torch

from models.errors import BadInput
from .chunks import finite_or_null, single_chunk
from .queries import TrajectoryQuery
from .resources import theta_of
from .results import TrajectoryResult
from .store import Store


def compute_trajectory(query: TrajectoryQuery, store: Store) -> TrajectoryResult:
    run = store.load(query.run)
    theta_i = theta_of(run, run.init_step).double()
    direction = theta_of(run, run.final_step).double() - theta_i
    distance = float(torch.linalg.vector_norm(direction))
    if distance == 0.0:
        raise BadInput(f"run {run.id}: theta_f equals theta_i, the line has no direction", field="run")
    u = direction / distance
    alpha_d, beta, norms = [], [], []
    for step in run.steps:
        theta = run.theta(step).double()
        delta = theta - theta_i
        a = float(delta @ u)
        alpha_d.append(a)
        beta.append(float(torch.linalg.vector_norm(delta - a * u)))
        norms.append(float(torch.linalg.vector_norm(theta)))
    steps = run.manifest["steps"]
    splits = sorted({k for s in steps for k in s["cost"]})
    return TrajectoryResult(
        step=run.steps, epoch=[s["epoch"] for s in steps],
        alpha=[a / distance for a in alpha_d], alpha_distance=alpha_d, beta=beta, theta_norm=norms,
        residual_ratio=[b / n if n > 0 else 0.0 for b, n in zip(beta, norms)],
        cost={k: [s["cost"].get(k) for s in steps] for k in splits},
        error={k: [s["error"].get(k) for s in steps] for k in splits if any(k in s["error"] for s in steps)},
        final_step=run.final_step, distance=distance, query=query.to_json(), key=query.key())


def check_trajectory(query: TrajectoryQuery, result: dict) -> None:
    n = len(result["step"])
    series = {k: result[k] for k in ("epoch", "alpha", "alpha_distance", "beta", "theta_norm", "residual_ratio")}
    series.update({f"cost of {s}": v for s, v in result["cost"].items()})
    for name, values in series.items():
        if len(values) != n:
            raise ValueError(f"{name} has {len(values)} values for {n} steps")
        finite_or_null(values, name)


# The job kind "trajectory" (listed in compute/kinds.py): one chunk, a pass over the checkpoints.
TRAJECTORY_KIND = single_chunk("trajectory", TrajectoryQuery, TrajectoryResult, compute_trajectory, check_trajectory)
