"""The kind "hessian": the spectrum of the Hessian of J at any point, over whole splits. Its query
(`HessianQuery`, validated and canonical), resolve and work estimate, its result, and the job kind
(`HESSIAN_KIND`, listed in compute/kinds/__init__.py); the Hessian-vector products and the
operator are compute/hessian.py's.

A query is one chunk: Lanczos iterations are sequential, so they run in order inside it, reporting
progress after every product and stopping when the progress callback raises (cancel). The products
are not cut into data shards across workers (not done: a Lanczos step needs the previous step's
product from every shard, a round trip per step).

    landscape hessian final:RUN --top 3 --trace
    landscape hessian final:RUN --density --splits train,valid --format csv

The point: an endpoint of a run (`final:RUN`, `init:RUN`, `step:RUN:T`), or, with `to` and
`alpha`, the point (1 - alpha) at + alpha to of the line between two endpoints, its BatchNorm
statistics by the line's policy (`bn`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import ClassVar

from models.errors import BadInput

from .. import budget
from ..chunks import single_chunk
from ..endpoints import endpoint_buffers, endpoint_runs, endpoint_theta
from ..evaluator import Evaluator, Progress
from ..hessian import Operator, Point, line_buffers, refuse_perturbing
from ..lanczos import METHOD_VERSION, TRACE_METHODS, Eigenpairs, extreme_eigenpairs, spectral_density, trace_estimate
from ..queries import Endpoint, Query, check_bn, default_bn_omitted, resolve_endpoint
from ..resources import evaluator_for
from ..results import clean_floats, csv_table
from ..store import Run, Store
from ..validate import (DEFAULT_BN, parse_bn, parse_choice, parse_dtype, parse_finite, parse_flag, parse_float,
                        parse_int, parse_seed, parse_splits)

MOST_EIGENPAIRS = 20  # top + bottom: each is a vector of |theta| kept through the run
MOST_ITERATIONS = 300
MOST_PROBES = 500
MOST_DENSITY_STEPS = 200


@dataclass(frozen=True)
class HessianQuery(Query):
    """The Hessian of J over whole splits at one point: the `top` largest and `bottom` most negative
    eigenvalues by Lanczos (to relative `tolerance`, at most `iterations` products), the trace by
    Hutchinson or Hutch++ with `trace_probes` products, the spectral density by stochastic Lanczos
    quadrature (`density_probes` runs of `density_steps` steps, Gaussian broadening `broadening` on
    the symmetric-log axis). Random vectors are drawn from `seed`."""

    kind: ClassVar[str] = "hessian"
    at: Endpoint  # text is parsed once, on creation; the JSON and key hold str(endpoint)
    to: Endpoint | None = None
    alpha: float | None = None
    top: int = 1
    bottom: int = 0
    trace: bool = False
    density: bool = False
    splits: tuple[str, ...] = ("train",)
    dtype: str = "float32"
    bn: str = DEFAULT_BN
    tolerance: float = 1e-3
    iterations: int = 100
    trace_method: str = "hutchinson"
    trace_probes: int = 30
    density_probes: int = 4
    density_steps: int = 40
    broadening: float = 0.05
    seed: int = 0

    def __post_init__(self):
        at = Endpoint.of(self.at, "at")
        if at.kind == "random" or at.aligned_to is not None:
            raise BadInput(f"the Hessian is taken at a run's point (init:RUN, final:RUN, step:RUN:T), got {self.at!r}",
                           field="at")
        on_line = self.to is not None or self.alpha is not None
        if on_line and (self.to is None or self.alpha is None):
            raise BadInput("a point on a line needs both `to` and `alpha`", field="alpha")
        top = parse_int(self.top, "top", 0, MOST_EIGENPAIRS, what="top")
        bottom = parse_int(self.bottom, "bottom", 0, MOST_EIGENPAIRS, what="bottom")
        trace, density = parse_flag(self.trace, "trace"), parse_flag(self.density, "density")
        if top + bottom > MOST_EIGENPAIRS:
            raise BadInput(f"at most {MOST_EIGENPAIRS} eigenpairs in all (top + bottom)", field="top")
        if not (top or bottom or trace or density):
            raise BadInput("ask for eigenvalues (top/bottom), the trace or the density", field="top")
        values = {"at": at, "top": top, "bottom": bottom, "trace": trace, "density": density,
                  "splits": parse_splits(self.splits), "dtype": _hessian_dtype(self.dtype),
                  "seed": parse_seed(self.seed, "seed")}
        if on_line:
            to = Endpoint.of(self.to, "to")
            if to.kind == "random":
                raise BadInput("a point on a line between two runs' points: `to` may not be random", field="to")
            values.update(to=to, alpha=parse_finite(self.alpha, "alpha", "alpha"), bn=parse_bn(self.bn))
        else:
            values.update(bn=DEFAULT_BN if self.bn in (None, DEFAULT_BN) else _no_line("bn"))
        eig = top or bottom
        # every value is checked, given or not; those of parts not asked for take their defaults
        least = 6 if parse_choice(self.trace_method, "trace_method", TRACE_METHODS, what="trace method") == "hutch++" \
            else 2
        checked = dict(
            tolerance=(parse_float(self.tolerance, "tolerance", 1e-10, 0.1), eig, 1e-3),
            iterations=(parse_int(self.iterations, "iterations", 2, MOST_ITERATIONS, what="iterations"), eig, 100),
            trace_method=(parse_choice(self.trace_method, "trace_method", TRACE_METHODS, what="trace method"), trace,
                          "hutchinson"),
            trace_probes=(parse_int(self.trace_probes, "trace_probes", least, MOST_PROBES, what="trace probes"), trace,
                          30),
            density_probes=(parse_int(self.density_probes, "density_probes", 1, 100, what="density probes"), density,
                            4),
            density_steps=(parse_int(self.density_steps, "density_steps", 2, MOST_DENSITY_STEPS,
                                     what="density steps"), density, 40),
            broadening=(parse_float(self.broadening, "broadening", 1e-4, 1.0), density, 0.05))
        values.update({name: value if asked else default for name, (value, asked, default) in checked.items()})
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def to_json(self) -> dict:
        """Only what the query asks for is in its key (defaults of parts not asked for are left out)."""
        out = super().to_json()
        drop = []
        if self.to is None:
            drop += ["to", "alpha"]
        if not (self.top or self.bottom):
            drop += ["tolerance", "iterations"]
        if not self.trace:
            drop += ["trace_method", "trace_probes"]
        if not self.density:
            drop += ["density_probes", "density_steps", "broadening"]
        for name in drop:
            del out[name]
        return default_bn_omitted(out)

    @classmethod
    def from_json(cls, obj: dict) -> "HessianQuery":
        if obj.get("kind") != cls.kind:
            raise BadInput(f"not a hessian query: kind {obj.get('kind')!r}")
        names = [f.name for f in dataclasses.fields(cls) if f.name in obj]
        return cls(**{n: (tuple(obj[n]) if n == "splits" else obj[n]) for n in names})

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        """The endpoint, or the line's two endpoints."""
        return (self.at,) if self.to is None else (self.at, self.to)

    def key_salt(self) -> str:
        return f"lanczos-{METHOD_VERSION}"

    def products(self) -> int:
        """Hessian-vector products per split, at most (the work estimate counts these)."""
        eig = self.iterations if (self.top or self.bottom) else 0
        return (eig + (self.trace_probes if self.trace else 0)
                + (self.density_probes * self.density_steps if self.density else 0))

    def describe(self) -> str:
        return str(self.at) if self.to is None else f"(1 - {self.alpha:g}) {self.at} + {self.alpha:g} {self.to}"


