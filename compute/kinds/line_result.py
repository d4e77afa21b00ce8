"""The result of a line: J (and the objective's further costs, exact derivatives, sharpness) per
split at every alpha, with the metrics that describe the curve (compute/metrics.py), derived from
it: `LineResult.to_json` recomputes them, so a result cached before they existed gets them when
read through LineResult."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..metrics import line_metrics
from ..queries import Endpoint
from ..results import csv_table, json_safe


def line_metrics_by_split(alpha: list, cost: dict[str, list], dcost: dict[str, list] | None = None) -> dict:
    """{split: line_metrics of its cost curve} (compute/metrics.py), with the exact dJ/dalpha when
    known; {} for a curve too short to describe. Ascending alpha is sorted from any order."""
    if len(alpha) < 2:
        return {}
    order = sorted(range(len(alpha)), key=lambda i: alpha[i])
    a = [alpha[i] for i in order]
    pick = lambda values: [values[i] for i in order]  # noqa: E731
    return {s: line_metrics(a, pick(c), dcost=pick(dcost[s]) if dcost and dcost.get(s) is not None else None)
            for s, c in cost.items()}


@dataclass
class LineResult:
    alpha: list[float]
    cost: dict[str, list]
    error: dict[str, list | None]
    query: dict
    key: str
    meta: dict = field(default_factory=dict)
    # the objective's further costs beside J, name -> split -> values: e.g. "clean" for an
    # adversarial objective, "classification" for the MP-DBM, "perplexity" for the LSTM
    extra: dict = field(default_factory=dict)
    # exact dJ/dalpha and d2J/dalpha2 per split (compute/derivatives.py); empty unless asked for
    dcost: dict = field(default_factory=dict)
    d2cost: dict = field(default_factory=dict)
    # lambda_max of the Hessian per split at each alpha (None where the line's `sharpness` skips it)
    sharpness: dict = field(default_factory=dict)
    # the metrics as the cache holds them (from_json), drawn as they were written; None when built here
    # or cached before metrics existed. to_json recomputes them either way.
    stored_metrics: dict | None = field(default=None, compare=False, repr=False)

    def metrics(self) -> dict:
        """{split: line metrics} (compute/metrics.py), from the curve itself."""
        return line_metrics_by_split(self.alpha, self.cost, self.dcost or None)

    @property
    def endpoints(self) -> tuple[Endpoint, Endpoint]:
        """The line's start and end, from its query's JSON (where they are text)."""
        return Endpoint.parse(self.query["start"], "from"), Endpoint.parse(self.query["end"], "to")

    @property
    def shown_metrics(self) -> dict:
        """The metrics a page shows: as stored in the cache, else computed from the curve."""
        return self.stored_metrics or self.metrics()

    def to_json(self, metrics: bool = True) -> dict:
        """The result's JSON; `metrics` False for a job's chunk (they describe the whole line)."""
        out = {"alpha": self.alpha, "cost": self.cost, "error": self.error, "extra": self.extra,
               "query": self.query, "key": self.key, "meta": self.meta}
        for name in ("dcost", "d2cost", "sharpness"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        if metrics:
            out["metrics"] = self.metrics()
        return json_safe(out)

    @classmethod
    def from_json(cls, obj: dict) -> "LineResult":
        return cls(obj["alpha"], obj["cost"], obj["error"], obj["query"], obj["key"], obj.get("meta", {}),
                   obj.get("extra", {}), obj.get("dcost") or {}, obj.get("d2cost") or {}, obj.get("sharpness") or {},
                   obj.get("metrics"))

    def to_csv(self) -> str:
        columns = [("alpha", self.alpha)]
        columns += [(f"cost_{s}", v) for s, v in self.cost.items()]
        columns += [(f"error_{s}", v) for s, v in self.error.items() if v is not None]
        columns += [(f"{name}_{s}", v) for name in ("dcost", "d2cost", "sharpness")
                    for s, v in getattr(self, name).items()]
        columns += [(f"{k}_{s}", v) for k, by_split in self.extra.items() for s, v in by_split.items()]
        return csv_table(columns)
