"""`HessianQuery`: the curvature of J at one point, validated and canonical (compute/hessian.py
computes it). Kept beside compute/queries.py, which re-exports it, because that module is at the
house's length limit.

The point: an endpoint of a run (`final:RUN`, `init:RUN`, `step:RUN:T`), or, with `to` and
`alpha`, the point (1 - alpha) at + alpha to of the line between two endpoints, its BatchNorm
statistics by the line's policy (`bn`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from models.errors import BadInput

from ..lanczos import TRACE_METHODS
from ..queries import Endpoint, Query, _default_bn_omitted, resolve_endpoint
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
    at: str
    to: str | None = None
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
        at = Endpoint.parse(self.at, "at")
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
        values = {"at": str(at), "top": top, "bottom": bottom, "trace": trace, "density": density,
                  "splits": parse_splits(self.splits), "dtype": _hessian_dtype(self.dtype),
                  "seed": parse_seed(self.seed, "seed")}
        if on_line:
            to = Endpoint.parse(self.to, "to")
            if to.kind == "random":
                raise BadInput("a point on a line between two runs' points: `to` may not be random", field="to")
            values.update(to=str(to), alpha=parse_finite(self.alpha, "alpha", "alpha"), bn=parse_bn(self.bn))
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
        return _default_bn_omitted(out)

    @classmethod
    def from_json(cls, obj: dict) -> "HessianQuery":
        if obj.get("kind") != cls.kind:
            raise BadInput(f"not a hessian query: kind {obj.get('kind')!r}")
        names = [f.name for f in dataclasses.fields(cls) if f.name in obj]
        return cls(**{n: (tuple(obj[n]) if n == "splits" else obj[n]) for n in names})

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        """The endpoint, or the line's two endpoints."""
        return (Endpoint.parse(self.at),) if self.to is None else (Endpoint.parse(self.at), Endpoint.parse(self.to))

    def products(self) -> int:
        """Hessian-vector products per split, at most (the work estimate counts these)."""
        eig = self.iterations if (self.top or self.bottom) else 0
        return (eig + (self.trace_probes if self.trace else 0)
                + (self.density_probes * self.density_steps if self.density else 0))

    def resolved(self, store) -> "HessianQuery":
        """Every run by its full id; the BatchNorm policy the default for a model without BatchNorm."""
        points = [resolve_endpoint(e, store) for e in self.endpoints]
        run = store.load(points[0].run)
        bn = self.bn if run.manifest.get("batchnorm") else DEFAULT_BN
        return dataclasses.replace(self, at=str(points[0]), to=str(points[1]) if len(points) > 1 else None, bn=bn)

    def describe(self) -> str:
        return self.at if self.to is None else f"(1 - {self.alpha:g}) {self.at} + {self.alpha:g} {self.to}"


def _hessian_dtype(value) -> str:
    dtype = parse_dtype(value)
    if dtype not in ("float32", "float64"):
        raise BadInput(f"curvature is computed in float32 or float64, not {dtype} (second derivatives in half "
                       "precision are noise)", field="dtype")
    return dtype


def _no_line(field: str):
    raise BadInput("the BatchNorm policy applies to a point on a line (give `to` and `alpha`); an endpoint "
                   "has its checkpoint's own statistics", field=field)
