"""The result type of the control experiments (compute/kinds/control.py): one experiment's arrays
plus the query they answer. The JSON is what `landscape control` prints, what the cache holds and
what the page's data download gives; non-finite numbers are written as null (JSON has no NaN:
results.json_safe).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from ..results import csv_cell, json_safe


@dataclass
class ControlResult:
    """One control experiment's arrays (see compute.kinds.control for each experiment's fields)."""

    experiment: str
    data: dict
    query: dict
    key: str
    meta: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return json_safe({"experiment": self.experiment, **self.data, "query": self.query, "key": self.key,
                          "meta": self.meta})

    @classmethod
    def from_json(cls, obj: dict) -> "ControlResult":
        data = {k: v for k, v in obj.items() if k not in ("experiment", "query", "key", "meta")}
        return cls(obj["experiment"], data, obj["query"], obj["key"], obj.get("meta", {}))

    def to_csv(self) -> str:
        """The experiment's main table in long format (the JSON has everything)."""
        d, rows = self.data, []
        if self.experiment == "random-walk":
            header = ["dim", "seed", "step", "alpha", "beta"]
            rows = [[w["dim"], w["seed"], t, a, b] for w in d["walks"]
                    for t, (a, b) in enumerate(zip(w["alpha"], w["beta"]))]
        elif self.experiment == "convex":
            header = ["lr", "momentum", "step", "alpha", "beta"]
            rows = [[r["lr"], r["momentum"], t, a, b] for r in d["runs"]
                    for t, (a, b) in enumerate(zip(r["alpha"], r["beta"]))]
        elif self.experiment == "factored":
            header = ["w1", "w2", "cost"]
            rows = [[w1, w2, c] for w1, row in zip(d["w1"], d["cost"]) for w2, c in zip(d["w2"], row)]
        elif self.experiment == "scalar-lines":
            header = ["line", "alpha", "cost"]
            rows = [[name, a, c] for name, line in d["lines"].items() for a, c in zip(line["alpha"], line["cost"])]
        else:  # extremes
            splits = list(d["cost"])
            header = ["step", "epoch", d["components"][0]["name"], d["components"][-1]["name"]] + \
                [f"cost_{s}" for s in splits]
            rows = [[t, e, x, y] + [d["cost"][s][i] for s in splits]
                    for i, (t, e, x, y) in enumerate(zip(d["step"], d["epoch"], d["x"], d["y"]))]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([csv_cell(v) if isinstance(v, float) else v for v in row])
        return buf.getvalue()

