"""Validated, canonical, hashable requests: one query type per kind of result.

Everything a user can type (CLI flags, form fields, URL parameters) becomes a query here or is
refused with `BadInput`. `query.key()` hashes the canonical JSON plus the engine version: the same
key names the cache entry, the job and the Celery task. Run ids end with a digest of the run's
content, so a key that names a run names what it contains.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np

from . import ENGINE_VERSION
from models.errors import BadInput
from .validate import (AUTO_POINTS, DEFAULT_BN, MAX_POINTS, DEFAULT_TOLERANCE, check_grid, format_number, parse_bn,
                       parse_bounds, parse_choice, parse_dropout_samples, parse_dtype, parse_finite, parse_flag,
                       parse_float, parse_grid, parse_int, parse_line_points, parse_points, parse_random_scale,
                       parse_range, parse_seed, parse_splits, parse_tolerance)
_RUN_ID = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
_ENDPOINT = re.compile(rf"^(?:(init|final):({_RUN_ID})(?:~({_RUN_ID}))?|step:({_RUN_ID}):([0-9]+)|random:([0-9]+)(?::([^:]+))?)$")


@dataclass(frozen=True)
class Endpoint:
    """A named point in parameter space: init:RUN, final:RUN, step:RUN:T, random:SEED[:SCALE], and
    final:RUN_B~RUN_A: RUN_B's theta_f with its hidden units permuted to match RUN_A's theta_f
    (weight matching, compute/align.py)."""

    kind: str  # "init" | "final" | "step" | "random"
    run: str | None = None
    step: int | None = None
    seed: int | None = None
    scale: float = 1.0
    aligned_to: str | None = None  # final:B~A: the run whose theta_f B's units are matched to

    @classmethod
    def parse(cls, text: str, field_name: str = "endpoint") -> "Endpoint":
        m = _ENDPOINT.match(str(text).strip())
        if not m:
            raise BadInput(f"malformed endpoint {text!r}: expected init:RUN, final:RUN, step:RUN:T, "
                           "random:SEED[:SCALE] or final:RUN_B~RUN_A", field=field_name)
        kind_run, run, aligned_to, step_run, step, seed, scale = m.groups()
        if aligned_to is not None and kind_run != "final":
            raise BadInput(f"only a final endpoint can be aligned (final:RUN_B~RUN_A), got {text!r}", field=field_name)
        if aligned_to is not None and aligned_to == run:
            raise BadInput(f"{text!r} aligns a run to itself: name another run after ~", field=field_name)
        if kind_run:
            return cls(kind_run, run=run, aligned_to=aligned_to)
        if step_run:
            return cls("step", run=step_run, step=parse_int(step, field_name, minimum=0, what="step"))
        scale_value = parse_random_scale(scale, field_name) if scale is not None else 1.0
        return cls("random", seed=parse_seed(seed, field_name, "random endpoint seed"), scale=scale_value)

    def __str__(self) -> str:
        if self.aligned_to is not None:
            return f"final:{self.run}~{self.aligned_to}"
        if self.kind in ("init", "final"):
            return f"{self.kind}:{self.run}"
        if self.kind == "step":
            return f"step:{self.run}:{self.step}"
        return f"random:{self.seed}:{format_number(self.scale)}"


class Query:
    """Base: canonical JSON and key. Subclasses are frozen dataclasses validated on creation."""

    kind: ClassVar[str]

    def to_json(self) -> dict:
        out = {"kind": self.kind}
        for k, v in asdict(self).items():
            out[k] = list(v) if isinstance(v, tuple) else v
        return out

    def canonical(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    def key(self) -> str:
        payload = f"landscape/{ENGINE_VERSION}/{self.canonical()}".encode()
        return f"{self.kind}-{hashlib.sha256(payload).hexdigest()[:40]}"


@dataclass(frozen=True)
class LineQuery(Query):
    """J((1-alpha) theta0 + alpha theta1) on a uniform grid of alpha, for each split; or on an
    adaptive one (points="auto", refined until linear interpolation is within `tolerance` of the
    curve's range: compute/adaptive.py); with `derivatives`, dJ/dalpha and d2J/dalpha2 exactly
    (the line fast path, or double backward: compute/derivatives.py)."""

    kind: ClassVar[str] = "line"
    start: str  # canonical endpoint text
    end: str
    alpha_min: float = 0.0
    alpha_max: float = 1.0
    points: int | str = 50  # or "auto"
    splits: tuple[str, ...] = ("train", "valid")
    dtype: str = "float32"
    # 0: the cost in eval mode (dropout off, weights scaled), the paper's J. N > 0: a Monte-Carlo
    # estimate of the cost with dropout on, the mean of N passes (compute/evaluator.py).
    dropout_samples: int = 0
    bn: str = DEFAULT_BN  # BatchNorm statistics between the endpoints (models with BatchNorm only)
    derivatives: bool = False  # also dJ/dalpha and d2J/dalpha2 at every point
    tolerance: float | None = None  # points="auto" only (DEFAULT_TOLERANCE when not given)
    sharpness: int = 0  # N > 0: lambda_max of the Hessian at every N-th grid point and the last (compute/hessian.py)

    def __post_init__(self):
        start, end = Endpoint.parse(self.start, "from"), Endpoint.parse(self.end, "to")
        if start.kind == "random" and end.kind == "random":
            raise BadInput("at least one endpoint must name a run (it fixes the architecture and data)",
                           field="from")
        lo, hi = parse_bounds(self.alpha_min, self.alpha_max, "alpha")
        points = parse_line_points(self.points)
        # an adaptive grid refines towards at most MAX_POINTS points: the range must hold that many
        check_grid(lo, hi, MAX_POINTS if points == AUTO_POINTS else points, "alpha")
        object.__setattr__(self, "start", str(start))
        object.__setattr__(self, "end", str(end))
        object.__setattr__(self, "alpha_min", lo)
        object.__setattr__(self, "alpha_max", hi)
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "splits", parse_splits(self.splits))
        object.__setattr__(self, "dtype", parse_dtype(self.dtype))
        object.__setattr__(self, "dropout_samples", parse_dropout_samples(self.dropout_samples))
        object.__setattr__(self, "bn", parse_bn(self.bn))
        derivatives = parse_flag(self.derivatives, "derivatives")
        if derivatives and self.bn == "recompute":
            raise BadInput("derivatives along the line need interpolated BatchNorm statistics: statistics "
                           "re-estimated at every point are not a differentiable function of alpha here "
                           "(ask for bn=interpolate, or no derivatives)", field="derivatives")
        if derivatives and self.dropout_samples:
            raise BadInput("derivatives are of the eval-mode cost: ask for 0 dropout samples", field="derivatives")
        object.__setattr__(self, "derivatives", derivatives)
        if points != AUTO_POINTS and self.tolerance is not None:
            raise BadInput("a tolerance applies to points=auto only", field="tolerance")
        tolerance = parse_tolerance(DEFAULT_TOLERANCE if self.tolerance is None else self.tolerance)
        object.__setattr__(self, "tolerance", tolerance if points == AUTO_POINTS else None)
        sharpness = parse_int(self.sharpness, "sharpness", 0, MAX_POINTS, what="sharpness (every N-th point)")
        if sharpness and (points == AUTO_POINTS or self.dropout_samples):
            raise BadInput("sharpness is computed on a uniform grid of the eval-mode cost (no points=auto, no "
                           "dropout samples)", field="sharpness")
        object.__setattr__(self, "sharpness", sharpness)

    @property
    def adaptive(self) -> bool:
        return self.points == AUTO_POINTS

    def to_json(self) -> dict:
        out = super().to_json()
        if not self.dropout_samples:  # the plain line keeps the key it always had
            del out["dropout_samples"]
        for name in ("derivatives", "tolerance", "sharpness"):  # in the key only when asked for
            if not out[name]:
                del out[name]
        return _default_bn_omitted(out)

    @classmethod
    def from_args(cls, start: str, end: str, alpha: str = "0:1", points: int | str = 50,
                  splits: str = "train,valid", dtype: str = "float32", dropout_samples: int | str = 0,
                  bn: str = DEFAULT_BN, derivatives: bool | str = False,
                  tolerance: float | str | None = None, sharpness: int | str = 0) -> "LineQuery":
        lo, hi = parse_range(alpha)
        return cls(start, end, lo, hi, parse_line_points(points), parse_splits(splits), dtype, dropout_samples, bn,
                   derivatives, tolerance, sharpness)

    @classmethod
    def from_json(cls, obj: dict) -> "LineQuery":
        if obj.get("kind") != cls.kind:
            raise BadInput(f"not a line query: kind {obj.get('kind')!r}")
        return cls(obj["start"], obj["end"], obj["alpha_min"], obj["alpha_max"], obj["points"],
                   tuple(obj["splits"]), obj.get("dtype", "float32"), obj.get("dropout_samples", 0),
                   obj.get("bn", DEFAULT_BN), obj.get("derivatives", False), obj.get("tolerance"),
                   obj.get("sharpness", 0))

    @property
    def endpoints(self) -> tuple[Endpoint, Endpoint]:
        return Endpoint.parse(self.start), Endpoint.parse(self.end)

    def alphas(self) -> np.ndarray:
        """The uniform grid (an adaptive line's grid is known only once computed)."""
        if self.adaptive:
            raise ValueError("an adaptive line (points=auto) has no grid before it is computed")
        return np.linspace(self.alpha_min, self.alpha_max, self.points)


@dataclass(frozen=True)
class TrajectoryQuery(Query):
    """alpha(t), beta(t), ||theta(t)|| and the learning curve of one run (appendix B)."""

    kind: ClassVar[str] = "trajectory"
    run: str

    def __post_init__(self):
        if not re.fullmatch(_RUN_ID, str(self.run)):
            raise BadInput(f"malformed run id {self.run!r}", field="run")

    @classmethod
    def from_json(cls, obj: dict) -> "TrajectoryQuery":
        return cls(obj["run"])


def resolve_endpoint(endpoint: Endpoint, store) -> Endpoint:
    """Expand a run-id prefix to the full id (which ends in the run's content digest)."""
    if endpoint.run is None:
        return endpoint
    run = store.load(endpoint.run)
    if endpoint.kind == "step" and endpoint.step not in run.steps:
        raise BadInput(f"run {run.id} has no checkpoint at step {endpoint.step}", field="endpoint")
    aligned_to = store.load(endpoint.aligned_to).id if endpoint.aligned_to is not None else None
    if aligned_to == run.id:
        raise BadInput(f"{endpoint} aligns run {run.id} to itself", field="endpoint")
    return Endpoint(endpoint.kind, run=run.id, step=endpoint.step, seed=endpoint.seed, scale=endpoint.scale,
                    aligned_to=aligned_to)


def _default_bn_omitted(out: dict) -> dict:
    if out.get("bn") == DEFAULT_BN:  # queries of models without BatchNorm keep the keys they always had
        del out["bn"]
    return out


def resolve(query: Query, store) -> Query:
    """The same query with every run named by its full id (and, for a model without BatchNorm,
    the BatchNorm policy it ignores set to the default, so both ask for one result): call before
    `key()` at a boundary."""
    if query.kind == "hessian":  # compute/kinds/hessian.py
        return query.resolved(store)
    if isinstance(query, LineQuery):
        a, b = (resolve_endpoint(e, store) for e in query.endpoints)
        run = store.load((a if a.run is not None else b).run)
        bn = query.bn if run.manifest.get("batchnorm") else DEFAULT_BN
        return dataclasses.replace(query, start=str(a), end=str(b), bn=bn)
    if isinstance(query, TrajectoryQuery) or getattr(query, "run", None) is not None:  # + surface, control
        run = store.load(query.run)
        if isinstance(query, SurfaceQuery):
            return dataclasses.replace(query, run=run.id, bn=query.bn if run.manifest.get("batchnorm") else DEFAULT_BN)
        return dataclasses.replace(query, run=run.id)
    return query


# ---------------------------------------------------------------- surfaces and control experiments
SURFACE_KINDS = ("paper", "random-plane", "alpha-random", "hessian")
NORMALIZATIONS = ("global", "filter")


@dataclass(frozen=True)
class SurfaceQuery(Query):
    """A cost surface of one run with its trajectory (appendix C, D): see compute.kinds.surface.kind.

    surface: "paper" (rows along each step's residual direction), "random-plane" (theta_f + a d1 + b d2)
    or "alpha-random" (theta_i + alpha (theta_f - theta_i) + b r, r random and orthogonal to u).
    Ranges left None are fitted to the trajectory. seed applies to the random kinds, scale and
    normalization to random-plane only.
    """

    kind: ClassVar[str] = "surface"
    run: str
    surface: str = "paper"
    alpha_min: float | None = None
    alpha_max: float | None = None
    beta_min: float | None = None
    beta_max: float | None = None
    rows: int = 41
    columns: int = 41
    splits: tuple[str, ...] = ("train",)
    dtype: str = "float32"
    seed: int | None = None
    scale: float | None = None
    normalization: str | None = None
    bn: str = DEFAULT_BN  # BatchNorm statistics off the checkpoints (models with BatchNorm only)

    def __post_init__(self):
        if not re.fullmatch(_RUN_ID, str(self.run)):
            raise BadInput(f"malformed run id {self.run!r}", field="run")
        parse_choice(self.surface, "kind", SURFACE_KINDS, what="surface kind")
        a_lo, a_hi = parse_bounds(self.alpha_min, self.alpha_max, "alpha", optional=True)
        b_lo, b_hi = parse_bounds(self.beta_min, self.beta_max, "beta", optional=True)
        rows, columns = parse_grid((self.rows, self.columns))
        for name, lo, hi, n in (("alpha", a_lo, a_hi, rows), ("beta", b_lo, b_hi, columns)):
            if lo is not None:
                check_grid(lo, hi, n, name)
        random_kind = self.surface != "paper"
        if self.seed is not None and not random_kind:
            raise BadInput("seed applies to the random-plane and alpha-random surfaces only", field="seed")
        seed = None
        if random_kind:
            seed = parse_seed(0 if self.seed is None else self.seed, "seed")
        if self.surface != "random-plane" and (self.scale is not None or self.normalization is not None):
            raise BadInput("scale and normalization apply to the random-plane surface only", field="scale")
        scale = normalization = None
        if self.surface == "random-plane":
            normalization = parse_choice(self.normalization or "global", "normalization", NORMALIZATIONS,
                                         what="normalization")
            if self.scale is not None:
                scale = parse_finite(self.scale, "scale", "scale")
                if scale <= 0:
                    raise BadInput(f"scale must be > 0, got {self.scale}", field="scale")
        for name, value in (("alpha_min", a_lo), ("alpha_max", a_hi), ("beta_min", b_lo), ("beta_max", b_hi),
                            ("rows", rows), ("columns", columns), ("splits", parse_splits(self.splits)),
                            ("dtype", parse_dtype(self.dtype)), ("seed", seed), ("scale", scale),
                            ("normalization", normalization), ("bn", parse_bn(self.bn))):
            object.__setattr__(self, name, value)

    def to_json(self) -> dict:
        return _default_bn_omitted(super().to_json())

    @classmethod
    def from_args(cls, run: str, surface: str = "paper", alpha: str | None = None, beta: str | None = None,
                  points: str = "41x41", splits: str = "train", dtype: str = "float32",
                  seed: str | int | None = None, scale: str | float | None = None,
                  normalization: str | None = None, bn: str = DEFAULT_BN) -> "SurfaceQuery":
        a = parse_range(alpha, "alpha") if alpha else (None, None)
        b = parse_range(beta, "beta") if beta else (None, None)
        rows, columns = parse_grid(points)
        if seed is not None:
            seed = parse_seed(seed, "seed")
        return cls(run, surface, a[0], a[1], b[0], b[1], rows, columns, parse_splits(splits), dtype, seed,
                   parse_finite(scale, "scale", "scale") if scale is not None else None, normalization, bn)

    @classmethod
    def from_json(cls, obj: dict) -> "SurfaceQuery":
        if obj.get("kind") != cls.kind:
            raise BadInput(f"not a surface query: kind {obj.get('kind')!r}")
        names = [f.name for f in dataclasses.fields(cls) if f.name in obj]
        return cls(**{n: (tuple(obj[n]) if n == "splits" else obj[n]) for n in names})


@dataclass(frozen=True)
class TrainQuery(Query):
    """Train a zoo model with one of its presets and a seed on the offline demo data, and record the
    run (compute/training.py): the job of `landscape serve --demo`. Its result names the run."""

    kind: ClassVar[str] = "train"
    model: str
    preset: str = "small"
    seed: int = 0

    def __post_init__(self):
        from models import get_model  # here: the zoo's registry is not needed to parse other queries

        spec = get_model(self.model)
        if self.preset not in spec.presets:
            raise BadInput(f"model {self.model} has no preset {self.preset!r}; presets: {', '.join(spec.presets)}",
                           field="preset")
        object.__setattr__(self, "seed", parse_seed(self.seed, "seed"))

    @classmethod
    def from_json(cls, obj: dict) -> "TrainQuery":
        if obj.get("kind") != cls.kind:
            raise BadInput(f"not a train query: kind {obj.get('kind')!r}")
        return cls(obj["model"], obj["preset"], obj["seed"])


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
            if self.run is None or not re.fullmatch(_RUN_ID, str(self.run)):
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


def __getattr__(name: str):
    """HessianQuery lives in compute/kinds/hessian.py (this module is at the length limit), which
    imports this one: it is named here on first use."""
    if name == "HessianQuery":
        from .kinds.hessian import HessianQuery
        return HessianQuery
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
