"""Curvature: the spectrum of the Hessian of J at any point, over whole splits (the job kind
"hessian", `HESSIAN_KIND`, listed in compute/kinds/__init__.py).

The Hessian is of the paper's J: the mean per-example cost over a whole split, in eval mode, the
BatchNorm statistics held as constants (an endpoint's own; on a line, the line's policy:
interpolated like theta, or re-estimated at the point). It is never formed: every number comes from
Hessian-vector products (compute/derivatives.py: double backward, never nested forward mode) fed to
the pure linear algebra of compute/lanczos.py:
  * top / bottom eigenpairs: Lanczos with full reorthogonalisation, tridiagonal in float64, each
    value with its residual ||H v - lambda v|| and error bound;
  * trace: Hutchinson or Hutch++, with its standard error;
  * density: stochastic Lanczos quadrature, broadened on a symmetric-log axis.
A query is one chunk: Lanczos iterations are sequential, so they run in order inside it, reporting
progress after every product and stopping when the progress callback raises (cancel). The products
are not cut into data shards across workers (not done: a Lanczos step needs the previous step's
product from every shard, a round trip per step).

    landscape hessian final:RUN --top 3 --trace
    landscape hessian final:RUN --density --splits train,valid --format csv
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from models.errors import BadInput

from .batchnorm import recomputed_buffers
from .chunks import check_carries_query, single_chunk
from .derivatives import hessian_vector_products
from .evaluator import Evaluator, Progress
from .kinds.hessian import HessianQuery
from .lanczos import Eigenpairs, extreme_eigenpairs, spectral_density, trace_estimate
from .results import _csv, clean_floats
from .resources import evaluator_for
from .store import Run, Store

SHARPNESS_TOLERANCE = 1e-3  # lambda_max along a line: relative error bound of each value
SHARPNESS_ITERATIONS = 60


@dataclass(frozen=True)
class Point:
    """theta and its buffers (None for a model without them), on the evaluator's terms."""
    theta: torch.Tensor
    buffers: torch.Tensor | None
    run: Run


def point_of(query: HessianQuery, store: Store, evaluator: Evaluator | None = None) -> Point:
    """theta of the query's point and the buffers it is evaluated with."""
    from .kinds.line import endpoint_buffers, endpoint_runs, endpoint_theta  # lines imports this module

    runs = endpoint_runs(query, store)
    thetas = [endpoint_theta(e, runs[0], store) for e in query.endpoints]
    buffers = endpoint_buffers(query.endpoints, runs[0], store)
    if query.to is None:
        return Point(thetas[0], None if buffers is None else buffers[0], runs[0])
    a = float(query.alpha)
    theta = (1 - a) * thetas[0] + a * thetas[1]
    return Point(theta, line_buffers(evaluator or evaluator_for(runs[0], query.dtype), theta, buffers, a, query.bn),
                 runs[0])


def line_buffers(ev: Evaluator, theta: torch.Tensor, buffers: torch.Tensor | None, alpha: float,
                 bn: str) -> torch.Tensor | None:
    """The buffers at (1 - alpha) theta0 + alpha theta1 by the line's BatchNorm policy."""
    if buffers is None:
        return None
    mixed = (1 - alpha) * buffers[0] + alpha * buffers[1]
    if bn != "recompute" or not ev.batchnorm:
        return mixed
    # the evaluator's own re-estimation (tensor or streamed training split), for this one point
    point = torch.cat([theta, mixed]).to(ev.device, ev.dtype)[None]
    return recomputed_buffers(ev, point, torch.ones(1, 1, dtype=torch.float64))[0].cpu()


def operator(ev: Evaluator, point: Point, split: str, counter: list):
    """The matvec of compute/lanczos.py: (k, D) float64 -> H (k, D) float64 over one split."""
    def matvec(vectors: torch.Tensor) -> torch.Tensor:
        counter[0] += len(vectors)
        with ev.lock:  # functional_call swaps the model's parameters: one evaluation at a time
            return hessian_vector_products(ev, point.theta, vectors, [split], buffers=point.buffers)[split]
    return matvec


def top_eigenvalue(ev: Evaluator, point: Point, split: str, progress: Progress | None = None,
                   seed: int = 0) -> Eigenpairs:
    """lambda_max at a point (the sharpness of a line's points)."""
    return extreme_eigenpairs(operator(ev, point, split, [0]), ev.layout.numel, top=1, tol=SHARPNESS_TOLERANCE,
                              max_steps=SHARPNESS_ITERATIONS, seed=seed, progress=progress)


def spectrum(query: HessianQuery, ev: Evaluator, point: Point, split: str,
             progress: Progress | None = None) -> tuple[dict, Eigenpairs | None]:
    """The JSON of one split's curvature (and the eigenpairs, vectors included)."""
    dim, counter, out = ev.layout.numel, [0], {}
    matvec = operator(ev, point, split, counter)
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


PLANE_TOLERANCE = 1e-4  # the Hessian plane's eigenpairs: their directions must be well resolved too


def hessian_plane(query, frame) -> tuple[torch.Tensor, dict]:
    """The basis (theta_f, v1, v2) of a `hessian` surface: the unit eigenvectors of the two largest
    eigenvalues of the Hessian of J over the query's first split at theta_f (theta_f's own buffers),
    signs fixed (largest entry positive); meta with the eigenvalues for the axis titles. Lanczos from
    the query's seed; each process computes it once per query (compute/kinds/surface/kind.py plane_grid)."""
    run = frame.run
    ev = evaluator_for(run, query.dtype)
    refuse_perturbing(ev, "kind")
    from .resources import buffer_basis

    buffers = buffer_basis(run, [run.final_step])
    point = Point(frame.theta_f, None if buffers is None else buffers[0], run)
    split = query.splits[0]
    pairs = extreme_eigenpairs(operator(ev, point, split, [0]), ev.layout.numel, top=2, tol=PLANE_TOLERANCE,
                               max_steps=150, seed=query.seed or 0)
    v1, v2 = pairs.top_vectors[0], pairs.top_vectors[1]
    return torch.stack([frame.theta_f, v1, v2]), {
        "origin": "theta_f", "eigenvalues": [float(v) for v in pairs.top], "eigen_split": split,
        "residuals": [float(r) for r in pairs.top_residuals], "lanczos_iterations": pairs.iterations,
        "direction_norms": [1.0, 1.0]}


def _pairs_json(values, residuals, bounds) -> dict:
    return {"values": clean_floats(values), "residuals": clean_floats(residuals), "bounds": clean_floats(bounds)}


def refuse_perturbing(ev: Evaluator, field: str) -> None:
    if ev.objective.perturb is not None:
        raise BadInput("the Hessian of an objective that perturbs its inputs (adversarial training) is not "
                       "computed", field=field)


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
        return _csv([(name, [r[i] for r in rows]) for i, name in
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
                            with_progress=True)