def _hessian_dtype(value) -> str:
    dtype = parse_dtype(value)
    if dtype not in ("float32", "float64"):
        raise BadInput(f"curvature is computed in float32 or float64, not {dtype} (second derivatives in half "
                       "precision are noise)", field="dtype")
    return dtype


def _no_line(field: str):
    raise BadInput("the BatchNorm policy applies to a point on a line (give `to` and `alpha`); an endpoint "
                   "has its checkpoint's own statistics", field=field)


def resolve_hessian(query: HessianQuery, store: Store) -> HessianQuery:
    """Every run by its full id; refused: a BatchNorm policy for a model without BatchNorm."""
    points = [resolve_endpoint(e, store) for e in query.endpoints]
    run = store.load(points[0].run)
    check_bn(query.bn, bool(run.manifest.get("batchnorm")), f"{run.model_id}/{run.preset}")
    return dataclasses.replace(query, at=points[0], to=points[1] if len(points) > 1 else None)


def hessian_work(query: HessianQuery, store: Store) -> budget.Work:
    """Hessian-vector products x the examples of each split x HVP_PASSES forward passes' worth; per
    point: per product, on all the splits."""
    run = store.load(query.endpoints[0].run)
    prof = budget.profile(run.manifest)
    per_product = budget.HVP_PASSES * prof.flops
    work = sum(query.products() * prof.examples.get(s, 0) * per_product for s in query.splits)
    if query.to is not None and query.bn == "recompute" and run.manifest.get("batchnorm"):
        work += prof.examples.get("train", 0) * prof.flops
    field_name = "iterations" if (query.top or query.bottom) else ("trace_probes" if query.trace else "density_steps")
    return budget.Work(work, work / max(query.products(), 1), field_name,
                       lambda fit: f"fewer {field_name.replace('_', ' ')} or splits (at most {fit} products in all)")


