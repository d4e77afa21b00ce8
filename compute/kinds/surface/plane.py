"""The plane surfaces: `random-plane` (Fig. 21), `alpha-random` (Fig. 22), `hessian` (the top two
eigenvectors at theta_f) and `pca` (the trajectory's first two principal directions), each a true 2-D plane with the trajectory projected on it (see
compute/kinds/surface/__init__.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ...evaluator import EvalOptions, Progress
from ...hessian import hessian_plane
from ...resources import LRU, buffer_basis, evaluator_for
from ...store import Run, Store
from ..trajectory import Frame, frame_of
from .pca import pca_basis
from .grid import (checkpoint_costs, evaluate_span, gaussian, orthogonal_random, part_json, part_meta,
                   rows_ending_in, surface_bn)
from .query import SurfaceQuery
from .result import clean_trajectory


def filter_normalised(direction: torch.Tensor, reference: torch.Tensor, run: Run, scale: float) -> torch.Tensor:
    """Li et al. (2018): each filter of `direction` (a weight's row, i.e. one unit's incoming weights)
    gets `scale` x the norm of the same filter of `reference`; biases (1-D parameters) are zeroed."""
    out = torch.zeros_like(direction)
    for name, (lo, hi) in run.layout.offsets().items():
        shape = run.layout.shapes[run.layout.names.index(name)]
        if len(shape) == 1:
            continue
        d = direction[lo:hi].reshape(shape[0], -1) if shape else direction[lo:hi].reshape(1, 1)
        ref = reference[lo:hi].reshape(d.shape)
        norms = torch.linalg.vector_norm(d, dim=1, keepdim=True).clamp_min(1e-30)
        out[lo:hi] = (d / norms * torch.linalg.vector_norm(ref, dim=1, keepdim=True) * scale).reshape(-1)
    return out


def plane_basis(query: SurfaceQuery, frame: Frame) -> tuple[torch.Tensor, dict]:
    """The plane's basis (see `_coefficients` for how a point's coordinates combine it) and meta."""
    if query.surface == "hessian":  # theta_f + a v1 + b v2 along the top two eigenvectors
        return hessian_plane(query, frame)
    if query.surface == "pca":
        return pca_basis(frame)
    if query.surface == "alpha-random":
        r = orthogonal_random(frame, query.seed)
        return torch.stack([frame.theta_i, frame.theta_f, r]), {"origin": "theta_i", "b_direction_norm": 1.0}
    generator = torch.Generator().manual_seed(query.seed)
    n = len(frame.theta_f)
    d1, d2 = gaussian(n, generator), gaussian(n, generator)
    if query.normalization == "filter":
        scale = 1.0 if query.scale is None else query.scale
        d1, d2 = (filter_normalised(d, frame.theta_f, frame.run, scale) for d in (d1, d2))
    else:
        scale = frame.distance if query.scale is None else query.scale
        d1, d2 = (d * (scale / torch.linalg.vector_norm(d)) for d in (d1, d2))
    return torch.stack([frame.theta_f, d1, d2]), {
        "origin": "theta_f", "normalization": query.normalization, "scale": scale,
        "direction_norms": [float(torch.linalg.vector_norm(d1)), float(torch.linalg.vector_norm(d2))]}


def _coefficients(kind: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Coefficients on the plane basis of the points (a[p], b[p])."""
    if kind == "alpha-random":  # (1 - alpha) theta_i + alpha theta_f + b r
        return np.stack([1.0 - a, a, b], axis=1)
    return np.stack([np.ones_like(a), a, b], axis=1)  # theta_f + a d1 + b d2


