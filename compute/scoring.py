"""Per-split results from the evaluator's float64 sums: the metrics summed (cost, errors, the
objective's extras, the counted positions of a token-level objective) and their means."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from models.objectives import Objective


@dataclass
class Metrics:
    cost: np.ndarray  # (P,) mean per-example cost over the split
    error: np.ndarray | None  # (P,) error rate, classifiers only
    extra: dict = field(default_factory=dict)  # name -> (P,): the objective's extras and summaries
    dcost: np.ndarray | None = None  # (P,) dJ/dalpha along a line, when asked for (Evaluator.line)
    d2cost: np.ndarray | None = None  # (P,) d2J/dalpha2


@dataclass
class PartialSums:
    """The float64 sums (P, S, metric) of some shards of the data, per shard: a chunk of a line cut
    by data (compute/kinds/line_shards.py). Combined in shard order (compute/streaming.py combine_shards), the
    shards of every chunk give the same bits as one evaluation over all of them."""

    metrics: list[str]
    bounds: list[int]
    shards: dict[int, torch.Tensor]

    def to_json(self) -> dict:
        return {"metrics": self.metrics, "bounds": self.bounds,
                "shards": {str(k): v.tolist() for k, v in sorted(self.shards.items())}}

    @classmethod
    def from_json(cls, obj: dict) -> "PartialSums":
        return cls(list(obj["metrics"]), list(obj["bounds"]),
                   {int(k): torch.tensor(v, dtype=torch.float64) for k, v in obj["shards"].items()})


@dataclass
class Evaluation:
    splits: dict[str, Metrics]
    dtype: str
    precision_error: float | None  # max |J_dtype - J_fp32| at checked points, when dtype != fp32
    partial: PartialSums | None = None  # asked for some shards only: their sums, `splits` empty


def means_of(sums: torch.Tensor, metrics: list[str], bounds: np.ndarray) -> torch.Tensor:
    """(P, S, metric) means: the sums / the examples of each split, or / the counted positions
    of a token-level objective (its "count" column)."""
    if "count" in metrics:
        return sums / sums[:, :, metrics.index("count")][:, :, None]
    return sums / torch.as_tensor(np.diff(bounds), dtype=torch.float64)[None, :, None]


def metric_names(objective: Objective) -> list[str]:
    """The per-example quantities summed over each split: cost, errors, the extras (and the
    counted positions of a token-level objective)."""
    return (["cost"] + (["error"] if objective.errors else []) + list(objective.extras)
            + (["count"] if objective.counts is not None else []))


def metrics_by_split(objective: Objective, sums: torch.Tensor, metrics: list[str], splits: Sequence[str],
                     bounds: np.ndarray) -> dict[str, Metrics]:
    """Metrics per split from the float64 sums (P, S, metric): / examples, or / counted positions."""
    means = means_of(sums, metrics, bounds)
    return {s: _metrics(objective, means[:, i], metrics) for i, s in enumerate(splits)}


def _metrics(objective: Objective, means: torch.Tensor, names: list[str]) -> Metrics:
    """Metrics of one split from its means (P, metric)."""
    column = {name: means[:, i].numpy() for i, name in enumerate(names)}
    extra = {name: column[name] for name in objective.extras}
    extra.update({name: fn(column["cost"]) for name, fn in objective.summaries.items()})
    return Metrics(column["cost"], column.get("error"), extra, column.get("dcost"), column.get("d2cost"))


def add_segments(target: torch.Tensor, values: torch.Tensor, g: int, start: int, bounds: np.ndarray) -> None:
    """Add per-example values (g*B,) of a chunk starting at `start` to per-split sums (g, S)."""
    values = values.reshape(g, -1).double()
    end = start + values.shape[1]
    for i in range(len(bounds) - 1):
        lo, hi = max(start, int(bounds[i])), min(end, int(bounds[i + 1]))
        if lo < hi:
            target[:, i] += values[:, lo - start:hi - start].sum(dim=1).cpu()
