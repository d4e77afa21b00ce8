"""A line cut by data as well as by points (data-sharded chunks): chunks of (a range of α) × (a range
of the data's shards), so that a line over data one worker would take an hour for is spread over
every worker there is. What every kind cut by data shares (the sums, their order, the rule that
decides): compute/kinds/shards.py.

The job layer (compute/jobs/base.py) cuts this way when compute/kinds/line.py `line_data_cut` says one chunk
of points would hold more than a chunk's work; only deterministic fp32 lines without derivatives or
recomputed BatchNorm statistics are cut by data.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..endpoints import line_inputs
from ..evaluator import EvalOptions, Progress
from ..queries import Query
from ..store import Store
from .line_result import LineResult
from .shards import joined_means, same_points_groups, summary


def compute_line_shards(query: Query, store: Store, chunk: list[int], progress: Progress | None) -> dict:
    """The part of a line (a `LineQuery`) over the points [lo, hi) and the shards [first, last)."""
    lo, hi, first, last = chunk
    runs, theta0, theta1, alphas, evaluator, buffers = line_inputs(query, store, query.alphas()[lo:hi])
    started = time.perf_counter()
    options = EvalOptions(dropout_samples=query.dropout_samples, bn=query.bn, shards=range(first, last))
    evaluation = evaluator.line(theta0, theta1, alphas, query.splits, progress, buffer_basis=buffers, options=options)
    return {"alpha": alphas.tolist(), "shards": [first, last], "partial": evaluation.partial.to_json(),
            "query": query.to_json(), "key": query.key(),
            "meta": {"model": runs[0].model_id, "preset": runs[0].preset, "dtype": "float32",
                     "dropout_samples": query.dropout_samples,
                     "bn": query.bn if runs[0].manifest.get("batchnorm") else None, "precision_error": None,
                     "seconds": round(time.perf_counter() - started, 4),
                     "distance": float(torch.linalg.vector_norm((theta1 - theta0).double()))}}


def join_shards(parts: list[dict], splits: list[str]) -> list[dict]:
    """One ordinary line part per range of points, from the parts of its shards."""
    return [_joined(group, splits) for group in same_points_groups(parts, "alpha")]


def _joined(group: list[dict], splits: list[str]) -> dict:
    means, metrics, shards, summaries = joined_means([part["partial"] for part in group])
    first = group[0]
    column = lambda name: {s: means[:, i, metrics.index(name)].numpy().tolist()  # noqa: E731
                           for i, s in enumerate(splits)}
    extras = {k: column(k) for k in metrics if k not in ("cost", "error", "count")}
    cost = {s: means[:, i, metrics.index("cost")].numpy() for i, s in enumerate(splits)}
    extras.update({name: {s: summary(name, c).tolist() for s, c in cost.items()} for name in summaries})
    meta = dict(first["meta"], seconds=round(sum(p["meta"]["seconds"] for p in group), 4), shards=shards)
    return LineResult(first["alpha"], column("cost"),
                      column("error") if "error" in metrics else {s: None for s in splits},
                      first["query"], first["key"], meta, extras).to_json(metrics=False)
