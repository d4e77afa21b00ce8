"""What a kind of result is to everyone else: `ChunkKind`, and helpers to make one.

A kind is a plain value defined in its own module of compute/kinds/ beside the code it runs (its
query, result, computation, chunking, assembly, work estimate and resolve); compute/kinds/__init__.py
lists them. The job layer (compute/jobs/) runs any kind the same way:

    chunks = kind.split(query, points_per_chunk)      # JSON-able chunk specs, e.g. [lo, hi) ranges
    parts = [kind.compute(query, store, chunk, progress) for chunk in chunks]  # each a part's JSON
    result = kind.assemble(query, parts)              # the result's JSON, parts in chunk order
    kind.check(query, result)                         # raises ValueError: never cached then
    kind.result_type.from_json(result)

Before a query is keyed at a boundary, `kind.resolve(query, store)` names its runs by their full ids
and applies the rules that need a run; before it is queued, `kind.estimate(query, store)` says
what it costs (compute/budget.py refuses it above LANDSCAPE_MAX_WORK).

`points_per_chunk` is always the job layer's `chunk_points(query, store)` (grid points: about a
second of estimated work, at most the kind's `most_points`), so a job's chunks depend on its query
alone: every path computes the same chunks and so the same values (an evaluation can depend on
which points share a call). A chunk spec and the query's JSON are all a Celery task
receives: never tensors. This module imports nothing of the engine, so any module may define a kind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class ChunkKind:
    kind: str  # the query kind it handles (Query.kind)
    query_type: type  # has from_json(obj)
    result_type: type  # has from_json(obj)
    split: Callable[[Any, int], list]  # (query, points_per_chunk) -> chunk specs, JSON-able
    compute: Callable[[Any, Any, Any, Any], dict]  # (query, store, chunk, progress) -> the chunk's part, as JSON
    assemble: Callable[[Any, list[dict]], dict]  # (query, parts in chunk order) -> result JSON
    check: Callable[[Any, dict], None]  # raises ValueError when the result is not what the query asked
    # The most grid points a chunk may hold however cheap they are; None: the job layer's
    # CHUNK_POINTS, which spreads a line's few points over the workers. A surface has rows enough to
    # spread, and every extra evaluator call costs a set-up: its chunks are as big as the work allows.
    most_points: int | None = None
    # The embedded executor's lane (compute/jobs/local.py LocalJobs): "long" for a kind whose one chunk
    # runs for long (training) and lends the right to compute between its steps (compute/computing.py).
    lane: str = "compute"
    # A kind whose chunks may also be cut by data (streamed data's shards): `data_cut` decides,
    # (query, store, points_per_chunk) -> (shards per chunk, shards) or None, and `data_split` cuts,
    # (query, points_per_chunk, shards_per_chunk, num_shards) -> chunk specs.
    data_split: Callable[[Any, int, int, int], list] | None = None
    data_cut: Callable[[Any, Any, int], tuple[int, int] | None] | None = None
    # (query, store) -> compute/budget.py's Work; None: cheap whatever is asked, never estimated.
    estimate: Callable[[Any, Any], Any] | None = None
    # (query, store) -> the query with its runs by full id, refused (BadInput) where the run rules it
    # out; None: nothing to resolve.
    resolve: Callable[[Any, Any], Any] | None = None


def index_ranges(n: int, per_chunk: int, minimum: int = 3) -> list[list[int]]:
    """[lo, hi) ranges covering range(n) in nearly equal chunks of about `per_chunk`. Chunks keep
    at least `minimum` points where n allows: the evaluator's fast paths (first-layer reuse, the
    line path) need a call to hold more points than basis vectors."""
    per_chunk = max(int(per_chunk), minimum, 1)
    count = max(1, min(math.ceil(n / per_chunk), n // minimum if n >= minimum else 1))
    bounds = np.linspace(0, n, count + 1).round().astype(int)
    return [[int(lo), int(hi)] for lo, hi in zip(bounds[:-1], bounds[1:])]


def check_carries_query(query, result: dict) -> None:
    if result.get("key") != query.key() or result.get("query") != query.to_json():
        raise ValueError("the result does not carry its query")


def single_chunk(kind: str, query_type: type, result_type: type, compute: Callable[..., Any],
                 check: Callable[[Any, dict], None] | None = None, with_progress: bool = False,
                 lane: str = "compute", resolve: Callable[[Any, Any], Any] | None = None,
                 estimate: Callable[[Any, Any], Any] | None = None) -> ChunkKind:
    """A kind with nothing to split: one chunk computes the whole result with `compute(query, store)`,
    or `compute(query, store, progress)` with `with_progress` (a long chunk that reports how far it is
    and stops when the progress callback raises: a training run)."""
    def check_all(query, result: dict) -> None:
        check_carries_query(query, result)
        if check is not None:
            check(query, result)

    def compute_chunk(query, store, chunk, progress) -> dict:
        return (compute(query, store, progress) if with_progress else compute(query, store)).to_json()

    return ChunkKind(kind, query_type, result_type, split=lambda q, n: [[0, 1]], compute=compute_chunk,
                     assemble=lambda q, parts: parts[0], check=check_all, lane=lane, estimate=estimate,
                     resolve=resolve)


def finite_or_null(values: list, what: str) -> int:
    """Checks every value is a finite float or null (non-finite, written as null); counts the nulls."""
    nulls = 0
    for v in values:
        if v is None:
            nulls += 1
        elif not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{what} holds {v!r}: neither a finite number nor null")
    return nulls
