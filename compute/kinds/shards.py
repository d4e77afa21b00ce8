"""What the kinds cut by data share (issue 20 §5): whether a query's chunks are cut by the data's
shards as well as by points, the chunk specs, and the means of a group of chunks' partial sums.

A chunk cut by data returns the float64 sums of its shards, shard by shard (compute/scoring.py
`PartialSums`); the assembling chunk adds each point range's shards in shard order
(compute/streaming.py `combine_shards`) and divides by the examples (or counted tokens), so the
result is bit-identical however the data was cut and whichever worker computed which part. The
kinds: lines (compute/kinds/line_shards.py) and surfaces (compute/kinds/surface/kind.py).
"""

from __future__ import annotations

import numpy as np
import torch

from models.objectives import SUMMARIES

from .. import budget
from ..chunks import index_ranges
from ..scoring import PartialSums, means_of
from ..sources import source_of
from ..store import Run
from ..streaming import combine_shards


def shard_cut(run: Run, splits, chunk_work: float) -> tuple[int, int] | None:
    """(shards per chunk, shards of `splits`) when a chunk of `chunk_work` over the whole data would
    be more than budget.CHUNK_WORK and the run's data is streamed in shards (models/batches.py); None
    otherwise, and for an objective with a function of J (a summary) that models.objectives.SUMMARIES
    does not name, which the assembling chunk could not apply (the built-in ones, perplexity, it can)."""
    tables = run.manifest.get("data_shards")
    if not tables or any(s not in tables for s in splits):
        return None
    summaries = source_of(run.manifest).objective().summaries
    if any(SUMMARIES.get(name) is not fn for name, fn in summaries.items()):
        return None
    shards = sum(len(tables[s]["digests"]) for s in splits)
    if shards < 2 or chunk_work <= budget.CHUNK_WORK:
        return None
    return max(1, int(budget.CHUNK_WORK // (chunk_work / shards))), shards


def data_chunks(point_ranges: list[list[int]], shards_per_chunk: int, num_shards: int) -> list[list[int]]:
    """[lo, hi, first shard, last shard + 1] for every point range and shard range, points outer."""
    shard_ranges = index_ranges(num_shards, shards_per_chunk, minimum=1)
    return [[lo, hi, s0, s1] for lo, hi in point_ranges for s0, s1 in shard_ranges]


def joined_means(partials: list[dict]) -> tuple[torch.Tensor, list[str], int, list[str]]:
    """(P, S, metric) means over all the shards of the partial sums (PartialSums JSON) of one range
    of points, the metrics' names, the number of shards, and the objective's summaries (names)."""
    shards: dict = {}
    for obj in partials:
        partial = PartialSums.from_json(obj)
        shards.update(partial.shards)
    metrics, bounds = partial.metrics, np.asarray(partial.bounds)
    return means_of(combine_shards(shards), metrics, bounds), metrics, len(shards), partial.summaries


def summary(name: str, cost: np.ndarray) -> np.ndarray:
    """A function of J by name (models.objectives.SUMMARIES), as the evaluator applies it."""
    return SUMMARIES[name](cost)


def same_points_groups(parts: list[dict], points: str) -> list[list[dict]]:
    """Consecutive parts of one range of points (the same `points` field), in chunk order."""
    groups: list[list[dict]] = []
    for part in parts:
        if groups and groups[-1][0][points] == part[points]:
            groups[-1].append(part)
        else:
            groups.append([part])
    return groups
