"""Lines: J((1-alpha) theta0 + alpha theta1) on a grid of alpha (section 2, Figs 1-10).

The job kind "line" (`LINE_KIND`, listed in compute/kinds.py) cuts the alpha grid into chunks of
points; each chunk is `compute_line` on its alphas, and the parts are joined in order.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from models.errors import BadInput

from .chunks import ChunkKind, check_carries_query, finite_or_null, index_ranges
from .evaluator import Progress
from .queries import Endpoint, LineQuery
from .resources import buffer_basis, evaluator_for, random_theta, theta_of
from .sources import source_of
from .results import LineResult
from .store import Run, Store


def endpoint_runs(query: LineQuery, store: Store) -> list[Run]:
    runs = [store.load(e.run) for e in query.endpoints if e.run is not None]
    first = runs[0]
    for other in runs[1:]:
        if other.family != first.family or other.layout != first.layout:
            raise BadInput(f"endpoints are of different architectures: {first.id} ({first.model_id}/"
                           f"{first.preset}) and {other.id} ({other.model_id}/{other.preset})", field="to")
        if other.manifest["dataset"] != first.manifest["dataset"]:
            raise BadInput(f"runs {first.id} and {other.id} were trained on different data", field="to")
    return runs


def endpoint_step(endpoint: Endpoint, store: Store) -> int | None:
    """The recorded step an endpoint names (None for a random one)."""
    if endpoint.kind == "random":
        return None
    run = store.load(endpoint.run)
    return {"init": run.init_step, "final": run.final_step}.get(endpoint.kind, endpoint.step)


def endpoint_theta(endpoint: Endpoint, reference: Run, store: Store) -> torch.Tensor:
    if endpoint.kind == "random":
        return random_theta(reference, endpoint.seed, endpoint.scale)
    return theta_of(store.load(endpoint.run), endpoint_step(endpoint, store))


def endpoint_buffers(endpoints: tuple[Endpoint, ...], reference: Run, store: Store) -> torch.Tensor | None:
    """The buffer basis of a line's endpoints (see resources.buffer_basis); None without buffers."""
    rows = [buffer_basis(reference, ["random"], e.seed) if e.kind == "random"
            else buffer_basis(store.load(e.run), [endpoint_step(e, store)]) for e in endpoints]
    return None if rows[0] is None else torch.cat(rows)


def compute_line(query: LineQuery, store: Store, progress: Progress | None = None,
                 alphas: np.ndarray | None = None) -> LineResult:
    """The line of `query`, or of its `alphas` subset (a job's chunk) when given."""
    runs = endpoint_runs(query, store)
    theta0, theta1 = (endpoint_theta(e, runs[0], store) for e in query.endpoints)
    alphas = query.alphas() if alphas is None else np.asarray(alphas, dtype=np.float64)
    if query.dropout_samples and not source_of(runs[0].manifest).uses_dropout():
        raise BadInput(f"{runs[0].model_id}/{runs[0].preset} has no dropout: a Monte-Carlo dropout estimate "
                       "would equal the plain cost (ask for 0 dropout samples)", field="dropout_samples")
    started = time.perf_counter()
    evaluation = evaluator_for(runs[0], query.dtype).evaluate(
        torch.stack([theta0, theta1]), np.stack([1.0 - alphas, alphas], axis=1), query.splits, progress,
        dropout_samples=query.dropout_samples, buffer_basis=endpoint_buffers(query.endpoints, runs[0], store),
        bn=query.bn)
    return LineResult(
        alpha=alphas.tolist(),
        cost={s: m.cost.tolist() for s, m in evaluation.splits.items()},
        error={s: (m.error.tolist() if m.error is not None else None) for s, m in evaluation.splits.items()},
        extra={k: {s: m.extra[k].tolist() for s, m in evaluation.splits.items()}
               for k in next(iter(evaluation.splits.values())).extra},
        query=query.to_json(), key=query.key(),
        meta={"model": runs[0].model_id, "preset": runs[0].preset, "dtype": evaluation.dtype,
              "dropout_samples": query.dropout_samples,
              "bn": query.bn if runs[0].manifest.get("batchnorm") else None,
              "precision_error": evaluation.precision_error, "seconds": round(time.perf_counter() - started, 4),
              "distance": float(torch.linalg.vector_norm((theta1 - theta0).double()))})


# ------------------------------------------------------------------------------------------ job chunks
def split_line(query: LineQuery, points: int) -> list[list[int]]:
    return index_ranges(query.points, points)


def compute_line_chunk(query: LineQuery, store: Store, chunk: list[int], progress: Progress | None) -> dict:
    lo, hi = chunk
    return compute_line(query, store, progress, alphas=query.alphas()[lo:hi]).to_json()


def assemble_line(query: LineQuery, parts: list[dict]) -> dict:
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
    meta["nonfinite"] = {s: sum(v is None for v in c) for s, c in result["cost"].items()}  # NaN/inf marked
    # where J overflowed (inf) or is undefined (NaN), per split: the page and the JSON say so
    meta["nonfinite_alpha"] = {s: [a for a, v in zip(result["alpha"], c) if v is None]
                               for s, c in result["cost"].items() if None in c}
    return result


def check_line(query: LineQuery, result: dict) -> None:
    check_carries_query(query, result)
    alpha, n = result["alpha"], query.points
    if len(alpha) != n or finite_or_null(alpha, "alpha") or not np.allclose(alpha, query.alphas(), rtol=0, atol=1e-12):
        raise ValueError(f"alpha is not the query's grid of {n} points")
    if list(result["cost"]) != list(query.splits):
        raise ValueError(f"costs for {list(result['cost'])}, asked for {list(query.splits)}")
    for s in query.splits:
        for field in ("cost", "error"):
            values = result[field].get(s)
            if values is None and field == "error":
                continue
            if len(values) != n:
                raise ValueError(f"{field} of {s} has {len(values)} values for {n} points")
            finite_or_null(values, f"{field} of {s}")


LINE_KIND = ChunkKind("line", LineQuery, LineResult, split_line, compute_line_chunk, assemble_line, check_line)
