"""The result types of lines and trajectories, plain arrays plus the query they answer, and the
JSON/CSV helpers every result type uses (surfaces: compute/kinds/surface/result.py, controls:
compute/kinds/control_result.py). The JSON is what the CLI prints, what the cache holds and what the
page's data download gives.

JSON has no NaN or Infinity (JSON.parse and jq refuse Python's `NaN`): `json_safe` writes every
non-finite number as null, once over a whole result (each result's to_json ends with it), and
`dumps` is the one way JSON text is written (CLI, cache, API), with allow_nan=False as the guard.
Where a null stands for a number that matters, the result says so beside it (a line's
meta.nonfinite and meta.nonfinite_alpha: the points where J is not finite).
"""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
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


def json_safe(obj):
    """`obj` with every non-finite number (NaN, +-inf, also numpy's) as None, every other float a
    float; dicts, lists and tuples are copied (tuples as lists), anything else is kept as it is."""
    if isinstance(obj, float) or (isinstance(obj, numbers.Real) and not isinstance(obj, numbers.Integral)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def dumps(obj, **kwargs) -> str:
    """JSON text of `obj`, non-finite numbers as null: what the CLI prints, the cache and the API
    write. allow_nan=False: json itself refuses a NaN that got past json_safe (a float type it
    does not know)."""
    return json.dumps(json_safe(obj), allow_nan=False, **kwargs)


def clean_floats(values) -> list:
    """A series as floats, non-finite values as None (flagged in `meta` where they matter)."""
    return [None if v is None else json_safe(float(v)) for v in values]


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
        return json_safe(dict(self.__dict__))

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