def _project(kind: str, basis: torch.Tensor, frame: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares coordinates of every recorded theta(t) in the plane, the residual norm, and the
    residual's share of ||theta(t) - origin|| (0 at the origin)."""
    if kind == "alpha-random":
        origin, e1, e2 = frame.theta_i, frame.theta_f - frame.theta_i, basis[2]
    else:
        origin, e1, e2 = basis[0], basis[1], basis[2]
    gram = torch.tensor([[e1 @ e1, e1 @ e2], [e2 @ e1, e2 @ e2]], dtype=torch.float64)
    a, b, residual, off_plane = [], [], [], []
    for k in range(len(frame.steps)):
        delta = frame.theta(k) - origin
        x, y = torch.linalg.solve(gram, torch.stack([e1 @ delta, e2 @ delta])).tolist()
        a.append(x)
        b.append(y)
        residual.append(float(torch.linalg.vector_norm(delta - x * e1 - y * e2)))
        distance = float(torch.linalg.vector_norm(delta))
        off_plane.append(residual[-1] / distance if distance > 0 else 0.0)
    return np.array(a), np.array(b), np.array(residual), np.array(off_plane)


def _auto_range(values: np.ndarray, must: tuple[float, float]) -> tuple[float, float]:
    """`must`, widened to hold the trajectory with a 10 % margin."""
    lo, hi = float(values.min()), float(values.max())
    margin = 0.1 * (hi - lo)
    return min(must[0], lo - margin), max(must[1], hi + margin)


@dataclass(frozen=True)
class PlaneGrid:
    """What every chunk of a plane surface needs before it evaluates: the basis, the trajectory's
    coordinates in the plane, and the grid."""
    basis: torch.Tensor
    meta: dict
    projection: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # a(t), b(t), residual(t), off_plane(t)
    alphas: np.ndarray
    betas: np.ndarray


# query key -> PlaneGrid: a surface's hundreds of chunks make the directions and the trajectory's
# projection once per process, not once per chunk (0.15 s of a 0.3 s chunk of a small MLP)
_plane_grids = LRU(2)


def plane_grid(query: SurfaceQuery, frame: Frame) -> PlaneGrid:
    def make() -> PlaneGrid:
        basis, plane_meta = plane_basis(query, frame)
        ta, tb, residual, off_plane = _project(query.surface, basis, frame)
        if query.alpha_min is not None:
            a_range = (query.alpha_min, query.alpha_max)
        else:
            a_range = _auto_range(ta, {"alpha-random": (-0.1, 1.1), "pca": (0.0, 0.0)}.get(query.surface, (-1.0, 1.0)))
        if query.beta_min is not None:
            b_range = (query.beta_min, query.beta_max)
        elif query.surface == "alpha-random":
            top = float(np.abs(tb).max()) or frame.distance
            b_range = (-1.5 * top, 1.5 * top)
        else:
            b_range = _auto_range(tb, (0.0, 0.0) if query.surface == "pca" else (-1.0, 1.0))  # pca: a, b are distances
        return PlaneGrid(basis, plane_meta, (ta, tb, residual, off_plane), np.linspace(*a_range, query.rows),
                         np.linspace(*b_range, query.columns))

    return _plane_grids.get(query.key(), make)


def plane_part(query: SurfaceQuery, store: Store, span: list[int], progress: Progress | None = None,
               shards: range | None = None) -> dict:
    """The grid points `span` of a plane surface (a job's chunk: the trajectory comes with the first).
    With `shards`, the sums of those shards of the data (a chunk cut by data); the trajectory, over
    whole splits, comes with the first chunk of the first shards."""
    started = time.perf_counter()
    run = store.load(query.run)
    frame = frame_of(run)
    grid = plane_grid(query, frame)
    basis, (ta, tb, residual, off_plane), alphas, betas = grid.basis, grid.projection, grid.alphas, grid.betas
    evaluator = evaluator_for(run, query.dtype)
    # the plane's origin carries its checkpoint's buffers, its directions none
    buffers = buffer_basis(run, [run.init_step, run.final_step, None] if query.surface == "alpha-random"
                           else [run.final_step, None, None])

    def row(i: int) -> tuple[torch.Tensor, np.ndarray]:
        return basis, _coefficients(query.surface, np.full(len(betas), alphas[i]), betas)

    cost, precision_error = evaluate_span(evaluator, span, query.columns, row, query, progress, buffers, shards)
    trajectory = None
    if span[0] == 0 and (shards is None or shards.start == 0):  # the first chunk carries the trajectory
        plane = evaluator.evaluate(basis, _coefficients(query.surface, ta, tb), query.splits, buffer_basis=buffers,
                                   options=EvalOptions(bn=query.bn))
        trajectory = clean_trajectory({
            "step": list(frame.steps), "alpha": ta.tolist(), "beta": tb.tolist(),
            "cost": checkpoint_costs(evaluator, run, frame.steps, query.splits), "residual": residual.tolist(),
            "off_plane": off_plane.tolist(),  # the share of each checkpoint's distance the plane does not show
            # the cost of the trajectory's projection on the plane, under it
            "plane_cost": {s: m.cost.tolist() for s, m in plane.splits.items()}})
    rows = [{"alpha": float(alphas[i])} for i in rows_ending_in(span, query.columns)]
    return part_json(span, betas, cost, rows, trajectory, query,
                     part_meta(run, evaluator, frame.distance, started,
                               axes=["alpha", "b"] if query.surface == "alpha-random" else ["a", "b"],
                               bn=surface_bn(run, query), precision_error=precision_error, **grid.meta))
