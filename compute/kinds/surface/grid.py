"""What every surface's chunks share: the grid points of a chunk, row by row, evaluated one evaluator
call per row's share, and the part a chunk returns."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from ...evaluator import EvalOptions, Evaluator, Progress, offset_progress
from ...resources import buffer_basis, theta_of
from ...results import clean_floats
from ...store import Run
from ..shards import joined_means, same_points_groups
from ..trajectory import Frame
from .query import SurfaceQuery

_POINT_GROUP = 16  # checkpoints evaluated per call (memory: group x |theta|)


def checkpoint_costs(evaluator: Evaluator, run: Run, steps: list[int], splits) -> dict[str, list[float]]:
    """J(theta(t)) at the given recorded steps, through the evaluator, a few checkpoints per call."""
    out = {s: [] for s in splits}
    for start in range(0, len(steps), _POINT_GROUP):
        group = steps[start:start + _POINT_GROUP]
        thetas = torch.stack([theta_of(run, t) for t in group])
        for s, m in evaluator.evaluate_points(thetas, splits, buffer_basis=buffer_basis(run, group)).splits.items():
            out[s].extend(m.cost.tolist())
    return out


def recorded_costs(run: Run, steps: list[int], splits) -> dict[str, list[float]]:
    by_step = {s["step"]: s["cost"] for s in run.manifest["steps"]}
    return {s: [by_step[t][s] for t in steps] for s in splits if all(s in by_step[t] for t in steps)}


def surface_bn(run: Run, query: SurfaceQuery) -> str | None:
    """The BatchNorm policy the surface used; None for a model without BatchNorm."""
    return query.bn if run.manifest.get("batchnorm") else None


def part_meta(run: Run, evaluator: Evaluator, distance: float, started: float, **extra) -> dict:
    return {"model": run.model_id, "preset": run.preset, "run": run.id,
            "dtype": str(evaluator.dtype).replace("torch.", ""),
            "distance": distance, "final_step": run.final_step, "seconds": round(time.perf_counter() - started, 4),
            **extra}


def row_width(query: SurfaceQuery) -> int:
    """Points evaluated per row: the columns, then (`paper`) the row's path point."""
    return query.columns + (query.surface == "paper")


def _pieces(span: list[int], width: int) -> list[tuple[int, int, int]]:
    """(row, first column, end column) of each row's points in the grid points [lo, hi), row-major."""
    lo, hi = span
    pieces = [(r, max(lo - r * width, 0), min(hi - r * width, width)) for r in range(lo // width, -(-hi // width))]
    return [(r, c0, c1) for r, c0, c1 in pieces if c0 < c1]


def rows_ending_in(span: list[int], width: int) -> list[int]:
    """The rows whose last point is in `span`."""
    return [r for r, _c0, c1 in _pieces(span, width) if c1 == width]


def evaluate_span(evaluator: Evaluator, span: list[int], width: int, row: Callable, query: SurfaceQuery,
                  progress: Progress | None, buffers: torch.Tensor | None,
                  shards: range | None = None) -> tuple[dict[str, list[float]] | list[dict], float | None]:
    """The costs at the grid points `span`, in grid order: one evaluator call per row's share of
    it, with `row(i)` = (row i's basis, coefficients of all its points); and, in a precision other
    than float32, the largest difference from float32 the evaluator measured (else None). With
    `shards` (a chunk cut by data, compute/kinds/shards.py), instead of the costs the partial sums
    of those shards, one PartialSums JSON per call."""
    pieces = _pieces(span, width)
    cost = {s: [] for s in query.splits}
    partials, precision = [], []
    options = EvalOptions(bn=query.bn, shards=shards)
    for n, (i, c0, c1) in enumerate(pieces):
        basis, coeffs = row(i)
        evaluation = evaluator.evaluate(basis, coeffs[c0:c1], query.splits, offset_progress(progress, n, len(pieces)),
                                        buffer_basis=buffers, options=options)
        if shards is not None:
            partials.append(evaluation.partial.to_json())
            continue
        for s, m in evaluation.splits.items():
            cost[s].extend(m.cost.tolist())
        if evaluation.precision_error is not None:
            precision.append(evaluation.precision_error)
    return (partials if shards is not None else cost), (max(precision) if precision else None)


def join_span_shards(parts: list[dict], splits: list[str]) -> list[dict]:
    """One ordinary part per span of grid points, from the parts of its shards (a surface cut by
    data): each evaluator call's sums added over the shards, then the means, in grid order; the
    rows' path costs (`paper`) read from them; the trajectory from the part that carried it."""
    out = []
    for group in same_points_groups(parts, "span"):
        cost = {s: [] for s in splits}
        shards = 0
        for calls in zip(*(part["partial"] for part in group)):
            means, metrics, shards, _summaries = joined_means(list(calls))  # a surface draws J alone
            for i, s in enumerate(splits):
                cost[s].extend(means[:, i, metrics.index("cost")].numpy().tolist())
        first = dict(group[0], cost={s: clean_floats(v) for s, v in cost.items()})
        del first["partial"]
        for r in first["rows"]:
            if "path_index" in r:
                index = r.pop("path_index")
                r["path_cost"] = {s: first["cost"][s][index] for s in splits}
        first["trajectory"] = next((p["trajectory"] for p in group if p["trajectory"] is not None), None)
        first["meta"] = dict(first["meta"], seconds=round(sum(p["meta"]["seconds"] for p in group), 4), shards=shards)
        out.append(first)
    return out


def part_json(span: list[int], betas: np.ndarray, cost: dict | list, rows: list[dict], trajectory: dict | None,
              query: SurfaceQuery, meta: dict) -> dict:
    """A chunk's part: its points' costs in grid order (or, cut by data, its shards' partial sums:
    see `join_span_shards`), the rows that end in it, and (first chunk of a plane) the trajectory."""
    for r in rows:
        for name in ("alpha", "path_beta", "turn"):
            if name in r:
                r[name] = clean_floats([r[name]])[0]
        if "path_cost" in r:
            r["path_cost"] = {s: clean_floats([c])[0] for s, c in r["path_cost"].items()}
    values = ({"partial": cost, "cost": None} if isinstance(cost, list)  # the sums of some shards
              else {"cost": {s: clean_floats(v) for s, v in cost.items()}})
    return {"span": list(span), "beta": clean_floats(betas), **values,
            "rows": rows, "trajectory": trajectory, "query": query.to_json(), "key": query.key(), "meta": meta}


def gaussian(n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(n, generator=generator, dtype=torch.float64)


def orthogonal_random(frame: Frame, seed: int) -> torch.Tensor:
    """A seeded Gaussian direction orthogonal to u, of unit norm."""
    u = (frame.theta_f - frame.theta_i) / frame.distance
    g = gaussian(len(u), torch.Generator().manual_seed(seed))
    r = g - (g @ u) * u
    r = r - (r @ u) * u  # a second pass removes what rounding left along u
    return r / torch.linalg.vector_norm(r)