def point_of(query: HessianQuery, store: Store, evaluator: Evaluator | None = None) -> Point:
    """theta of the query's point and the buffers it is evaluated with."""
    runs = endpoint_runs(query, store)
    thetas = [endpoint_theta(e, runs[0], store) for e in query.endpoints]
    buffers = endpoint_buffers(query.endpoints, runs[0], store)
    if query.to is None:
        return Point(thetas[0], None if buffers is None else buffers[0], runs[0])
    a = float(query.alpha)
    theta = (1 - a) * thetas[0] + a * thetas[1]
    return Point(theta, line_buffers(evaluator or evaluator_for(runs[0], query.dtype), theta, buffers, a, query.bn),
                 runs[0])


def spectrum(query: HessianQuery, ev: Evaluator, point: Point, split: str,
             progress: Progress | None = None) -> tuple[dict, Eigenpairs | None]:
    """The JSON of one split's curvature (and the eigenpairs, vectors included)."""
    dim, counter, out = ev.layout.numel, [0], {}
    matvec = Operator(ev, point, split, counter)
    budget = query.products()

    def step(done_before: int):
        return None if progress is None else (lambda done, total: progress(done_before + done, budget))

    pairs = None
    if query.top or query.bottom:
        pairs = extreme_eigenpairs(matvec, dim, query.top, query.bottom, tol=query.tolerance,
                                   max_steps=query.iterations, seed=query.seed, progress=step(0))
        out["eigen"] = {"top": _pairs_json(pairs.top, pairs.top_residuals, pairs.top_bounds),
                        "bottom": _pairs_json(pairs.bottom, pairs.bottom_residuals, pairs.bottom_bounds),
                        "iterations": pairs.iterations, "converged": pairs.converged,
                        "tolerance": query.tolerance, "history": pairs.history}
    if query.trace:
        t = trace_estimate(matvec, dim, query.trace_probes, method=query.trace_method, seed=query.seed + 1,
                           progress=step(counter[0]))
        out["trace"] = {"value": t.value, "standard_error": t.standard_error, "probes": t.probes,
                        "method": t.method}
    if query.density:
        d = spectral_density(matvec, dim, query.density_probes, query.density_steps, seed=query.seed + 2,
                             sigma=query.broadening, progress=step(counter[0]))
        out["density"] = {"grid": clean_floats(d.grid), "density": clean_floats(d.density),
                          "density_lambda": clean_floats(d.density_lambda), "nodes": d.nodes, "weights": d.weights,
                          "broadening": {"kind": "gaussian", "sigma": d.sigma, "axis": "symlog",
                                         "linthresh": d.linthresh},
                          "probes": d.probes, "steps": d.steps}
    out["products"] = counter[0]
    return out, pairs


