"""Lines: J((1-alpha) theta0 + alpha theta1) on a grid of alpha (section 2, Figs 1-10).

The job kind "line" (`LINE_KIND`, listed in compute/kinds/__init__.py) cuts the alpha grid into chunks of
points; each chunk is `compute_line` on its alphas, and the parts are joined in order. An
adaptive line (points=auto, compute/adaptive.py) is one chunk that evaluates its rounds of new
points itself, reusing the points of the same line evaluated before by any process: they are
kept under `points_key` in the cache of the job computing the line (compute/jobs/cache.py
`current_cache`: Redis on the workers, so a zoom computed on one worker reuses what another
evaluated; the files of the embedded default under --local).

Every assembled line carries `metrics` (compute/metrics.py) per split, computed from its joined
curve; they are derived, so `LineResult.to_json` recomputes them and a result cached before they
existed gets them when read through LineResult.
"""

from __future__ import annotations

import hashlib
import logging
import time

import numpy as np
import torch

from models.errors import BadInput

from .. import ENGINE_VERSION, adaptive
from ..align import align_theta
from ..jobs.cache import current_cache
from ..jobs.errors import RedisUnavailable
from ..chunks import ChunkKind, check_carries_query, finite_or_null, index_ranges
from ..evaluator import Progress
from ..queries import Endpoint, LineQuery
from ..resources import buffer_basis, evaluator_for, random_theta, remembered_theta, theta_of
from ..sources import source_of
from ..results import LineResult, line_metrics_by_split
from ..store import Run, Store

log = logging.getLogger(__name__)


def endpoint_runs(query: LineQuery, store: Store) -> list[Run]:
    runs = [store.load(e.run) for e in query.endpoints if e.run is not None]
    runs += [store.load(e.aligned_to) for e in query.endpoints if e.aligned_to is not None]
    first = runs[0]
    for other in runs[1:]:
        if other.family != first.family or other.layout != first.layout:
            raise BadInput(f"endpoints are of different architectures: {first.id} ({first.model_id}/"
                           f"{first.preset}) and {other.id} ({other.model_id}/{other.preset})", field="to")
        if other.manifest["dataset"] != first.manifest["dataset"]:
            raise BadInput(f"runs {first.id} and {other.id} were trained on different data", field="to")
    return runs


def line_sharpness(query: LineQuery, evaluator, theta0: torch.Tensor, theta1: torch.Tensor, alphas: np.ndarray,
                   buffers: torch.Tensor | None, progress: Progress | None) -> dict[str, list]:
    """{split: lambda_max or None per alpha}: at every `query.sharpness`-th point of the grid and its last."""
    from ..hessian import Point, line_buffers, refuse_perturbing, top_eigenvalue  # it imports this module

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


def endpoint_step(endpoint: Endpoint, store: Store) -> int | None:
    """The recorded step an endpoint names (None for a random one)."""
    if endpoint.kind == "random":
        return None
    run = store.load(endpoint.run)
    return {"init": run.init_step, "final": run.final_step}.get(endpoint.kind, endpoint.step)


def endpoint_theta(endpoint: Endpoint, reference: Run, store: Store) -> torch.Tensor:
    if endpoint.kind == "random":
        return random_theta(reference, endpoint.seed, endpoint.scale)
    if endpoint.aligned_to is not None:
        return aligned_theta(store.load(endpoint.run), store.load(endpoint.aligned_to))
    return theta_of(store.load(endpoint.run), endpoint_step(endpoint, store))


def aligned_theta(run_b: Run, run_a: Run) -> torch.Tensor:
    """run_b's theta_f with its hidden units permuted to match run_a's theta_f (compute/align.py):
    the same function as run_b's, so the same J; made once per process."""
    source = source_of(run_b.manifest)
    if source.imported or run_b.manifest.get("buffers"):
        raise BadInput(f"cannot align the hidden units of {run_b.id} ({source.label}): weight matching supports "
                       "the MLP family and the convolutional maxout network of the zoo, not imported models",
                       field="endpoint")
    key = ("aligned", run_b.id, run_b.final_step, run_a.id, run_a.final_step)
    return remembered_theta(key, lambda: align_theta(source.build(None), theta_of(run_b, run_b.final_step),
                                                     theta_of(run_a, run_a.final_step)))


def endpoint_buffers(endpoints: tuple[Endpoint, ...], reference: Run, store: Store) -> torch.Tensor | None:
    """The buffer basis of a line's endpoints (see resources.buffer_basis); None without buffers."""
    rows = [buffer_basis(reference, ["random"], e.seed) if e.kind == "random"
            else buffer_basis(store.load(e.run), [endpoint_step(e, store)]) for e in endpoints]
    return None if rows[0] is None else torch.cat(rows)


def line_inputs(query: LineQuery, store: Store, alphas: np.ndarray | None = None) -> tuple:
    """(runs, theta0, theta1, alphas, evaluator, buffer basis) of a line or of its `alphas`."""
    runs = endpoint_runs(query, store)
    theta0, theta1 = (endpoint_theta(e, runs[0], store) for e in query.endpoints)
    alphas = query.alphas() if alphas is None else np.asarray(alphas, dtype=np.float64)
    if query.dropout_samples and not source_of(runs[0].manifest).uses_dropout():
        raise BadInput(f"{runs[0].model_id}/{runs[0].preset} has no dropout: a Monte-Carlo dropout estimate "
                       "would equal the plain cost (ask for 0 dropout samples)", field="dropout_samples")
    return runs, theta0, theta1, alphas, evaluator_for(runs[0], query.dtype), endpoint_buffers(query.endpoints,
                                                                                             runs[0], store)


