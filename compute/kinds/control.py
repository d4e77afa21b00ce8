"""The control experiments (appendix D, sections 4-5): each cheap and exact.

random-walk (Fig. 11)  Gaussian random walks x_0 = 0, x_t = x_t-1 + N(0, I_d), `steps` steps, with
                       step `solution_step` taken as the "solution": alpha(t) = x_t^T u, u = x_sol/||x_sol||,
                       beta(t) = ||x_t - alpha(t) u||. Coordinates are independent, so the walk is
                       generated in blocks of columns and the inner products are summed over blocks:
                       one pass, memory steps x block, exact (float64 sums).
convex (Fig. 12)       J(theta) = 1/2 sum_j lambda_j (theta_j - theta*_j)^2 in `dim` dimensions, lambda
                       log-uniform in [1/condition, 1], theta* and theta_0 standard Gaussian (seeded);
                       heavy-ball gradient descent v <- mu v - lr grad, theta <- theta + v for every
                       (lr, mu); alpha/beta relative to the TRUE solution theta*, the same for all runs.
factored (Fig. 14)     the depth-2 scalar model y = w1 w2 x on its one example x = 1, y = 1, so
                       J = (1 - w1 w2)^2: a heat map over a (w1, w2) window evaluated by the Evaluator on
                       the plane basis (0, e1, e2), the gradient-descent trajectory from a small seeded
                       initialization (batch = the one example, so SGD is GD), the hyperbola w2 = 1/w1.
scalar-lines (Figs 9, 10)  lines of the same model, by the Evaluator: init -> solution (where GD from
                       init ends), solution A -> solution B (two points (a, 1/a), (b, 1/b) of the
                       solution manifold: the barrier between them), large random point -> solution.
extremes (Fig. 7 right) for any run: the two components of theta with the largest range over the
                       recorded steps, their values at every step, and the cost there.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import math
import re
import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from models import get_model
from models.datasets import DatasetRef, load_dataset

from models.errors import BadInput
from ..evaluator import Evaluator, Progress, offset_progress
from ..chunks import single_chunk
from ..queries import RUN_ID, Query
from ..resources import evaluator_for, theta_of
from ..results import csv_cell, json_safe
from ..store import Store
from ..validate import (check_grid, parse_bounds, parse_choice, parse_finite, parse_float, parse_grid, parse_int,
                        parse_points, parse_random_scale, parse_range, parse_splits)
from .surface.grid import checkpoint_costs, recorded_costs

# ------------------------------------------------------------------------------------------ the query
CONTROL_EXPERIMENTS = ("random-walk", "convex", "factored", "scalar-lines", "extremes")


def _items(value, field_name: str, most: int) -> list:
    items = [v for v in (str(value).split(",") if isinstance(value, str) else list(value)) if str(v).strip()]
    if not 1 <= len(items) <= most:
        raise BadInput(f"give 1 to {most} comma-separated values, got {value!r}", field=field_name)
    return items


def _ints(lo: int, hi: int, most: int = 10):
    return lambda v, f: tuple(sorted({parse_int(x, f, lo, hi) for x in _items(v, f, most)}))


def _floats(lo: float | None = None, hi: float | None = None, positive: bool = False, most: int = 6):
    return lambda v, f: tuple(sorted({parse_float(x, f, lo, hi, positive) for x in _items(v, f, most)}))


def _range(v, f):
    pair = parse_range(v, f) if isinstance(v, str) else list(v)
    if len(pair) != 2 or None in pair:
        raise BadInput(f"range {v!r} must be A:B", field=f)
    lo, hi = parse_bounds(pair[0], pair[1], f)
    check_grid(lo, hi, 2, f)  # a width that overflows (-1e308:1e308) makes a grid of inf and NaN
    return lo, hi


def _nonzero_pair(v, f):
    items = _items(v, f, 2)
    pair = tuple(parse_finite(x, f) for x in items)
    if len(pair) != 2 or 0.0 in pair or pair[0] == pair[1]:
        raise BadInput(f"give two different non-zero numbers a,b, got {v!r}", field=f)
    return pair


# experiment -> {parameter: (parser(value, field) -> canonical value, default)}
CONTROL_PARAMS: dict[str, dict] = {
    "random-walk": {"dims": (_ints(1, 100_000), "2,10,100,1000,10000,100000"), "seeds": (_ints(0, 2**31, 10), "0,1,2"),
                    "steps": (lambda v, f: parse_int(v, f, 2, 10_000), 1000),
                    "solution_step": (lambda v, f: parse_int(v, f, 1, 10_000), 900)},
    "convex": {"dim": (lambda v, f: parse_int(v, f, 2, 100_000), 100_000),
               "lrs": (_floats(positive=True), "0.1,0.5,1.0"), "momenta": (_floats(0.0, 0.99), "0,0.9"),
               "steps": (lambda v, f: parse_int(v, f, 2, 10_000), 1000),
               "condition": (lambda v, f: parse_float(v, f, 1.0, 1e6), 100.0),
               "seed": (lambda v, f: parse_int(v, f, 0, 2**31), 0)},
    "factored": {"w1": (_range, "-2:2"), "w2": (_range, "-2:2"), "points": (parse_grid, "101x101"),
                 "seed": (lambda v, f: parse_int(v, f, 0, 2**31), 0),
                 "init_scale": (lambda v, f: parse_float(v, f, positive=True), 0.1),
                 "lr": (lambda v, f: parse_float(v, f, positive=True), 0.1),
                 "steps": (lambda v, f: parse_int(v, f, 1, 10_000), 200)},
    "scalar-lines": {"alpha": (_range, "0:1"), "points": (lambda v, f: parse_points(v, f), 101),
                     "seed": (lambda v, f: parse_int(v, f, 0, 2**31), 0),
                     "init_scale": (lambda v, f: parse_float(v, f, positive=True), 0.1),
                     "random_scale": (lambda v, f: parse_random_scale(v, f), 10.0),
                     "solutions": (_nonzero_pair, "2,0.5"),
                     "lr": (lambda v, f: parse_float(v, f, positive=True), 0.1),
                     "steps": (lambda v, f: parse_int(v, f, 1, 10_000), 200)},
    "extremes": {"splits": (lambda v, f: parse_splits(v, f), "train")},
}


@dataclass(frozen=True)
class ControlQuery(Query):
    """A control experiment (appendix D and sections 4-5; see compute.kinds.control) with its
    parameters, every parameter filled in with its default so that the key is canonical."""

    kind: ClassVar[str] = "control"
    experiment: str
    run: str | None = None  # extremes only
    params: tuple = ()  # ((name, value), ...) or a dict; canonical: sorted, all filled in

    def __post_init__(self):
        parse_choice(self.experiment, "experiment", CONTROL_EXPERIMENTS, what="experiment")
        if self.experiment == "extremes":
            if self.run is None or not re.fullmatch(RUN_ID, str(self.run)):
                raise BadInput(f"extremes needs a run id, got {self.run!r}", field="run")
        elif self.run is not None:
            raise BadInput(f"{self.experiment} takes no run", field="run")
        given = dict(self.params)
        schema = CONTROL_PARAMS[self.experiment]
        unknown = sorted(set(given) - set(schema))
        if unknown:
            raise BadInput(f"{self.experiment} has no parameter {unknown[0]!r}; parameters: "
                           f"{', '.join(schema)}", field=unknown[0])
        values = {name: parse(default if given.get(name) is None else given[name], name)
                  for name, (parse, default) in schema.items()}
        if self.experiment == "random-walk" and values["solution_step"] > values["steps"]:
            raise BadInput(f"solution_step {values['solution_step']} is after the last step {values['steps']}",
                           field="solution_step")
        if self.experiment == "convex":
            # Heavy ball on a quadratic with largest curvature 1 converges iff lr < 2 (1 + momentum).
            bad = [(lr, mu) for lr in values["lrs"] for mu in values["momenta"] if lr >= 2 * (1 + mu)]
            if bad:
                raise BadInput(f"lr {bad[0][0]} with momentum {bad[0][1]} diverges on this problem (largest "
                               f"curvature 1): lr must be < 2 (1 + momentum)", field="lrs")
        object.__setattr__(self, "params", tuple(sorted(values.items())))

    @property
    def values(self) -> dict:
        return dict(self.params)

    def to_json(self) -> dict:
        return {"kind": self.kind, "experiment": self.experiment, "run": self.run,
                "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.params}}

    @classmethod
    def from_json(cls, obj: dict) -> "ControlQuery":
        if obj.get("kind") != cls.kind:
            raise BadInput(f"not a control query: kind {obj.get('kind')!r}")
        return cls(obj["experiment"], obj.get("run"), tuple((obj.get("params") or {}).items()))


def resolve_control(query: ControlQuery, store: Store) -> ControlQuery:
    return query if query.run is None else dataclasses.replace(query, run=store.load(query.run).id)


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


# ------------------------------------------------------------------------------------------ experiments
_WALK_BLOCK = 2048  # columns generated at once; part of the walk's definition (seeded draws in this order)


# ------------------------------------------------------------------------------- random walks, Fig. 11
def random_walk(dim: int, seed: int, steps: int, solution_step: int,
                progress: Progress | None = None) -> dict:
    generator = torch.Generator().manual_seed(seed)
    sq_norm = torch.zeros(steps + 1, dtype=torch.float64)  # ||x_t||^2, x_0 = 0
    dot_sol = torch.zeros(steps + 1, dtype=torch.float64)  # x_t^T x_sol
    blocks = range(0, dim, _WALK_BLOCK)
    for i, c0 in enumerate(blocks):
        width = min(_WALK_BLOCK, dim - c0)
        # (width, steps): coordinate j's steps are consecutive draws; cumsum along the contiguous axis
        walk = torch.randn(width, steps, generator=generator).double().cumsum(dim=1)  # x_1 .. x_steps
        sq_norm[1:] += (walk * walk).sum(dim=0)
        dot_sol[1:] += walk[:, solution_step - 1] @ walk
        if progress is not None:
            progress(i + 1, len(blocks))
    distance = math.sqrt(float(dot_sol[solution_step]))
    alpha = dot_sol / distance
    beta = (sq_norm - alpha * alpha).clamp_min(0.0).sqrt()
    beta[solution_step] = 0.0  # x_sol lies on the line by definition; rounding would leave ~1e-6
    return {"dim": dim, "seed": seed, "alpha": alpha.tolist(), "beta": beta.tolist(), "distance": distance}


def random_walks(query: ControlQuery, progress: Progress | None = None) -> dict:
    p = query.values
    jobs = [(d, s) for d in p["dims"] for s in p["seeds"]]
    walks = [random_walk(d, s, p["steps"], p["solution_step"], offset_progress(progress, i, len(jobs)))
             for i, (d, s) in enumerate(jobs)]
    return {"solution_step": p["solution_step"], "steps": p["steps"], "walks": walks}


def normalised_curve(walk: dict) -> tuple[np.ndarray, np.ndarray]:
    """A walk's (alpha, beta) divided by its extent: alpha by ||x_sol|| (1 at the solution), beta by its
    maximum, so walks of different seeds and dimensions can be laid on each other."""
    alpha, beta = np.asarray(walk["alpha"]), np.asarray(walk["beta"])
    return alpha / walk["distance"], beta / max(float(beta.max()), 1e-300)


# ------------------------------------------------------------------------- convex quadratic, Fig. 12
def convex_descent(query: ControlQuery, progress: Progress | None = None) -> dict:
    p = query.values
    generator = torch.Generator().manual_seed(p["seed"])
    dim = p["dim"]
    lam = torch.exp(torch.rand(dim, generator=generator, dtype=torch.float64) * -math.log(p["condition"]))
    theta_star = torch.randn(dim, generator=generator, dtype=torch.float64)
    theta_0 = torch.randn(dim, generator=generator, dtype=torch.float64)
    distance = float(torch.linalg.vector_norm(theta_star - theta_0))
    u = (theta_star - theta_0) / distance
    configs = [(lr, mu) for lr in p["lrs"] for mu in p["momenta"]]
    # All configurations step together, one row each, in the error coordinates e = theta - theta*:
    # theta - theta_0 = e + D u, so alpha = e^T u + D and beta^2 = ||e||^2 - (e^T u)^2.
    error = (theta_0 - theta_star).repeat(len(configs), 1)  # (C, dim)
    velocity = torch.zeros_like(error)
    momentum = torch.tensor([mu for _, mu in configs], dtype=torch.float64)[:, None]
    step_size = torch.tensor([lr for lr, _ in configs], dtype=torch.float64)[:, None] * lam  # (C, dim)
    alpha = torch.zeros(p["steps"] + 1, len(configs), dtype=torch.float64)
    beta = torch.zeros_like(alpha)
    for t in range(1, p["steps"] + 1):
        velocity.mul_(momentum).addcmul_(step_size, error, value=-1.0)  # v <- mu v - lr grad
        error.add_(velocity)
        along = error @ u
        alpha[t] = along + distance
        beta[t] = ((error * error).sum(dim=1) - along * along).clamp_min(0.0).sqrt()
        if progress is not None and t % 100 == 0:
            progress(t, p["steps"])
    final = torch.linalg.vector_norm(error, dim=1)
    runs = [{"lr": lr, "momentum": mu, "alpha": alpha[:, i].tolist(), "beta": beta[:, i].tolist(),
             "max_beta": float(beta[:, i].max()), "final_distance": float(final[i])}
            for i, (lr, mu) in enumerate(configs)]
    return {"dim": dim, "distance": distance, "condition": p["condition"], "runs": runs}


# --------------------------------------------------------------- the depth-2 scalar model, Figs 9, 10, 14
@functools.lru_cache(maxsize=1)
def scalar_evaluator() -> Evaluator:
    """The Evaluator of y = w1 w2 x on its one example (float64: the figures compare to closed forms).
    Many points per call: the model is two numbers, so Python overhead, not arithmetic, is the cost."""
    spec = get_model("scalar-linear")
    data = load_dataset(DatasetRef(spec.dataset, None, dict(spec.presets["small"].data)))
    return Evaluator(spec.build("small"), spec.objective, {"train": data.splits["train"]},
                     device="cpu", dtype=torch.float64, points_per_call=4096)


_PLANE = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)  # origin, e1, e2: theta = (w1, w2)


def scalar_cost(w1: np.ndarray, w2: np.ndarray, progress: Progress | None = None) -> np.ndarray:
    """J at the points (w1[p], w2[p]) of the scalar model, by the Evaluator."""
    coeffs = np.stack([np.ones_like(w1), w1, w2], axis=1)
    return scalar_evaluator().evaluate(_PLANE, coeffs, ["train"], progress).splits["train"].cost


def gradient_descent(w: np.ndarray, lr: float, steps: int) -> np.ndarray:
    """GD on J = (1 - w1 w2)^2 (the one example is the whole batch): (steps + 1, 2) points."""
    path = np.empty((steps + 1, 2))
    path[0] = w
    w1, w2 = float(w[0]), float(w[1])
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, steps + 1):
            e = 1.0 - w1 * w2
            w1, w2 = w1 + lr * 2.0 * w2 * e, w2 + lr * 2.0 * w1 * e
            path[t] = w1, w2
    if not np.isfinite(path).all():
        raise BadInput(f"gradient descent with lr {lr} diverges on (1 - w1 w2)^2; use a smaller lr", field="lr")
    return path


def _draws(seed: int, init_scale: float, random_scale: float) -> tuple[np.ndarray, np.ndarray]:
    generator = torch.Generator().manual_seed(seed)
    init = torch.randn(2, generator=generator, dtype=torch.float64).numpy() * init_scale
    far = torch.randn(2, generator=generator, dtype=torch.float64).numpy() * random_scale
    return init, far


def factored(query: ControlQuery, progress: Progress | None = None) -> dict:
    p = query.values
    (lo1, hi1), (lo2, hi2), (n1, n2) = p["w1"], p["w2"], p["points"]
    w1, w2 = np.linspace(lo1, hi1, n1), np.linspace(lo2, hi2, n2)
    grid = scalar_cost(np.repeat(w1, n2), np.tile(w2, n1), progress).reshape(n1, n2)
    init, _ = _draws(p["seed"], p["init_scale"], 1.0)
    path = gradient_descent(init, p["lr"], p["steps"])
    # The hyperbola of solutions w2 = 1/w1, cut to the window (None breaks the line between branches).
    h1 = np.linspace(lo1, hi1, 2001)
    with np.errstate(divide="ignore"):
        h2 = 1.0 / h1
    inside = (h1 != 0) & (h2 >= lo2) & (h2 <= hi2)
    return {"w1": w1.tolist(), "w2": w2.tolist(), "cost": grid.tolist(),
            "trajectory": {"step": list(range(len(path))), "w1": path[:, 0].tolist(), "w2": path[:, 1].tolist(),
                           "cost": scalar_cost(path[:, 0], path[:, 1]).tolist()},
            "hyperbola": {"w1": [float(a) if ok else None for a, ok in zip(h1, inside)],
                          "w2": [float(b) if ok else None for b, ok in zip(h2, inside)]}}


def scalar_lines(query: ControlQuery, progress: Progress | None = None) -> dict:
    p = query.values
    init, far = _draws(p["seed"], p["init_scale"], p["random_scale"])
    solution = gradient_descent(init, p["lr"], p["steps"])[-1]
    a, b = p["solutions"]
    pairs = {"init-solution": (init, solution),  # Fig. 9
             "solution-solution": (np.array([a, 1 / a]), np.array([b, 1 / b])),  # Fig. 10 left
             "random-solution": (far, solution)}  # Fig. 10 right
    alphas = np.linspace(*p["alpha"], p["points"])
    lines = {}
    for i, (name, (start, end)) in enumerate(pairs.items()):
        coeffs = np.stack([1.0 - alphas, alphas], axis=1)
        basis = torch.tensor(np.stack([start, end]), dtype=torch.float64)
        cost = scalar_evaluator().evaluate(basis, coeffs, ["train"], offset_progress(progress, i, len(pairs)))
        lines[name] = {"from": start.tolist(), "to": end.tolist(), "alpha": alphas.tolist(),
                       "cost": cost.splits["train"].cost.tolist()}
    return {"lines": lines}


# ------------------------------------------------------------------------ Fig. 7 right, for any run
def extremes(query: ControlQuery, store: Store, progress: Progress | None = None) -> dict:
    run = store.load(query.run)
    splits = list(query.values["splits"])
    low = high = None
    for step in run.steps:  # one checkpoint at a time
        theta = theta_of(run, step)
        low = theta.clone() if low is None else torch.minimum(low, theta)
        high = theta.clone() if high is None else torch.maximum(high, theta)
    top = torch.topk(high - low, k=min(2, len(low))).indices.tolist()
    values = [[float(theta_of(run, step)[j]) for step in run.steps] for j in top]
    costs = recorded_costs(run, run.steps, splits)
    missing = [s for s in splits if s not in costs]
    if missing:  # a split not measured while training: evaluate the checkpoints now
        costs.update(checkpoint_costs(evaluator_for(run), run, run.steps, missing))
    components = [{"index": j, "name": _component_name(run, j), "min": float(low[j]), "max": float(high[j])}
                  for j in top]
    epochs = [s["epoch"] for s in run.manifest["steps"]]
    return {"run": run.id, "step": run.steps, "epoch": epochs, "components": components,
            "x": values[0], "y": values[1] if len(values) > 1 else [0.0] * len(run.steps),
            "cost": {s: costs[s] for s in splits}, "final_step": run.final_step}


def _component_name(run, index: int) -> str:
    for name, (lo, hi) in run.layout.offsets().items():
        if lo <= index < hi:
            shape = run.layout.shapes[run.layout.names.index(name)]
            where = np.unravel_index(index - lo, shape) if shape else ()
            return f"{name}[{', '.join(str(int(i)) for i in where)}]" if shape else name
    return str(index)


# ------------------------------------------------------------------------------------------ dispatch
_EXPERIMENTS = {"random-walk": random_walks, "convex": convex_descent, "factored": factored,
                "scalar-lines": scalar_lines}


def compute_control(query: ControlQuery, store: Store, progress: Progress | None = None) -> ControlResult:
    started = time.perf_counter()
    if query.experiment == "extremes":
        data = extremes(query, store, progress)
    else:
        data = _EXPERIMENTS[query.experiment](query, progress)
    return ControlResult(query.experiment, data, query.to_json(), query.key(),
                         {"seconds": round(time.perf_counter() - started, 4)})


# The job kind "control" (listed in compute/kinds/__init__.py). Control experiments are cheap: one chunk
# each (nothing to spread over workers), and not estimated: small fixed problems.
CONTROL_KIND = single_chunk("control", ControlQuery, ControlResult, compute_control, resolve=resolve_control)