def _pairs_json(values, residuals, bounds) -> dict:
    return {"values": clean_floats(values), "residuals": clean_floats(residuals), "bounds": clean_floats(bounds)}


def compute_hessian(query: HessianQuery, store: Store, progress: Progress | None = None) -> "HessianResult":
    started = time.perf_counter()
    ev = evaluator_for(_reference_run(query, store), query.dtype)
    refuse_perturbing(ev, "at")
    point = point_of(query, store, ev)
    by_split = {}
    for i, s in enumerate(query.splits):
        part = None if progress is None else (
            lambda done, total, i=i: progress(i * total + done, len(query.splits) * total))
        by_split[s], _ = spectrum(query, ev, point, s, part)
    run = point.run
    return HessianResult(by_split, query.to_json(), query.key(), {
        "model": run.model_id, "preset": run.preset, "run": run.id, "point": query.describe(),
        "parameters": ev.layout.numel, "dtype": str(ev.dtype).replace("torch.", ""),
        # BatchNorm statistics: a checkpoint's own at an endpoint, the line's policy between two
        "bn": (query.bn if query.to is not None else "checkpoint") if run.manifest.get("batchnorm") else None,
        "products": sum(v["products"] for v in by_split.values()),
        "seconds": round(time.perf_counter() - started, 4)})


def _reference_run(query: HessianQuery, store: Store) -> Run:
    return store.load(query.endpoints[0].run)


@dataclass
class HessianResult:
    splits: dict  # split -> {"eigen", "trace", "density", "products"}: only what was asked
    query: dict
    key: str
    meta: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"splits": self.splits, "query": self.query, "key": self.key, "meta": self.meta}

    @classmethod
    def from_json(cls, obj: dict) -> "HessianResult":
        return cls(obj["splits"], obj["query"], obj["key"], obj.get("meta", {}))

    def rows(self) -> list[tuple]:
        """(split, quantity, index, value, error) rows: eigenvalues (error: the residual), the trace
        (error: the standard error), the density on its grid (index: lambda)."""
        out = []
        for s, r in self.splits.items():
            eigen = r.get("eigen")
            if eigen:
                for end in ("top", "bottom"):
                    for i, (v, res) in enumerate(zip(eigen[end]["values"], eigen[end]["residuals"])):
                        out.append((s, f"eigenvalue_{end}", i + 1, v, res))
            if r.get("trace"):
                out.append((s, "trace", 0, r["trace"]["value"], r["trace"]["standard_error"]))
            if r.get("density"):
                d = r["density"]
                out += [(s, "density", g, v, None) for g, v in zip(d["grid"], d["density"])]
        return out

    def to_csv(self) -> str:
        rows = self.rows()
        return csv_table([(name, [r[i] for r in rows]) for i, name in
                     enumerate(("split", "quantity", "index", "value", "error"))])


def check_hessian(query: HessianQuery, result: dict) -> None:
    if list(result["splits"]) != list(query.splits):
        raise ValueError(f"curvature of {list(result['splits'])}, asked for {list(query.splits)}")
    for s, r in result["splits"].items():
        wanted = min(query.top, result["meta"].get("parameters", query.top))
        if (query.top or query.bottom) and len(r["eigen"]["top"]["values"]) != wanted:
            raise ValueError(f"{s}: {len(r['eigen']['top']['values'])} top eigenvalues for {query.top} asked")
        if query.trace and "trace" not in r or query.density and "density" not in r:
            raise ValueError(f"{s}: the trace or density asked for is missing")


HESSIAN_KIND = single_chunk("hessian", HessianQuery, HessianResult, compute_hessian, check_hessian,
                            with_progress=True, resolve=resolve_hessian, estimate=hessian_work)
