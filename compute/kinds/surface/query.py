"""`SurfaceQuery`: a cost surface of one run, validated and canonical; how it is resolved against the
store and what it costs (`resolve_surface`, `surface_work`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from models.errors import BadInput

from ... import budget
from ...lanczos import METHOD_VERSION
from ...queries import Query, check_bn, check_run_id, default_bn_omitted
from ...store import Store
from ...validate import (DEFAULT_BN, check_grid, parse_bn, parse_bounds, parse_choice, parse_dtype, parse_finite,
                         parse_grid, parse_range, parse_seed, parse_splits)

SURFACE_KINDS = ("paper", "random-plane", "alpha-random", "hessian", "pca")
NORMALIZATIONS = ("global", "filter")


@dataclass(frozen=True)
class SurfaceQuery(Query):
    """A cost surface of one run with its trajectory (appendix C, D): see compute/kinds/surface/.

    surface: "paper" (rows along each step's residual direction), "random-plane" (theta_f + a d1 + b d2)
    or "alpha-random" (theta_i + alpha (theta_f - theta_i) + b r, r random and orthogonal to u),
    "hessian" (theta_f + a v1 + b v2, the top eigenvectors) or "pca" (theta_f + a d1 + b d2, the
    trajectory's first two principal directions: compute/kinds/surface/pca.py).
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
        check_run_id(self.run)
        parse_choice(self.surface, "kind", SURFACE_KINDS, what="surface kind")
        a_lo, a_hi = parse_bounds(self.alpha_min, self.alpha_max, "alpha", optional=True)
        b_lo, b_hi = parse_bounds(self.beta_min, self.beta_max, "beta", optional=True)
        rows, columns = parse_grid((self.rows, self.columns))
        for name, lo, hi, n in (("alpha", a_lo, a_hi, rows), ("beta", b_lo, b_hi, columns)):
            if lo is not None:
                check_grid(lo, hi, n, name)
        random_kind = self.surface not in ("paper", "pca")  # pca's directions are the trajectory's own
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

    def key_salt(self) -> str:
        return f"lanczos-{METHOD_VERSION}" if self.surface == "hessian" else ""  # the top eigenvectors

    def to_json(self) -> dict:
        return default_bn_omitted(super().to_json())

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


def resolve_surface(query: SurfaceQuery, store: Store) -> SurfaceQuery:
    """The run by its full id; refused: a BatchNorm policy for a model without BatchNorm."""
    run = store.load(query.run)
    check_bn(query.bn, bool(run.manifest.get("batchnorm")), f"{run.model_id}/{run.preset}")
    return dataclasses.replace(query, run=run.id)


# The `hessian` surface's two eigenvectors come first: at most this many Lanczos products, on the
# first split (compute/hessian.py hessian_plane).
PLANE_PRODUCTS = 150


def surface_work(query: SurfaceQuery, store: Store) -> budget.Work:
    """rows x columns x the examples of the splits x FLOPs per example (x2 to recompute BatchNorm
    statistics), and the Hessian plane's products first."""
    run = store.load(query.run)
    prof = budget.profile(run.manifest)
    per_point = budget.examples(prof, query.splits) * prof.flops * (2 if query.bn == "recompute" else 1)
    work = query.rows * query.columns * per_point
    if query.surface == "hessian":
        work += PLANE_PRODUCTS * budget.HVP_PASSES * prof.examples.get(query.splits[0], 0) * prof.flops
    return budget.Work(work, per_point, "points", _advice)


def _advice(fit: int) -> str:
    side = int(fit ** 0.5)
    return f"at most {side}x{side} points" if side >= 2 else "a smaller model or fewer splits"
