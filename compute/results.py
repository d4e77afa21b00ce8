"""The result types of lines and trajectories, plain arrays plus the query they answer, and the
JSON/CSV helpers every result type uses (surfaces: compute/surface_results.py, controls:
compute/control_results.py). The JSON is what the CLI prints, what the cache holds and what the
page's data download gives.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field

from .metrics import line_metrics


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


def clean_floats(values) -> list:
    """JSON has no NaN/inf: non-finite values are written as null (and flagged in `meta`)."""
    return [None if v is None or not math.isfinite(float(v)) else float(v) for v in values]


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

    def metrics(self) -> dict:
        """{split: line metrics} (compute/metrics.py), from the curve itself."""
        return line_metrics_by_split(self.alpha, self.cost, self.dcost or None)

    def to_json(self, metrics: bool = True) -> dict:
        """The result's JSON; `metrics` False for a job's chunk (they describe the whole line)."""
        out = {"alpha": clean_floats(self.alpha),
               "cost": {s: clean_floats(v) for s, v in self.cost.items()},
               "error": {s: (clean_floats(v) if v is not None else None) for s, v in self.error.items()},
               "extra": {k: {s: clean_floats(v) for s, v in by_split.items()} for k, by_split in self.extra.items()},
               "query": self.query, "key": self.key, "meta": self.meta}
        for name in ("dcost", "d2cost", "sharpness"):
            if getattr(self, name):
                out[name] = {s: clean_floats(v) for s, v in getattr(self, name).items()}
        if metrics:
            out["metrics"] = self.metrics()
        return out

    @classmethod
    def from_json(cls, obj: dict) -> "LineResult":
        return cls(obj["alpha"], obj["cost"], obj["error"], obj["query"], obj["key"], obj.get("meta", {}),
                   obj.get("extra", {}), obj.get("dcost") or {}, obj.get("d2cost") or {}, obj.get("sharpness") or {})

    def to_csv(self) -> str:
        columns = [("alpha", self.alpha)]
        columns += [(f"cost_{s}", v) for s, v in self.cost.items()]
        columns += [(f"error_{s}", v) for s, v in self.error.items() if v is not None]
        columns += [(f"{name}_{s}", v) for name in ("dcost", "d2cost", "sharpness")
                    for s, v in getattr(self, name).items()]
        columns += [(f"{k}_{s}", v) for k, by_split in self.extra.items() for s, v in by_split.items()]
        return _csv(columns)


@dataclass
class TrajectoryResult:
    step: list[int]
    epoch: list[float]
    alpha: list[float]  # projection on u, normalised by ||theta_f - theta_i|| (the line's alpha)
    alpha_distance: list[float]  # the same in parameter-space distance
    beta: list[float]  # norm of the residual
    theta_norm: list[float]
    residual_ratio: list[float]  # beta / ||theta(t)||
    cost: dict[str, list]  # learning curve: exact cost per recorded step
    error: dict[str, list]
    final_step: int
    distance: float  # ||theta_f - theta_i||
    query: dict
    key: str

    def to_json(self) -> dict:
        out = dict(self.__dict__)
        for k in ("alpha", "alpha_distance", "beta", "theta_norm", "residual_ratio"):
            out[k] = clean_floats(out[k])
        out["cost"] = {s: clean_floats(v) for s, v in self.cost.items()}
        out["error"] = {s: clean_floats(v) for s, v in self.error.items()}
        return out

    @classmethod
    def from_json(cls, obj: dict) -> "TrajectoryResult":
        return cls(**obj)

    def to_csv(self) -> str:
        columns = [(k, getattr(self, k)) for k in
                   ("step", "epoch", "alpha", "alpha_distance", "beta", "theta_norm", "residual_ratio")]
        columns += [(f"cost_{s}", v) for s, v in self.cost.items()]
        columns += [(f"error_{s}", v) for s, v in self.error.items()]
        return _csv(columns)


def csv_cell(v) -> str:
    """A float as CSV: its repr, or empty when missing or not finite."""
    return "" if v is None or not math.isfinite(float(v)) else repr(float(v))


def _csv(columns: list[tuple[str, list]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([name for name, _ in columns])
    for row in zip(*[values for _, values in columns]):
        writer.writerow(["" if v is None else repr(v) if isinstance(v, float) else v for v in row])
    return buf.getvalue()
