"""Cost surfaces with the SGD trajectory on them (appendices C and D, Figs 15-22).

Axes, for every kind: alpha in units of D = ||theta_f - theta_i|| (0 at theta_i, 1 at theta_f, as
on the line), beta (b) in parameter-space distance (as beta(t) of `landscape trajectory`),
except `random-plane`, whose two coordinates multiply directions of a stated norm.

paper (Figs 15-20) is NOT a 2-D plane. With u = (theta_f - theta_i)/D, each recorded step t has
alpha(t) = (theta(t) - theta_i)^T u / D, the residual r(t) = theta(t) - theta_i - alpha(t)(theta_f - theta_i),
beta(t) = ||r(t)|| and the unit direction v(t) = r(t)/beta(t). Row t is the line
    theta_i + alpha(t)(theta_f - theta_i) + beta v(t)
sampled at beta values; the rows, drawn side by side as if parallel, form the surface.
  * Exactness (the grid choice): every row is evaluated at the shared uniform beta grid PLUS one
    "path point" at its own beta(t), in the same Evaluator call with the same basis. The path point
    of a recorded row is theta(t) itself (up to float rounding of the basis), so the trajectory
    (alpha(t), beta(t), J(theta(t))) is a vertex of the surface, not a point interpolated between
    grid columns. `SurfaceResult.mesh()` merges path points into their rows for drawing.
  * Rows: N rows are the recorded steps with alpha(t) in the alpha range (all by default). When N is
    larger, the extra rows go between consecutive checkpoints, in proportion to the distance moved
    (row theta_s = (1-s) theta(t_k) + s theta(t_k+1): its residual is (1-s) r_k + s r_k+1, its path
    point the chord point); when smaller, N recorded steps are taken evenly (theta_f kept).
  * Where r = 0 (theta_i, theta_f) v is undefined: the row borrows v of the nearest step with r != 0.
    "r = 0" is ||r|| <= ON_LINE x D, the same for every run: theta_f's residual is rounding noise,
    and a direction built from it is +-u (the row would draw the line continued past theta_f).
  * The beta = 0 column is the line theta_i -> theta_f at each row's alpha (same coefficients).
  * A row costs 3 first-layer products (basis theta_i, theta_f, v), not one per beta.

random-plane (Fig. 21): theta_f + a d1 + b d2 with seeded Gaussian d1, d2 scaled to norm `scale`
(default D), or with Li et al. (2018) filter normalisation: each filter (row of a weight) of d
rescaled to `scale` (default 1) x the norm of the same filter of theta_f, biases zeroed. The
trajectory is projected on the plane by least squares; `residual` says how far it is from it.

alpha-random (Fig. 22): theta_i + alpha (theta_f - theta_i) + b r, r a seeded Gaussian direction
made orthogonal to u and of unit norm: a true 2-D plane; trajectory (alpha(t), r^T (theta(t) - theta_i)).

For the planes the trajectory's `cost` is the true J(theta(t)) and `plane_cost` the cost at its
projection on the plane. Every cost comes from `Evaluator.evaluate`, one call per row for every
kind, or per part of a row where a job cuts rows (the job kind "surface", `SURFACE_KIND`, is
defined here: chunks of grid points, whole rows or parts of rows sized by the work estimate,
see `split_surface`; the first chunk of a plane carries the trajectory).

    landscape surface RUN --kind paper --points 41x41 --splits train,valid
    landscape surface RUN --kind random-plane --normalization filter --seed 3 --alpha=-1:1 --beta=-1:1
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from models.errors import BadInput
from ...evaluator import Evaluator, Progress, offset_progress
from ...chunks import ChunkKind, check_carries_query, finite_or_null, index_ranges
from ...queries import SurfaceQuery
from ...results import clean_floats
from ...resources import LRU, buffer_basis, evaluator_for, theta_of
from ...store import Run, Store
from .result import SurfaceResult, clean_trajectory
from ..trajectory import Frame, frame_of

_POINT_GROUP = 16  # checkpoints evaluated per call (memory: group x |theta|)
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
        v = _orthogonal_random(frame, seed=0)
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


def paper_part(query: SurfaceQuery, store: Store, span: list[int], progress: Progress | None = None) -> dict:
    """The grid points `span` ([lo, hi) in grid order, see `split_surface`) of the `paper` surface:
    a job's chunk. Points past the last row (a surface with fewer rows than asked) are empty."""
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
    cost, precision_error = _evaluate_span(evaluator, span, width, row, query, progress, buffers)
    rows = []
    for i in _rows_ending_in(span, width):  # a row's own values come with the chunk of its path point
        alpha, path_beta, v, borrowed = geometry_of(i)
        rows.append({"alpha": alpha, "path_beta": path_beta, "borrowed": borrowed,
                     "step": frame.steps[plan[i].k] if plan[i].s == 0.0 else None,
                     "turn": None if i == 0 else _degrees(v, geometry_of(i - 1)[2]),
                     "path_cost": {s: cost[s][(i + 1) * width - 1 - span[0]] for s in query.splits}})
    on_path = [r for r in rows if r["step"] is not None]
    recorded = recorded_costs(run, [r["step"] for r in on_path], query.splits)
    # |J on the surface - J recorded while training| at the trajectory points (float rounding)
    mismatch = [abs(r["path_cost"][s] - c) for s in recorded for r, c in zip(on_path, recorded[s])]
    return _part(span, betas, cost, rows, None, query,
                 _meta(run, evaluator, frame.distance, started, axes=["alpha", "beta"], rows=len(plan),
                       recorded_steps=len(frame.steps), borrowed_directions=sum(r["borrowed"] for r in rows),
                       bn=_bn(run, query), path_mismatch=max(mismatch) if mismatch else None,
                       precision_error=precision_error))


