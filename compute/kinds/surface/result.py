"""The result type of surfaces: plain arrays plus the query they answer.

The JSON is what `landscape surface` prints, what the cache holds and what the page's data
download gives. Non-finite numbers are written as null (JSON has no NaN: results.json_safe).

SurfaceResult JSON (cost rows follow `alpha`, columns follow `beta`):

    {"alpha": [N], "beta": [M], "cost": {"train": [[M] * N]},
     "path": {"beta": [N], "step": [N], "cost": {"train": [N]},       # `paper` only, else null
              "turn": [N]},                                          # degrees from the previous row's v
     "trajectory": {"step": [T], "alpha": [T], "beta": [T], "cost": {"train": [T]},
                    "residual": [T], "plane_cost": {"train": [T]} | null},
     "query": {...}, "key": "...", "meta": {...}}

`path` is the one extra point of each `paper` row: row i also holds the point at beta = path.beta[i]
(the trajectory point for a recorded step, the chord point between two checkpoints for an
interpolated row). `path.turn[i]` is the angle in degrees between row i's direction v and row i-1's
(null for the first row): where it is large, neighbouring rows meet different costs at the same beta,
and the drawn surface has a steep sheet there that is the data. `mesh()` merges it into the row, so the drawn surface passes exactly through
every trajectory point.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from ...results import clean_floats, csv_cell, json_safe


def clean_trajectory(trajectory: dict) -> dict:
    """A trajectory's series with non-finite numbers written as null."""
    traj = dict(trajectory)
    for k in ("alpha", "beta", "residual"):
        traj[k] = clean_floats(traj[k])
    traj["cost"] = {s: clean_floats(v) for s, v in traj["cost"].items()}
    if traj.get("plane_cost") is not None:
        traj["plane_cost"] = {s: clean_floats(v) for s, v in traj["plane_cost"].items()}
    return traj


@dataclass
class SurfaceResult:
    alpha: list[float]  # one per row
    beta: list[float]  # the shared grid of every row
    cost: dict[str, list[list[float]]]  # split -> rows x columns
    trajectory: dict | None  # step, alpha, beta, cost{split}, residual, plane_cost{split} | None
    query: dict
    key: str
    path: dict | None = None  # paper: beta, step (None for interpolated rows), cost{split}
    meta: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        path = None
        if self.path is not None:
            path = {"beta": self.path["beta"], "step": list(self.path["step"]), "cost": self.path["cost"]}
            if self.path.get("turn") is not None:  # absent in results cached before it was recorded
                path["turn"] = self.path["turn"]
        return json_safe({"alpha": self.alpha, "beta": self.beta, "cost": self.cost, "path": path,
                          "trajectory": self.trajectory, "query": self.query, "key": self.key, "meta": self.meta})

    @classmethod
    def from_json(cls, obj: dict) -> "SurfaceResult":
        return cls(obj["alpha"], obj["beta"], obj["cost"], obj["trajectory"], obj["query"], obj["key"],
                   obj.get("path"), obj.get("meta", {}))

    def mesh(self, split: str) -> tuple[list[list[float]], list[list[float]], list[list]]:
        """(A, B, Z) as row-major 2-D lists for a parametric surface plot. For `paper`, each row's
        path point is inserted at its place in the row, so trajectory points are mesh vertices."""
        rows_a, rows_b, rows_z = [], [], []
        for i, a in enumerate(self.alpha):
            pairs = list(zip(self.beta, self.cost[split][i]))
            if self.path is not None:
                pairs.append((self.path["beta"][i], self.path["cost"][split][i]))
                pairs.sort(key=lambda p: p[0])
            rows_a.append([a] * len(pairs))
            rows_b.append([b for b, _ in pairs])
            rows_z.append([z for _, z in pairs])
        return rows_a, rows_b, rows_z

    def to_csv(self) -> str:
        """Long format: one line per grid point (and per path point, marked)."""
        splits = list(self.cost)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["alpha", "beta", "path_point"] + [f"cost_{s}" for s in splits])
        for i, a in enumerate(self.alpha):
            for j, b in enumerate(self.beta):
                writer.writerow([repr(a), repr(b), 0] + [csv_cell(self.cost[s][i][j]) for s in splits])
            if self.path is not None:
                writer.writerow([repr(a), repr(self.path["beta"][i]), 1]
                                + [csv_cell(self.path["cost"][s][i]) for s in splits])
        return buf.getvalue()
