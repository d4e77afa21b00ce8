"""Lines: J((1-alpha) theta0 + alpha theta1) on a grid of alpha (section 2, Figs 1-10).

The kind "line" in one place: its query (`LineQuery`), how it is resolved against the store and
what it costs (`resolve_line`, `line_work`), and the job kind (`LINE_KIND`, listed in
compute/kinds/__init__.py), which cuts the alpha grid into chunks of points; each chunk is
`compute_line` on its alphas, and the parts are joined in order. Its result is
compute/kinds/line_result.py; a line over streamed data may be cut by data too
(compute/kinds/line_shards.py). An adaptive line (points=auto, compute/adaptive.py) is one chunk
that evaluates its rounds of new points itself, reusing the points of the same line evaluated
before by any process (compute/kinds/line_points.py: kept in the cache of the job computing the
line, so --local keeps them local).

Every assembled line carries `metrics` (compute/metrics.py) per split, computed from its joined
curve; they are derived, so `LineResult.to_json` recomputes them and a result cached before they
existed gets them when read through LineResult.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from models.errors import BadInput

from .. import adaptive, budget
from ..chunks import ChunkKind, check_carries_query, finite_or_null, index_ranges
from ..endpoints import line_inputs
from ..evaluator import EvalOptions, Progress
from ..hessian import SHARPNESS_ITERATIONS, Point, line_buffers, refuse_perturbing, top_eigenvalue
from ..lanczos import METHOD_VERSION
from ..queries import Endpoint, Query, check_bn, check_dropout, default_bn_omitted, resolve_endpoint
from ..sources import source_of
from ..store import Store
from ..validate import (AUTO_POINTS, DEFAULT_BN, DEFAULT_TOLERANCE, MAX_POINTS, check_grid, parse_bn, parse_bounds,
                        parse_dropout_samples, parse_dtype, parse_flag, parse_int, parse_line_points, parse_range,
                        parse_splits, parse_tolerance)
from .curve import evaluate_curve, load_curve
from .line_points import point_parts, points_key, store_points, stored_points
from .line_result import LineResult, line_metrics_by_split
from .line_shards import compute_line_shards, join_shards
from .shards import data_chunks, shard_cut


@dataclass(frozen=True)
class LineQuery(Query):
    """J((1-alpha) theta0 + alpha theta1) on a uniform grid of alpha, for each split; or on an
    adaptive one (points="auto", refined until linear interpolation is within `tolerance` of the
    curve's range: compute/adaptive.py); with `derivatives`, dJ/dalpha and d2J/dalpha2 exactly
    (the line fast path, or double backward: compute/derivatives.py)."""

    kind: ClassVar[str] = "line"
    start: Endpoint  # text is parsed once, on creation; the JSON and key hold str(endpoint)
    end: Endpoint
    alpha_min: float = 0.0
    alpha_max: float = 1.0
    points: int | str = 50  # or "auto"
    splits: tuple[str, ...] = ("train", "valid")
    dtype: str = "float32"
    # 0: the cost in eval mode (dropout off, weights scaled), the paper's J. N > 0: a Monte-Carlo
    # estimate of the cost with dropout on, the mean of N passes (compute/evaluator.py).
    dropout_samples: int = 0
    bn: str = DEFAULT_BN  # BatchNorm statistics between the endpoints (models with BatchNorm only)
    derivatives: bool = False  # also dJ/dalpha and d2J/dalpha2 at every point
    tolerance: float | None = None  # points="auto" only (DEFAULT_TOLERANCE when not given)
    sharpness: int = 0  # N > 0: lambda_max of the Hessian at every N-th grid point and the last (compute/hessian.py)
    # a recorded curve's id (compute/kinds/curve.py): J at θ(alpha) on that curve from start to end, not on the line
    curve: str | None = None

    def __post_init__(self):
        start, end = Endpoint.of(self.start, "from"), Endpoint.of(self.end, "to")
        if start.kind == "random" and end.kind == "random":
            raise BadInput("at least one endpoint must name a run (it fixes the architecture and data)",
                           field="from")
        lo, hi = parse_bounds(self.alpha_min, self.alpha_max, "alpha")
        points = parse_line_points(self.points)
        # an adaptive grid refines towards at most MAX_POINTS points: the range must hold that many
        check_grid(lo, hi, MAX_POINTS if points == AUTO_POINTS else points, "alpha")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "alpha_min", lo)
        object.__setattr__(self, "alpha_max", hi)
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "splits", parse_splits(self.splits))
        object.__setattr__(self, "dtype", parse_dtype(self.dtype))
        object.__setattr__(self, "dropout_samples", parse_dropout_samples(self.dropout_samples))
        object.__setattr__(self, "bn", parse_bn(self.bn))
        derivatives = parse_flag(self.derivatives, "derivatives")
        if derivatives and self.bn == "recompute":
            raise BadInput("derivatives along the line need interpolated BatchNorm statistics: statistics "
                           "re-estimated at every point are not a differentiable function of alpha here "
                           "(ask for bn=interpolate, or no derivatives)", field="derivatives")
        if derivatives and self.dropout_samples:
            raise BadInput("derivatives are of the eval-mode cost: ask for 0 dropout samples", field="derivatives")
        object.__setattr__(self, "derivatives", derivatives)
        if points != AUTO_POINTS and self.tolerance is not None:
            raise BadInput("a tolerance applies to points=auto only", field="tolerance")
        tolerance = parse_tolerance(DEFAULT_TOLERANCE if self.tolerance is None else self.tolerance)
        object.__setattr__(self, "tolerance", tolerance if points == AUTO_POINTS else None)
        sharpness = parse_int(self.sharpness, "sharpness", 0, MAX_POINTS, what="sharpness (every N-th point)")
        if sharpness and (points == AUTO_POINTS or self.dropout_samples):
            raise BadInput("sharpness is computed on a uniform grid of the eval-mode cost (no points=auto, no "
                           "dropout samples)", field="sharpness")
        object.__setattr__(self, "sharpness", sharpness)
        if self.curve is not None:
            self._check_curve()

    def _check_curve(self) -> None:
        if not isinstance(self.curve, str) or not self.curve:
            raise BadInput(f"malformed curve id {self.curve!r}", field="curve")
        if any(e.kind != "final" or e.aligned_to is not None for e in self.endpoints):
            raise BadInput("a curve joins two solutions: both endpoints are final:RUN", field="curve")
        if self.adaptive or (self.alpha_min, self.alpha_max) != (0.0, 1.0):
            raise BadInput("a curve is evaluated on a uniform grid of t in [0, 1] (--alpha 0:1, a number of points)",
                           field="curve")
        if self.derivatives or self.sharpness:
            raise BadInput("derivatives and sharpness are of the straight line: not asked with a curve", field="curve")

    @property
    def adaptive(self) -> bool:
        return self.points == AUTO_POINTS

    def key_salt(self) -> str:
        return f"lanczos-{METHOD_VERSION}" if self.sharpness else ""  # lambda_max at every point

    def to_json(self) -> dict:
        out = super().to_json()
        if not self.dropout_samples:  # the plain line keeps the key it always had
            del out["dropout_samples"]
        for name in ("derivatives", "tolerance", "sharpness", "curve"):  # in the key only when asked for
            if not out[name]:
                del out[name]
        return default_bn_omitted(out)

    @classmethod
    def from_args(cls, start: Endpoint | str, end: Endpoint | str, alpha: str = "0:1", points: int | str = 50,
                  splits: str = "train,valid", dtype: str = "float32", dropout_samples: int | str = 0,
                  bn: str = DEFAULT_BN, derivatives: bool | str = False,
                  tolerance: float | str | None = None, sharpness: int | str = 0,
                  curve: str | None = None) -> "LineQuery":
        lo, hi = parse_range(alpha)
        return cls(start, end, lo, hi, parse_line_points(points), parse_splits(splits), dtype, dropout_samples, bn,
                   derivatives, tolerance, sharpness, curve)

    @classmethod
    def from_json(cls, obj: dict) -> "LineQuery":
        if obj.get("kind") != cls.kind:
            raise BadInput(f"not a line query: kind {obj.get('kind')!r}")
        return cls(obj["start"], obj["end"], obj["alpha_min"], obj["alpha_max"], obj["points"],
                   tuple(obj["splits"]), obj.get("dtype", "float32"), obj.get("dropout_samples", 0),
                   obj.get("bn", DEFAULT_BN), obj.get("derivatives", False), obj.get("tolerance"),
                   obj.get("sharpness", 0), obj.get("curve"))

    @property
    def endpoints(self) -> tuple[Endpoint, Endpoint]:
        return self.start, self.end

    def alphas(self) -> np.ndarray:
        """The uniform grid (an adaptive line's grid is known only once computed)."""
        if self.adaptive:
            raise ValueError("an adaptive line (points=auto) has no grid before it is computed")
        return np.linspace(self.alpha_min, self.alpha_max, self.points)


def resolve_line(query: LineQuery, store: Store) -> LineQuery:
    """Every run by its full id; refused: dropout samples of a model without dropout, a BatchNorm
    policy for a model without BatchNorm."""
    a, b = (resolve_endpoint(e, store) for e in query.endpoints)
    run = store.load((a if a.run is not None else b).run)
    label = f"{run.model_id}/{run.preset}"
    if query.dropout_samples:  # the run's source is loaded (its signature checked) only when it is asked
        check_dropout(query.dropout_samples, source_of(run.manifest).uses_dropout(), label)
    check_bn(query.bn, bool(run.manifest.get("batchnorm")), label)
    if query.curve is not None:
        manifest, _ = load_curve(store, query.curve)
        if (manifest["start"], manifest["end"]) != (a.run, b.run):
            raise BadInput(f"curve {query.curve} joins final:{manifest['start']} to final:{manifest['end']}, "
                           f"not {a} to {b}", field="curve")
    return dataclasses.replace(query, start=a, end=b)


def line_work(query: LineQuery, store: Store) -> budget.Work:
    """points x passes (1, or the dropout samples; + a pass over the training split to recompute
    BatchNorm statistics) x the examples of the splits x the model's FLOPs per example."""
    ref = next(e.run for e in query.endpoints if e.run is not None)
    run = store.load(ref)
    prof = budget.profile(run.manifest)
    examples = budget.examples(prof, query.splits)
    passes = max(1, query.dropout_samples) + (1 if query.bn == "recompute" and run.manifest.get("batchnorm") else 0)
    per_point = passes * examples * prof.flops
    if query.derivatives:  # double backward (compute/derivatives.py): about six forward passes' worth per point
        per_point *= 6
    if query.sharpness:  # lambda_max at every N-th point: at most SHARPNESS_ITERATIONS products each
        per_point += examples * prof.flops * budget.HVP_PASSES * SHARPNESS_ITERATIONS / query.sharpness
    points = adaptive.BUDGET if query.points == AUTO_POINTS else query.points  # an adaptive line's most
    if query.dropout_samples > 1:
        return budget.Work(points * per_point, per_point, "dropout",
                           lambda fit: f"fewer dropout samples or points (at most {fit} points x samples)")
    return budget.Work(points * per_point, per_point, "points",
                       lambda fit: f"at most {fit} points" if fit >= 2 else "fewer splits")


def line_data_cut(query: LineQuery, store: Store, points_per_chunk: int) -> tuple[int, int] | None:
    """(shards per chunk, shards) when a line's chunks should be cut by data too: its run's data
    is streamed in shards (models/batches.py) and one chunk of `points_per_chunk` points over all
    of it would be more than budget.CHUNK_WORK. None otherwise, and for lines not cut by data:
    adaptive lines, derivatives, recomputed BatchNorm statistics, other dtypes, curves, and what
    compute/kinds/shards.py `shard_cut` refuses."""
    if (query.adaptive or query.derivatives or query.dtype != "float32" or query.bn == "recompute"
            or query.curve is not None):
        return None
    try:
        found = line_work(query, store)
    except BadInput:  # a run that cannot be loaded: its job fails with that message
        return None
    ref = next((e.run for e in query.endpoints if e.run is not None), None)
    if ref is None:
        return None
    return shard_cut(store.load(ref), query.splits, found.per_point * min(points_per_chunk, query.points))


def line_sharpness(query: LineQuery, evaluator, theta0: torch.Tensor, theta1: torch.Tensor, alphas: np.ndarray,
                   buffers: torch.Tensor | None, progress: Progress | None) -> dict[str, list]:
    """{split: lambda_max or None per alpha}: at every `query.sharpness`-th point of the grid and its last."""
    refuse_perturbing(evaluator, "sharpness")
    grid = query.alphas()
    chosen = {float(a) for a in grid[::query.sharpness]} | {float(grid[-1])}
    out: dict[str, list] = {s: [] for s in query.splits}
    for i, a in enumerate(alphas):
        theta = (1 - a) * theta0 + a * theta1
        point = Point(theta, line_buffers(evaluator, theta, buffers, float(a), query.bn), None)
        for s in query.splits:
            out[s].append(float(top_eigenvalue(evaluator, point, s).top[0]) if float(a) in chosen else None)
        if progress is not None:  # may raise to cancel
            progress(i + 1, len(alphas))
    return out


def compute_line(query: LineQuery, store: Store, progress: Progress | None = None,
                 alphas: np.ndarray | None = None) -> LineResult:
    """The line of `query`, or of its `alphas` subset (a job's chunk) when given."""
    runs, theta0, theta1, alphas, evaluator, buffers = line_inputs(query, store, alphas)
    started = time.perf_counter()
    if query.derivatives and evaluator.objective.perturb is not None:
        raise BadInput(f"{runs[0].model_id}: derivatives of an objective that perturbs its inputs (adversarial "
                       "training) are not computed", field="derivatives")
    # with derivatives: in the cost's own pass where the line fast path applies (Evaluator.line)
    options = EvalOptions(dropout_samples=query.dropout_samples, bn=query.bn, derivatives=query.derivatives)
    if query.curve is None:
        evaluation = evaluator.line(theta0, theta1, alphas, query.splits, progress, buffer_basis=buffers,
                                    options=options)
    else:  # the curve's point at t = alpha, by the curve job's own path
        manifest, bend = load_curve(store, query.curve)
        evaluation = evaluate_curve(evaluator, manifest["query"]["curve"], theta0, bend.to(theta0), theta1, buffers,
                                    alphas, query.splits, progress, options)
    derivatives = {s: (m.dcost, m.d2cost) for s, m in evaluation.splits.items()} if query.derivatives else {}
    sharpness = line_sharpness(query, evaluator, theta0, theta1, alphas, buffers, progress) if query.sharpness else {}
    return LineResult(
        alpha=alphas.tolist(),
        cost={s: m.cost.tolist() for s, m in evaluation.splits.items()},
        error={s: (m.error.tolist() if m.error is not None else None) for s, m in evaluation.splits.items()},
        extra={k: {s: m.extra[k].tolist() for s, m in evaluation.splits.items()}
               for k in next(iter(evaluation.splits.values())).extra},
        query=query.to_json(), key=query.key(),
        dcost={s: d[0].tolist() for s, d in derivatives.items()},
        d2cost={s: d[1].tolist() for s, d in derivatives.items()}, sharpness=sharpness,
        meta={"model": runs[0].model_id, "preset": runs[0].preset, "dtype": evaluation.dtype,
              "dropout_samples": query.dropout_samples,
              "bn": query.bn if runs[0].manifest.get("batchnorm") else None,
              "precision_error": evaluation.precision_error, "seconds": round(time.perf_counter() - started, 4),
              "distance": float(torch.linalg.vector_norm((theta1 - theta0).double()))})


# ------------------------------------------------------------------------------------------ job chunks
def split_line(query: LineQuery, points: int) -> list[list[int]]:
    if query.adaptive:  # one chunk: its rounds depend on the values of the previous ones
        return [[0, 0]]
    return index_ranges(query.points, points)


def compute_line_chunk(query: LineQuery, store: Store, chunk: list[int], progress: Progress | None) -> dict:
    if query.adaptive:
        return compute_adaptive_line(query, store, progress)
    if len(chunk) == 4:  # [lo, hi) points x [first, last) shards of the data: compute/kinds/line_shards.py
        return compute_line_shards(query, store, chunk, progress)
    lo, hi = chunk
    return compute_line(query, store, progress, alphas=query.alphas()[lo:hi]).to_json(metrics=False)


def compute_adaptive_line(query: LineQuery, store: Store, progress: Progress | None = None) -> dict:
    """The part of an adaptive line (its only chunk): alphas chosen by compute/adaptive.py, reusing
    the points of the same line that any process evaluated before (kept in the result cache)."""
    key = points_key(query)
    known = stored_points(key, query)
    fresh = len(known)

    def evaluate(alphas: list[float]) -> np.ndarray:
        part = compute_line(query, store, None, alphas=np.asarray(alphas)).to_json(metrics=False)
        for a, point in zip(alphas, point_parts(part)):
            known[a] = point
        return np.array([[_nan(known[a]["cost"][s][0]) for s in query.splits] for a in alphas])

    reusable = {a: np.array([_nan(p["cost"][s][0]) for s in query.splits]) for a, p in list(known.items())}
    alphas = adaptive.adaptive_alphas(query.alpha_min, query.alpha_max, query.tolerance, evaluate, reusable,
                                      progress=progress)
    if len(known) > fresh:
        store_points(key, known)
    # the points are stamped with this query (a reused one was evaluated for another window)
    points = [dict(known[a], query=query.to_json(), key=query.key()) for a in alphas]
    joined = assemble_line(query, points)
    joined["meta"].update(chunks=1, adaptive={"tolerance": query.tolerance, "budget": adaptive.BUDGET,
                                              "points": len(alphas), "reused": len(set(alphas) & set(reusable))})
    del joined["metrics"]  # a part: the assembled result gets them
    return joined


def _nan(v) -> float:
    return float("nan") if v is None else float(v)


def assemble_line(query: LineQuery, parts: list[dict]) -> dict:
    if "partial" in parts[0]:  # a line cut by data: each point range's shards added up first
        parts = join_shards(parts, list(query.splits))
    first = parts[0]
    joined = lambda field, s: [v for p in parts for v in p[field][s]]  # noqa: E731
    precision = [p["meta"]["precision_error"] for p in parts if p["meta"].get("precision_error") is not None]
    meta = dict(first["meta"], seconds=round(sum(p["meta"]["seconds"] for p in parts), 4), chunks=len(parts),
                precision_error=max(precision) if precision else None)
    result = {"alpha": [a for p in parts for a in p["alpha"]],
              "cost": {s: joined("cost", s) for s in first["cost"]},
              "error": {s: (joined("error", s) if first["error"][s] is not None else None) for s in first["error"]},
              # the objective's further costs (clean / classification / perplexity), joined alike
              "extra": {k: {s: [v for p in parts for v in p["extra"][k][s]] for s in by_split}
                        for k, by_split in first.get("extra", {}).items()},
              "query": first["query"], "key": first["key"], "meta": meta}
    for field in ("dcost", "d2cost", "sharpness"):  # exact derivatives, lambda_max along the line, when asked for
        if first.get(field):
            result[field] = {s: joined(field, s) for s in first[field]}
    meta["nonfinite"] = {s: sum(v is None for v in c) for s, c in result["cost"].items()}  # NaN/inf marked
    # where J overflowed (inf) or is undefined (NaN), per split: the page and the JSON say so
    meta["nonfinite_alpha"] = {s: [a for a, v in zip(result["alpha"], c) if v is None]
                               for s, c in result["cost"].items() if None in c}
    result["metrics"] = line_metrics_by_split(result["alpha"], result["cost"], result.get("dcost"))
    return result


def check_line(query: LineQuery, result: dict) -> None:
    check_carries_query(query, result)
    alpha = result["alpha"]
    if query.adaptive:
        n = len(alpha)
        if (finite_or_null(alpha, "alpha") or not 2 <= n <= adaptive.BUDGET or alpha[0] != query.alpha_min
                or alpha[-1] != query.alpha_max or np.any(np.diff(alpha) <= 0)):
            raise ValueError(f"alpha is not an ascending grid over [{query.alpha_min}, {query.alpha_max}] "
                             f"of at most {adaptive.BUDGET} points")
    else:
        n = query.points
        if len(alpha) != n or finite_or_null(alpha, "alpha") or not np.allclose(alpha, query.alphas(), rtol=0,
                                                                                 atol=1e-12):
            raise ValueError(f"alpha is not the query's grid of {n} points")
    fields = ("cost", "error") + (("dcost", "d2cost") if query.derivatives else ())
    fields += ("sharpness",) if query.sharpness else ()
    if any(list(result.get(f) or {}) != list(query.splits) for f in fields[2:]):
        raise ValueError("the derivatives or sharpness asked for are missing")
    if list(result["cost"]) != list(query.splits):
        raise ValueError(f"costs for {list(result['cost'])}, asked for {list(query.splits)}")
    for s in query.splits:
        for field in fields:
            values = result[field].get(s)
            if values is None and field == "error":
                continue
            if len(values) != n:
                raise ValueError(f"{field} of {s} has {len(values)} values for {n} points")
            finite_or_null(values, f"{field} of {s}")


def split_line_data(query: LineQuery, points: int, shards_per_chunk: int, num_shards: int) -> list[list[int]]:
    """A line cut by data as well (`line_data_cut` decides): every range of points (of CHUNK_POINTS,
    so the fast paths still take whole ranges) times ranges of shards."""
    return data_chunks(split_line(query, points), shards_per_chunk, num_shards)


LINE_KIND = ChunkKind("line", LineQuery, LineResult, split_line, compute_line_chunk, assemble_line, check_line,
                      data_split=split_line_data, data_cut=line_data_cut, estimate=line_work, resolve=resolve_line)