def compute_line(query: LineQuery, store: Store, progress: Progress | None = None,
                 alphas: np.ndarray | None = None) -> LineResult:
    """The line of `query`, or of its `alphas` subset (a job's chunk) when given."""
    runs, theta0, theta1, alphas, evaluator, buffers = line_inputs(query, store, alphas)
    started = time.perf_counter()
    if query.derivatives and evaluator.objective.perturb is not None:
        raise BadInput(f"{runs[0].model_id}: derivatives of an objective that perturbs its inputs (adversarial "
                       "training) are not computed", field="derivatives")
    # with derivatives: in the cost's own pass where the line fast path applies (Evaluator.line)
    evaluation = evaluator.line(theta0, theta1, alphas, query.splits, progress, dropout_samples=query.dropout_samples,
                                buffer_basis=buffers, bn=query.bn, derivatives=query.derivatives)
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
        from .line_shards import compute_line_shards
        return compute_line_shards(query, store, chunk, progress)
    lo, hi = chunk
    return compute_line(query, store, progress, alphas=query.alphas()[lo:hi]).to_json(metrics=False)


def points_key(query: LineQuery) -> str:
    """The cache key of the points evaluated on the line a query samples, whatever its grid."""
    out = query.to_json()
    for name in ("alpha_min", "alpha_max", "points", "tolerance"):
        out.pop(name, None)
    payload = f"landscape/{ENGINE_VERSION}/{sorted(out.items())!r}".encode()
    return f"linepoints-{hashlib.sha256(payload).hexdigest()[:40]}"


STORED_POINTS = 4000  # most points kept per line (the newest): ten adaptive lines' worth


def check_points(query: LineQuery):
    """The check of a points entry of `query`'s line (ResultCache.read): raises unless every point
    is a one-point part with every field the query asks for, so that an entry cut short, of
    another schema or of another line is a miss (computed again), never a failed job."""
    fields = ("cost", "error") + (("dcost", "d2cost") if query.derivatives else ())

    def one_value(values, what: str) -> None:
        if not isinstance(values, list) or len(values) != 1:
            raise ValueError(f"{what} is not one value")
        finite_or_null(values, what)

    def check(_key: str, stored: dict) -> None:
        points = stored["points"]
        if not isinstance(points, list):
            raise ValueError("its points are not a list")
        for point in points:
            one_value(point["alpha"], "alpha")
            if point["alpha"][0] is None:
                raise ValueError("a point without alpha")
            for field in fields:
                for s in query.splits:
                    if not (field == "error" and point[field][s] is None):
                        one_value(point[field][s], f"{field} of {s}")
            for by_split in point["extra"].values():
                for s in query.splits:
                    one_value(by_split[s], f"an extra of {s}")
            float(point["meta"]["seconds"])
    return check


def _stored_points(key: str, query: LineQuery) -> dict[float, dict]:
    try:
        stored = current_cache().read(key, check_points(query)) or {"points": []}
    except RedisUnavailable as exc:  # reuse is a saving, not a need: compute them again
        log.warning("adaptive line: no reuse of earlier points (%s)", exc)
        return {}
    return {p["alpha"][0]: p for p in stored["points"]}


def _store_points(key: str, points: dict[float, dict]) -> None:
    try:
        kept = [{k: v for k, v in p.items() if k not in ("query", "key")} for p in points.values()]
        current_cache().set(key, {"points": kept[-STORED_POINTS:]})
    except RedisUnavailable as exc:
        log.warning("adaptive line: its points are not kept for reuse (%s)", exc)


def _point_parts(part: dict) -> list[dict]:
    """A chunk's part as one part per point (each as a chunk of one point)."""
    n = len(part["alpha"])
    meta = dict(part["meta"], seconds=part["meta"]["seconds"] / n)
    pick = lambda by_split, i: {s: (v[i:i + 1] if v is not None else None) for s, v in by_split.items()}  # noqa: E731
    return [{"alpha": part["alpha"][i:i + 1], "cost": pick(part["cost"], i), "error": pick(part["error"], i),
             "extra": {k: pick(by_split, i) for k, by_split in part["extra"].items()},
             "dcost": pick(part.get("dcost", {}), i), "d2cost": pick(part.get("d2cost", {}), i),
             "query": part["query"], "key": part["key"], "meta": meta} for i in range(n)]


def compute_adaptive_line(query: LineQuery, store: Store, progress: Progress | None = None) -> dict:
    """The part of an adaptive line (its only chunk): alphas chosen by compute/adaptive.py, reusing
    the points of the same line that any process evaluated before (kept in the result cache)."""
    key = points_key(query)
    known = _stored_points(key, query)
    fresh = len(known)

    def evaluate(alphas: list[float]) -> np.ndarray:
        part = compute_line(query, store, None, alphas=np.asarray(alphas)).to_json(metrics=False)
        for a, point in zip(alphas, _point_parts(part)):
            known[a] = point
        return np.array([[_nan(known[a]["cost"][s][0]) for s in query.splits] for a in alphas])

    reusable = {a: np.array([_nan(p["cost"][s][0]) for s in query.splits]) for a, p in list(known.items())}
    alphas = adaptive.adaptive_alphas(query.alpha_min, query.alpha_max, query.tolerance, evaluate, reusable,
                                      progress=progress)
    if len(known) > fresh:
        _store_points(key, known)
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
        from .line_shards import join_shards
        parts = join_shards(parts)
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
    """A line cut by data as well (compute/budget.py `data_cut` decides): every range of points
    (of CHUNK_POINTS, so the fast paths still take whole ranges) times ranges of shards."""
    from .line_shards import data_chunks
    return data_chunks(split_line(query, points), shards_per_chunk, num_shards)


LINE_KIND = ChunkKind("line", LineQuery, LineResult, split_line, compute_line_chunk, assemble_line, check_line,
                      data_split=split_line_data)
