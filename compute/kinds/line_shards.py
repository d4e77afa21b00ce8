"""A line cut by data as well as by points (data-sharded chunks): chunks of (a range of α) × (a range
of the data's shards), so that a line over data one worker would take an hour for is spread over
every worker there is.

Each such chunk returns the float64 sums of its shards, shard by shard (compute/scoring.py
`PartialSums`); the assembling chunk adds each point range's shards in shard order
(compute/streaming.py `combine_shards`) and divides by the examples (or counted tokens), so the
line is bit-identical however the data was cut and whichever worker computed which part. The job
layer (compute/jobs/base.py) cuts this way when compute/kinds/line.py `line_data_cut` says one chunk
of points would hold more than a chunk's work; only deterministic fp32 lines without derivatives or
recomputed BatchNorm statistics are cut by data.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..chunks import index_ranges
from ..endpoints import line_inputs
from ..evaluator import EvalOptions, Progress
from ..queries import Query
from ..scoring import PartialSums, means_of
from ..store import Store
from ..streaming import combine_shards
from .line_result import LineResult


def data_chunks(point_ranges: list[list[int]], shards_per_chunk: int, num_shards: int) -> list[list[int]]:
    """[lo, hi, first shard, last shard + 1] for every point range and shard range, points outer."""
    shard_ranges = index_ranges(num_shards, shards_per_chunk, minimum=1)
    return [[lo, hi, s0, s1] for lo, hi in point_ranges for s0, s1 in shard_ranges]


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
    groups: list[list[dict]] = []
    for part in parts:
        if groups and groups[-1][0]["alpha"] == part["alpha"]:
            groups[-1].append(part)
        else:
            groups.append([part])
    return [_joined(group, splits) for group in groups]


def _joined(group: list[dict], splits: list[str]) -> dict:
    shards: dict = {}
    for part in group:
        partial = PartialSums.from_json(part["partial"])
        shards.update(partial.shards)
    first = group[0]
    metrics, bounds = partial.metrics, np.asarray(partial.bounds)
    means = means_of(combine_shards(shards), metrics, bounds)
    column = lambda name: {s: means[:, i, metrics.index(name)].numpy().tolist()  # noqa: E731
                           for i, s in enumerate(splits)}
    extras = [m for m in metrics if m not in ("cost", "error", "count")]
    meta = dict(first["meta"], seconds=round(sum(p["meta"]["seconds"] for p in group), 4), shards=len(shards))
    return LineResult(first["alpha"], column("cost"),
                      column("error") if "error" in metrics else {s: None for s in splits},
                      first["query"], first["key"], meta, {k: column(k) for k in extras}).to_json(metrics=False)
