"""The `paper` surface (Figs 15-20): a row along each recorded step's residual direction, its path
point theta(t) itself (see compute/kinds/surface/__init__.py for the geometry)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from models.errors import BadInput

from ...evaluator import Progress
from ...resources import buffer_basis, evaluator_for
from ...store import Store
from ..trajectory import Frame, frame_of
from .grid import (evaluate_span, orthogonal_random, part_json, part_meta, recorded_costs, row_width,
                   rows_ending_in, surface_bn)
from .query import SurfaceQuery

# A residual shorter than this share of D = ||theta_f - theta_i|| is rounding, not a direction: theta_f's
# own residual is ~1e-14 D in float64 (2e-13 for a `small` relu-mnist run with D = 11.8), while a real
# checkpoint's is many orders above (a single SGD step moves ~1e-3 D off the line).
ON_LINE = 1e-9


# ------------------------------------------------------------------------------------------ paper
@dataclass(frozen=True)
class Row:
    k: int  # recorded step index
    s: float = 0.0  # 0: the recorded step itself; in (0, 1): between steps k and k+1


def paper_rows(frame: Frame, n_rows: int, alpha_range: tuple[float, float] | None) -> list[Row]:
    """The rows of a `paper` surface, in training order (see the module docstring)."""
    chosen = list(range(len(frame.steps)))
    if alpha_range is not None:
        lo, hi = alpha_range
        chosen = [k for k in chosen if lo <= frame.alpha[k] <= hi]
    if len(chosen) < 2:
        raise BadInput(f"only {len(chosen)} recorded step(s) have alpha in the range; a surface needs 2 rows "
                       f"(recorded alphas span {frame.alpha.min():.4g}..{frame.alpha.max():.4g})", field="alpha")
    if len(chosen) > n_rows:
        picks = sorted({chosen[int(round(i))] for i in np.linspace(0, len(chosen) - 1, n_rows)})
        final = frame.steps.index(frame.run.final_step)
        if final in chosen and final not in picks:  # keep theta_f: replace the nearest inner pick
            inner = picks[1:-1]
            if inner:
                picks.remove(min(inner, key=lambda k: abs(k - final)))
                picks = sorted(picks + [final])
        return [Row(k) for k in picks]
    # Extra rows between consecutive checkpoints, in proportion to the distance moved (largest remainder).
    gaps = [k for k in chosen[:-1] if k + 1 in chosen]
    extra = n_rows - len(chosen)
    counts = {k: 0 for k in gaps}
    weights = np.array([frame.chord[k] for k in gaps])
    if extra and gaps and weights.sum() > 0:
        share = extra * weights / weights.sum()
        base = np.floor(share).astype(int)
        for i in np.argsort(-(share - base))[: extra - int(base.sum())]:
            base[i] += 1
        counts = dict(zip(gaps, base.tolist()))
    rows = []
    for k in chosen:
        rows.append(Row(k))
        for j in range(1, counts.get(k, 0) + 1):
            rows.append(Row(k, j / (counts[k] + 1)))
    return rows


def _off_line(frame: Frame, beta: float) -> bool:
    """Whether a residual of norm `beta` is a direction (see ON_LINE), not rounding."""
    return beta > ON_LINE * frame.distance


def _borrowed_direction(frame: Frame, k: int) -> torch.Tensor | None:
    """Unit residual direction of the nearest step with a non-zero residual (earlier on ties)."""
    order = sorted((i for i in range(len(frame.steps)) if _off_line(frame, frame.beta[i])), key=lambda i: (abs(i - k), i))
    return frame.residual(order[0]) / frame.beta[order[0]] if order else None


def _row_geometry(frame: Frame, row: Row) -> tuple[float, float, torch.Tensor, bool]:
    """(alpha, path beta, unit direction v, borrowed?) of a row."""
    if row.s == 0.0:
        alpha, r = float(frame.alpha[row.k]), frame.residual(row.k)
    else:
        alpha = (1 - row.s) * float(frame.alpha[row.k]) + row.s * float(frame.alpha[row.k + 1])
        r = (1 - row.s) * frame.residual(row.k) + row.s * frame.residual(row.k + 1)
    beta = float(torch.linalg.vector_norm(r))
    if _off_line(frame, beta):
        return alpha, beta, r / beta, False
    v = _borrowed_direction(frame, row.k)
    if v is None:  # the whole trajectory lies on the line: any direction orthogonal to u will do
        v = orthogonal_random(frame, seed=0)
    return alpha, 0.0, v, True


def _degrees(v: torch.Tensor, w: torch.Tensor) -> float:
    """The angle between unit vectors v and w, in degrees."""
    return float(np.degrees(np.arccos(np.clip(float(v @ w), -1.0, 1.0))))


def _paper_grid(query: SurfaceQuery, frame: Frame) -> tuple[list[Row], np.ndarray]:
    """The rows of a `paper` surface and its shared beta grid."""
    alpha_range = (query.alpha_min, query.alpha_max) if query.alpha_min is not None else None
    plan = paper_rows(frame, query.rows, alpha_range)
    if query.beta_min is not None:
        return plan, np.linspace(query.beta_min, query.beta_max, query.columns)
    top = max(float(frame.beta[[r.k for r in plan]].max()), 0.0) or frame.distance
    return plan, np.linspace(0.0, 1.5 * top, query.columns)


def paper_part(query: SurfaceQuery, store: Store, span: list[int], progress: Progress | None = None,
               shards: range | None = None) -> dict:
    """The grid points `span` ([lo, hi) in grid order, see `split_surface`) of the `paper` surface:
    a job's chunk. Points past the last row (a surface with fewer rows than asked) are empty. With
    `shards`, the sums of those shards of the data (a chunk cut by data): the rows' path costs are
    read when the shards are joined, and the path mismatch is not measured."""
    started = time.perf_counter()
    run = store.load(query.run)
    frame = frame_of(run)
    plan, betas = _paper_grid(query, frame)
    width = row_width(query)
    span = [min(span[0], len(plan) * width), min(span[1], len(plan) * width)]
    geometry: dict[int, tuple] = {}

    def geometry_of(i: int) -> tuple[float, float, torch.Tensor, bool]:
        if i not in geometry:
            geometry[i] = _row_geometry(frame, plan[i])
        return geometry[i]

    def row(i: int) -> tuple[torch.Tensor, np.ndarray]:
        alpha, path_beta, v, _ = geometry_of(i)
        coeffs = np.empty((width, 3))
        coeffs[:, 0], coeffs[:, 1] = 1.0 - alpha, alpha  # as on the line: (1-alpha) theta_i + alpha theta_f
        coeffs[:-1, 2], coeffs[-1, 2] = betas, path_beta  # the grid, then the row's path point
        return torch.stack([frame.theta_i, frame.theta_f, v]), coeffs

    evaluator = evaluator_for(run, query.dtype)
    buffers = buffer_basis(run, [run.init_step, run.final_step, None])  # v(t) is a direction: no buffers
    cost, precision_error = evaluate_span(evaluator, span, width, row, query, progress, buffers, shards)
    rows = []
    for i in rows_ending_in(span, width):  # a row's own values come with the chunk of its path point
        alpha, path_beta, v, borrowed = geometry_of(i)
        path = (i + 1) * width - 1 - span[0]
        rows.append({"alpha": alpha, "path_beta": path_beta, "borrowed": borrowed,
                     "step": frame.steps[plan[i].k] if plan[i].s == 0.0 else None,
                     "turn": None if i == 0 else _degrees(v, geometry_of(i - 1)[2]),
                     **({"path_index": path} if shards is not None
                        else {"path_cost": {s: cost[s][path] for s in query.splits}})})
    on_path = [r for r in rows if r["step"] is not None]
    recorded = recorded_costs(run, [r["step"] for r in on_path], query.splits) if shards is None else {}
    # |J on the surface - J recorded while training| at the trajectory points (float rounding)
    mismatch = [abs(r["path_cost"][s] - c) for s in recorded for r, c in zip(on_path, recorded[s])]
    return part_json(span, betas, cost, rows, None, query,
                     part_meta(run, evaluator, frame.distance, started, axes=["alpha", "beta"], rows=len(plan),
                               recorded_steps=len(frame.steps), borrowed_directions=sum(r["borrowed"] for r in rows),
                               bn=surface_bn(run, query), path_mismatch=max(mismatch) if mismatch else None,
                               precision_error=precision_error))
