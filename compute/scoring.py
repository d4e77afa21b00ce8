"""The evaluator's scoring: the per-example metrics of a chunk's outputs (cost, errors, the
objective's extras, the counted positions of a token-level objective) summed per split in float64,
and the per-split results from those sums, their means."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from models.batches import Batch, batch_as_read
from models.errors import BadInput
from models.objectives import Objective, one_cost_per_example


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
    summaries: list[str] = field(default_factory=list)  # names in models.objectives.SUMMARIES: functions of J

    def to_json(self) -> dict:
        return {"metrics": self.metrics, "bounds": self.bounds, "summaries": self.summaries,
                "shards": {str(k): v.tolist() for k, v in sorted(self.shards.items())}}

    @classmethod
    def from_json(cls, obj: dict) -> "PartialSums":
        return cls(list(obj["metrics"]), list(obj["bounds"]),
                   {int(k): torch.tensor(v, dtype=torch.float64) for k, v in obj["shards"].items()},
                   list(obj.get("summaries", [])))


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


def chunk_sums(objective: Objective, g: int, per: torch.Tensor, flat_out: torch.Tensor, flat_y: torch.Tensor,
               start: int, bounds: np.ndarray) -> torch.Tensor:
    """(g, S, metric) sums over each split of the per-example metrics of g points on examples
    from `start` on."""
    values = [one_cost_per_example(objective, per, flat_out)]
    if objective.errors:
        values.append(objective.errors(flat_out, flat_y))
    values += [fn(flat_out, flat_y) for fn in objective.extras.values()]
    if objective.counts is not None:
        values.append(objective.counts(flat_out, flat_y))
    sums = torch.zeros(g, len(bounds) - 1, len(values), dtype=torch.float64)
    for m, v in enumerate(values):
        add_segments(sums[:, :, m], v, g, start, bounds)
    return sums


def outputs_costs(objective: Objective, out: torch.Tensor, y: torch.Tensor, x: torch.Tensor | Batch | None = None):
    """(g, per-example costs (g*B,) or (g, B), outputs and targets as the objective took them)
    of g points' outputs (g, B, ...) on a chunk, for an objective that does not perturb the inputs."""
    g = len(out)
    targets = batch_as_read(x, y, g) if objective.takes_batch else targets_for(objective, y, g)
    taken = out if objective.leading_dims else out.reshape(g * out.shape[1], *out.shape[2:])
    try:  # leading_dims: (g, B, ...) as it is, no copy of a strided `out`
        per = objective.per_example(taken, targets)
    except (RuntimeError, IndexError, ValueError) as exc:
        raise BadInput(f"the objective {objective.name} cannot take the model's outputs of shape "
                       f"{tuple(out.shape[1:])} with targets of shape {tuple(y.shape)} (per batch): "
                       f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", field="loss") from None
    return g, per, taken, targets


def targets_for(objective: Objective, y: torch.Tensor, g: int) -> torch.Tensor:
    """A chunk's targets for g points' outputs, as the objective takes them: (g, B, ...) or (g*B, ...)."""
    return y.expand(g, *y.shape) if objective.leading_dims else y.repeat(g, *([1] * (y.dim() - 1)))
