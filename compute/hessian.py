"""Curvature: Hessian-vector products of J at a point, over whole splits, as the operator the Lanczos
methods take: the sharpness along a line, the Hessian plane of a surface, and the spectrum of the
job kind "hessian" (compute/kinds/hessian.py, which computes its query's spectrum with these).

The Hessian is of the paper's J: the mean per-example cost over a whole split, in eval mode, the
BatchNorm statistics held as constants (an endpoint's own; on a line, the line's policy:
interpolated like theta, or re-estimated at the point). It is never formed: every number comes from
Hessian-vector products (compute/derivatives.py: double backward, never nested forward mode) fed to
the pure linear algebra of compute/lanczos.py:
  * top / bottom eigenpairs: Lanczos with full reorthogonalisation, tridiagonal in float64, each
    value with its residual ||H v - lambda v|| and error bound;
  * trace: Hutchinson or Hutch++, with its standard error;
  * density: stochastic Lanczos quadrature, broadened on a symmetric-log axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.errors import BadInput

from .batchnorm import recomputed_buffers
from .derivatives import SplitHessian
from .evaluator import Evaluator, Progress
from .lanczos import Eigenpairs, extreme_eigenpairs
from .resources import evaluator_for
from .store import Run

SHARPNESS_TOLERANCE = 1e-3  # lambda_max along a line: relative error bound of each value
SHARPNESS_ITERATIONS = 60


@dataclass(frozen=True)
class Point:
    """theta and its buffers (None for a model without them), on the evaluator's terms."""
    theta: torch.Tensor
    buffers: torch.Tensor | None
    run: Run


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


class Operator:
    """The matvec of compute/lanczos.py, (k, D) float64 -> H (k, D) float64 over one split, counting
    its products; the chunks' gradient graphs kept between products (derivatives.SplitHessian)."""

    def __init__(self, ev: Evaluator, point: Point, split: str, counter: list | None = None):
        self.products = SplitHessian(ev, point.theta, split, buffers=point.buffers)
        self.counter = [0] if counter is None else counter

    def __call__(self, vectors: torch.Tensor) -> torch.Tensor:
        self.counter[0] += len(vectors)
        return self.products(vectors)


def top_eigenvalue(ev: Evaluator, point: Point, split: str, progress: Progress | None = None,
                   seed: int = 0) -> Eigenpairs:
    """lambda_max at a point (the sharpness of a line's points)."""
    return extreme_eigenpairs(Operator(ev, point, split), ev.layout.numel, top=1, tol=SHARPNESS_TOLERANCE,
                              max_steps=SHARPNESS_ITERATIONS, seed=seed, progress=progress)


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
    pairs = extreme_eigenpairs(Operator(ev, point, split), ev.layout.numel, top=2, tol=PLANE_TOLERANCE,
                               max_steps=150, seed=query.seed or 0)
    v1, v2 = pairs.top_vectors[0], pairs.top_vectors[1]
    return torch.stack([frame.theta_f, v1, v2]), {
        "origin": "theta_f", "eigenvalues": [float(v) for v in pairs.top], "eigen_split": split,
        "residuals": [float(r) for r in pairs.top_residuals], "lanczos_iterations": pairs.iterations,
        "direction_norms": [1.0, 1.0]}


def refuse_perturbing(ev: Evaluator, field: str) -> None:
    if ev.objective.perturb is not None:
        raise BadInput("the Hessian of an objective that perturbs its inputs (adversarial training) is not "
                       "computed", field=field)