# ------------------------------------------------------------------------------------------ planes
def _gaussian(n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(n, generator=generator, dtype=torch.float64)


def _orthogonal_random(frame: Frame, seed: int) -> torch.Tensor:
    u = (frame.theta_f - frame.theta_i) / frame.distance
    g = _gaussian(len(u), torch.Generator().manual_seed(seed))
    r = g - (g @ u) * u
    r = r - (r @ u) * u  # a second pass removes what rounding left along u
    return r / torch.linalg.vector_norm(r)


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
        from ...hessian import hessian_plane  # the curvature module imports the line module, which imports this one

        return hessian_plane(query, frame)
    if query.surface == "alpha-random":
        r = _orthogonal_random(frame, query.seed)
        return torch.stack([frame.theta_i, frame.theta_f, r]), {"origin": "theta_i", "b_direction_norm": 1.0}
    generator = torch.Generator().manual_seed(query.seed)
    n = len(frame.theta_f)
    d1, d2 = _gaussian(n, generator), _gaussian(n, generator)
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


def _project(kind: str, basis: torch.Tensor, frame: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares coordinates of every recorded theta(t) in the plane, and the residual norm."""
    if kind == "alpha-random":
        origin, e1, e2 = frame.theta_i, frame.theta_f - frame.theta_i, basis[2]
    else:
        origin, e1, e2 = basis[0], basis[1], basis[2]
    gram = torch.tensor([[e1 @ e1, e1 @ e2], [e2 @ e1, e2 @ e2]], dtype=torch.float64)
    a, b, residual = [], [], []
    for k in range(len(frame.steps)):
        delta = frame.theta(k) - origin
        x, y = torch.linalg.solve(gram, torch.stack([e1 @ delta, e2 @ delta])).tolist()
        a.append(x)
        b.append(y)
        residual.append(float(torch.linalg.vector_norm(delta - x * e1 - y * e2)))
    return np.array(a), np.array(b), np.array(residual)


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
    projection: tuple[np.ndarray, np.ndarray, np.ndarray]  # a(t), b(t), residual(t)
    alphas: np.ndarray
    betas: np.ndarray


# query key -> PlaneGrid: a surface's hundreds of chunks make the directions and the trajectory's
# projection once per process, not once per chunk (0.15 s of a 0.3 s chunk of a small MLP)
_plane_grids = LRU(2)


def plane_grid(query: SurfaceQuery, frame: Frame) -> PlaneGrid:
    def make() -> PlaneGrid:
        basis, plane_meta = plane_basis(query, frame)
        ta, tb, residual = _project(query.surface, basis, frame)
        if query.alpha_min is not None:
            a_range = (query.alpha_min, query.alpha_max)
        else:
            a_range = _auto_range(ta, (-0.1, 1.1) if query.surface == "alpha-random" else (-1.0, 1.0))
        if query.beta_min is not None:
            b_range = (query.beta_min, query.beta_max)
        elif query.surface == "alpha-random":
            top = float(np.abs(tb).max()) or frame.distance
            b_range = (-1.5 * top, 1.5 * top)
        else:
            b_range = _auto_range(tb, (-1.0, 1.0))
        return PlaneGrid(basis, plane_meta, (ta, tb, residual), np.linspace(*a_range, query.rows),
                         np.linspace(*b_range, query.columns))

    return _plane_grids.get(query.key(), make)


def plane_part(query: SurfaceQuery, store: Store, span: list[int], progress: Progress | None = None) -> dict:
    """The grid points `span` of a plane surface (a job's chunk: the trajectory comes with the first)."""
    started = time.perf_counter()
    run = store.load(query.run)
    frame = frame_of(run)
    grid = plane_grid(query, frame)
    basis, (ta, tb, residual), alphas, betas = grid.basis, grid.projection, grid.alphas, grid.betas
    evaluator = evaluator_for(run, query.dtype)
    # the plane's origin carries its checkpoint's buffers, its directions none
    buffers = buffer_basis(run, [run.init_step, run.final_step, None] if query.surface == "alpha-random"
                           else [run.final_step, None, None])

    def row(i: int) -> tuple[torch.Tensor, np.ndarray]:
        return basis, _coefficients(query.surface, np.full(len(betas), alphas[i]), betas)

    cost, precision_error = _evaluate_span(evaluator, span, query.columns, row, query, progress, buffers)
    trajectory = None
    if span[0] == 0:  # the first chunk carries the trajectory
        plane = evaluator.evaluate(basis, _coefficients(query.surface, ta, tb), query.splits, buffer_basis=buffers,
                                   bn=query.bn)
        trajectory = clean_trajectory({
            "step": list(frame.steps), "alpha": ta.tolist(), "beta": tb.tolist(),
            "cost": checkpoint_costs(evaluator, run, frame.steps, query.splits), "residual": residual.tolist(),
            # the cost of the trajectory's projection on the plane, under it
            "plane_cost": {s: m.cost.tolist() for s, m in plane.splits.items()}})
    rows = [{"alpha": float(alphas[i])} for i in _rows_ending_in(span, query.columns)]
    return _part(span, betas, cost, rows, trajectory, query,
                 _meta(run, evaluator, frame.distance, started,
                       axes=["alpha", "b"] if query.surface == "alpha-random" else ["a", "b"], bn=_bn(run, query),
                       precision_error=precision_error, **grid.meta))


# ------------------------------------------------------------------------------------------ shared
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


def _bn(run: Run, query: SurfaceQuery) -> str | None:
    """The BatchNorm policy the surface used; None for a model without BatchNorm."""
    return query.bn if run.manifest.get("batchnorm") else None


def _meta(run: Run, evaluator: Evaluator, distance: float, started: float, **extra) -> dict:
    return {"model": run.model_id, "preset": run.preset, "run": run.id, "dtype": str(evaluator.dtype).replace("torch.", ""),
            "distance": distance, "final_step": run.final_step, "seconds": round(time.perf_counter() - started, 4),
            **extra}


def compute_surface(query: SurfaceQuery, store: Store, progress: Progress | None = None) -> SurfaceResult:
    """The whole surface of `query` in one part: one evaluator call per row."""
    part = surface_part(query, store, [0, query.rows * row_width(query)], progress)
    return SurfaceResult.from_json(assemble_surface(query, [part]))


def surface_part(query: SurfaceQuery, store: Store, span: list[int], progress: Progress | None = None) -> dict:
    """The part of the surface over the grid points `span` (see `split_surface`), as JSON."""
    if query.surface == "paper":
        return paper_part(query, store, span, progress)
    return plane_part(query, store, span, progress)


# ------------------------------------------------------------------------------------------ grid points
def row_width(query: SurfaceQuery) -> int:
    """Points evaluated per row: the columns, then (`paper`) the row's path point."""
    return query.columns + (query.surface == "paper")


def _pieces(span: list[int], width: int) -> list[tuple[int, int, int]]:
    """(row, first column, end column) of each row's points in the grid points [lo, hi), row-major."""
    lo, hi = span
    pieces = [(r, max(lo - r * width, 0), min(hi - r * width, width)) for r in range(lo // width, -(-hi // width))]
    return [(r, c0, c1) for r, c0, c1 in pieces if c0 < c1]


def _rows_ending_in(span: list[int], width: int) -> list[int]:
    """The rows whose last point is in `span`."""
    return [r for r, _c0, c1 in _pieces(span, width) if c1 == width]


def _evaluate_span(evaluator: Evaluator, span: list[int], width: int, row: Callable, query: SurfaceQuery,
                   progress: Progress | None, buffers: torch.Tensor | None) -> tuple[dict[str, list[float]], float | None]:
    """The costs at the grid points `span`, in grid order: one evaluator call per row's share of
    it, with `row(i)` = (row i's basis, coefficients of all its points); and, in a precision other
    than float32, the largest difference from float32 the evaluator measured (else None)."""
    pieces = _pieces(span, width)
    cost = {s: [] for s in query.splits}
    precision = []
    for n, (i, c0, c1) in enumerate(pieces):
        basis, coeffs = row(i)
        evaluation = evaluator.evaluate(basis, coeffs[c0:c1], query.splits, offset_progress(progress, n, len(pieces)),
                                        buffer_basis=buffers, bn=query.bn)
        for s, m in evaluation.splits.items():
            cost[s].extend(m.cost.tolist())
        if evaluation.precision_error is not None:
            precision.append(evaluation.precision_error)
    return cost, (max(precision) if precision else None)


def _part(span: list[int], betas: np.ndarray, cost: dict, rows: list[dict], trajectory: dict | None,
          query: SurfaceQuery, meta: dict) -> dict:
    """A chunk's part: its points' costs in grid order, the rows that end in it, and (first chunk
    of a plane) the trajectory."""
    for r in rows:
        for name in ("alpha", "path_beta", "turn"):
            if name in r:
                r[name] = clean_floats([r[name]])[0]
        if "path_cost" in r:
            r["path_cost"] = {s: clean_floats([c])[0] for s, c in r["path_cost"].items()}
    return {"span": list(span), "beta": clean_floats(betas), "cost": {s: clean_floats(v) for s, v in cost.items()},
            "rows": rows, "trajectory": trajectory, "query": query.to_json(), "key": query.key(), "meta": meta}


# ------------------------------------------------------------------------------------------ job chunks
# A row cut into parts keeps at least this many points per part: the evaluator's first-layer reuse
# needs a call to hold more points than the row's 3 basis vectors.
MIN_ROW_PART = 4
# The most grid points of a surface chunk however cheap its model (scalar-linear: ~20 rows of 201).
# Below that a chunk holds about budget.CHUNK_WORK: not the 32 points of a line's chunk, for each
# evaluator call pays a set-up (the line fast path's dense start: ~0.1 s for a `small` MLP, as
# much as 60 of its points): a 201-point row of relu-mnist/small in 7 parts (32 points) took
# 2.4-3x as long as in one call, in 2 parts (at most 111 points, by the work estimate) 1.05-1.35x.
SURFACE_CHUNK_POINTS = 4096


def split_surface(query: SurfaceQuery, points_per_chunk: int) -> list[list[int]]:
    """Chunks as [lo, hi) ranges of grid points, numbered row-major (`row_width` points a row).
    Whole rows, as many as fit in `points_per_chunk`, when a row fits; else every row in nearly
    equal parts of about `points_per_chunk` points (at least MIN_ROW_PART), so a surface's chunks
    take about as long as a line's. A `paper` surface may end up with fewer rows than asked (see
    `paper_rows`): chunks past its end compute nothing.

    Each part is one evaluator call, and a call's values can depend on which points share it (the
    line fast path of compute/linefast.py expands about the middle of the points it is given): so
    a row cut in parts agrees with the same row in one call to float rounding, not bit for bit.
    The parts depend on the query alone (`points_per_chunk` is the job layer's, made from the
    query), so every path that computes a query computes the same parts and the same values."""
    width = row_width(query)
    if points_per_chunk >= width:
        return [[lo * width, hi * width] for lo, hi in index_ranges(query.rows, points_per_chunk // width, minimum=1)]
    parts = index_ranges(width, points_per_chunk, minimum=MIN_ROW_PART)
    return [[r * width + lo, r * width + hi] for r in range(query.rows) for lo, hi in parts]


def assemble_surface(query: SurfaceQuery, parts: list[dict]) -> dict:
    """The result's JSON from the parts of all chunks, in chunk order."""
    first, width = parts[0], row_width(query)
    splits = list(first["cost"])
    rows = [r for p in parts for r in p["rows"]]
    flat = {s: [v for p in parts for v in p["cost"][s]] for s in splits}
    if any(len(v) != len(rows) * width for v in flat.values()):
        raise ValueError(f"{len(flat[splits[0]])} points for {len(rows)} rows of {width}")
    grid = {s: [v[i * width:(i + 1) * width] for i in range(len(rows))] for s, v in flat.items()}
    result = {"alpha": [r["alpha"] for r in rows], "beta": first["beta"], "query": first["query"], "key": first["key"]}
    meta = dict(first["meta"], seconds=round(sum(p["meta"]["seconds"] for p in parts), 4), chunks=len(parts))
    precision = [p["meta"]["precision_error"] for p in parts if p["meta"].get("precision_error") is not None]
    meta["precision_error"] = max(precision) if precision else None  # |J - J in float32|, measured; None in float32
    if query.surface == "paper":  # the last point of each row is its path point
        result["cost"] = {s: [row[:-1] for row in grid[s]] for s in splits}
        result["path"] = {"beta": [r["path_beta"] for r in rows], "step": [r["step"] for r in rows],
                          "turn": [r["turn"] for r in rows], "cost": {s: [row[-1] for row in grid[s]] for s in splits}}
        on_path = [r for r in rows if r["step"] is not None]
        result["trajectory"] = {"step": [r["step"] for r in on_path], "alpha": [r["alpha"] for r in on_path],
                                "beta": [r["path_beta"] for r in on_path],
                                "cost": {s: [r["path_cost"][s] for r in on_path] for s in splits},
                                "residual": [0.0] * len(on_path), "plane_cost": None}
        meta["borrowed_directions"] = sum(r["borrowed"] for r in rows)
        mismatch = [p["meta"]["path_mismatch"] for p in parts if p["meta"].get("path_mismatch") is not None]
        meta["path_mismatch"] = max(mismatch) if mismatch else None
    else:  # planes: the trajectory came with the first chunk
        result["cost"], result["path"], result["trajectory"] = grid, None, first["trajectory"]
    result["meta"] = meta
    return result


def check_surface(query: SurfaceQuery, result: dict) -> None:
    """Shape and finiteness of an assembled surface, before it is cached."""
    check_carries_query(query, result)
    rows, columns = len(result["alpha"]), len(result["beta"])
    if columns != query.columns or not 2 <= rows <= query.rows:
        raise ValueError(f"a {rows} x {columns} grid for a {query.rows} x {query.columns} query")
    if list(result["cost"]) != list(query.splits):
        raise ValueError(f"costs for {list(result['cost'])}, asked for {list(query.splits)}")
    for s, grid in result["cost"].items():
        if len(grid) != rows or any(len(r) != columns for r in grid):
            raise ValueError(f"cost of {s} is not {rows} x {columns}")
        for r in grid:
            finite_or_null(r, f"cost of {s}")
    traj = result["trajectory"]
    n = len(traj["step"])
    series = [traj["alpha"], traj["beta"], traj["residual"], *traj["cost"].values()]
    series += list((traj.get("plane_cost") or {}).values())
    if any(len(x) != n for x in series):
        raise ValueError("trajectory series of different lengths")
    if result.get("path") is not None and len(result["path"]["beta"]) != rows:
        raise ValueError("one path point per row expected")


def _compute_chunk(query: SurfaceQuery, store: Store, chunk: list[int], progress: Progress | None) -> dict:
    return surface_part(query, store, chunk, progress)


# The job kind "surface" (listed in compute/kinds/__init__.py): chunks of grid points (see `split_surface`).
SURFACE_KIND = ChunkKind("surface", SurfaceQuery, SurfaceResult, split_surface, _compute_chunk, assemble_surface,
                         check_surface, most_points=SURFACE_CHUNK_POINTS)
