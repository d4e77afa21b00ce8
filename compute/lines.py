"""Lines: J((1-alpha) theta0 + alpha theta1) on a grid of alpha (section 2, Figs 1-10)."""

from __future__ import annotations

import time

import numpy as np
import torch

from models import get_model

from models.errors import BadInput
from .evaluator import Progress
from .queries import Endpoint, LineQuery
from .resources import evaluator_for, random_theta, theta_of
from .results import LineResult
from .store import Run, Store


def endpoint_runs(query: LineQuery, store: Store) -> list[Run]:
    runs = [store.load(e.run) for e in query.endpoints if e.run is not None]
    first = runs[0]
    for other in runs[1:]:
        if (other.model_id, other.preset) != (first.model_id, first.preset) or other.layout != first.layout:
            raise BadInput(f"endpoints are of different architectures: {first.id} ({first.model_id}/"
                           f"{first.preset}) and {other.id} ({other.model_id}/{other.preset})", field="to")
        if other.manifest["dataset"] != first.manifest["dataset"]:
            raise BadInput(f"runs {first.id} and {other.id} were trained on different data", field="to")
    return runs


def endpoint_theta(endpoint: Endpoint, reference: Run, store: Store) -> torch.Tensor:
    if endpoint.kind == "random":
        return random_theta(reference, endpoint.seed, endpoint.scale)
    run = store.load(endpoint.run)
    step = {"init": run.init_step, "final": run.final_step}.get(endpoint.kind, endpoint.step)
    return theta_of(run, step)


def compute_line(query: LineQuery, store: Store, progress: Progress | None = None,
                 alphas: np.ndarray | None = None) -> LineResult:
    """The line of `query`, or of its `alphas` subset (a job's chunk) when given."""
    runs = endpoint_runs(query, store)
    theta0, theta1 = (endpoint_theta(e, runs[0], store) for e in query.endpoints)
    alphas = query.alphas() if alphas is None else np.asarray(alphas, dtype=np.float64)
    if query.dropout_samples and not get_model(runs[0].model_id).uses_dropout(runs[0].preset):
        raise BadInput(f"{runs[0].model_id}/{runs[0].preset} has no dropout: a Monte-Carlo dropout estimate "
                       "would equal the plain cost (ask for 0 dropout samples)", field="dropout_samples")
    started = time.perf_counter()
    evaluation = evaluator_for(runs[0], query.dtype).evaluate(
        torch.stack([theta0, theta1]), np.stack([1.0 - alphas, alphas], axis=1), query.splits, progress,
        dropout_samples=query.dropout_samples)
    return LineResult(
        alpha=alphas.tolist(),
        cost={s: m.cost.tolist() for s, m in evaluation.splits.items()},
        error={s: (m.error.tolist() if m.error is not None else None) for s, m in evaluation.splits.items()},
        extra={k: {s: m.extra[k].tolist() for s, m in evaluation.splits.items()}
               for k in next(iter(evaluation.splits.values())).extra},
        query=query.to_json(), key=query.key(),
        meta={"model": runs[0].model_id, "preset": runs[0].preset, "dtype": evaluation.dtype,
              "dropout_samples": query.dropout_samples,
              "precision_error": evaluation.precision_error, "seconds": round(time.perf_counter() - started, 4),
              "distance": float(torch.linalg.vector_norm((theta1 - theta0).double()))})
