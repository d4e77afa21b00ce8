"""The trajectory's own plane: its first two principal directions (Li et al., 2018, §7).

The rows of the matrix are r(t) = θ(t) − θ_f over the recorded checkpoints (θ_f's own row is
zero). Like Li et al.'s code, which fits scikit-learn's `PCA(n_components=2)` to that matrix, the
directions are those of the matrix with its column means subtracted (the mean checkpoint moved to
the origin): the axes along which the checkpoints vary most, whatever their offset from θ_f.
Without the centring the first direction would mostly point from θ_f to the trajectory's mean,
and the figures and explained variances would not be the ones the paper's readers know. The
explained-variance ratio of a direction is its share of the centred matrix's total variance, as
scikit-learn's `explained_variance_ratio_`.

The plane itself goes through θ_f, not through the mean (Li et al. project the uncentred r(t)):
θ_f is its origin, and a checkpoint's coordinates are (r·d₁, r·d₂) with d₁, d₂ orthonormal. What
the plane cannot show is said for every checkpoint: the fraction ‖r − proj(r)‖ / ‖r‖ of its
distance to θ_f that lies off the plane (0 for θ_f itself, which lies on it).

Signs: an SVD's directions are defined up to sign. Each direction is made to have its entry of
largest magnitude positive (scikit-learn's `svd_flip` on the components, as its PCA does since
1.5), so the same run always gives the same plane. Everything is float64 on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch

from models.errors import BadInput


@dataclass(frozen=True)
class PcaPlane:
    """The plane through θ_f of the trajectory's first two principal directions, and where every
    checkpoint lies relative to it."""

    origin: torch.Tensor  # (D,) θ_f, float64
    directions: torch.Tensor  # (2, D) orthonormal rows d₁, d₂, float64
    explained_variance_ratio: np.ndarray  # (2,) share of the centred matrix's variance along d₁, d₂
    coordinates: np.ndarray  # (T, 2) (r·d₁, r·d₂) of each checkpoint
    off_plane: np.ndarray  # (T,) ‖r − proj(r)‖ / ‖r‖ (0 where r = 0)
    distance: np.ndarray  # (T,) ‖r‖ = ‖θ(t) − θ_f‖

    def point(self, a: float, b: float) -> torch.Tensor:
        """θ_f + a d₁ + b d₂: a point of the plane (a checkpoint's projection at its coordinates)."""
        return self.origin + a * self.directions[0] + b * self.directions[1]


def difference_matrix(thetas: Iterable[torch.Tensor], theta_f: torch.Tensor) -> torch.Tensor:
    """(T, D) float64 rows θ(t) − θ_f, one checkpoint at a time (no float32 copy of the run)."""
    origin = theta_f.detach().to(torch.float64).flatten()
    rows = [theta.detach().to(torch.float64).flatten() - origin for theta in thetas]
    if not rows:
        raise BadInput("the run records no checkpoints", field="run")
    if any(row.shape != origin.shape for row in rows):
        raise ValueError("every checkpoint must have θ_f's number of parameters")
    return torch.stack(rows)


def principal_directions(matrix: torch.Tensor, count: int = 2) -> tuple[torch.Tensor, np.ndarray]:
    """The first `count` principal directions (count, D) of the rows of `matrix` after centring its
    columns, and their explained-variance ratios; BadInput when the trajectory spans fewer
    directions (too few distinct checkpoints)."""
    centred = matrix.to(torch.float64)
    centred = centred - centred.mean(dim=0, keepdim=True)
    _, singular, vt = torch.linalg.svd(centred, full_matrices=False)
    # numpy.linalg.matrix_rank's tolerance: below it a direction is rounding, not the trajectory's
    tolerance = float(singular[0]) * max(centred.shape) * torch.finfo(torch.float64).eps if len(singular) else 0.0
    rank = int((singular > tolerance).sum())
    if rank < count:
        raise BadInput(f"the recorded checkpoints span {rank} direction{'s' * (rank != 1)} around their mean; "
                       f"the PCA plane needs {count} (record at least {count + 1} distinct checkpoints)",
                       field="run")
    directions = vt[:count].clone()
    largest = directions.abs().argmax(dim=1)
    signs = torch.sign(directions[torch.arange(count), largest])
    directions *= signs[:, None]
    variance = singular.square()
    ratio = (variance[:count] / variance.sum()).numpy()
    return directions, ratio


def project(residuals: torch.Tensor, directions: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(coordinates (T, k), off-plane fraction (T,), ‖r‖ (T,)) of rows r on the plane through the
    origin spanned by the orthonormal `directions` (k, D)."""
    residuals = residuals.to(torch.float64)
    coordinates = residuals @ directions.T
    off = torch.linalg.vector_norm(residuals - coordinates @ directions, dim=1)
    norm = torch.linalg.vector_norm(residuals, dim=1)
    fraction = torch.where(norm > 0, off / torch.where(norm > 0, norm, 1.0), torch.zeros_like(norm))
    return coordinates.numpy(), fraction.numpy(), norm.numpy()


def pca_plane(thetas: Iterable[torch.Tensor], theta_f: torch.Tensor) -> PcaPlane:
    """The PCA plane of a trajectory θ(t) (the recorded checkpoints, θ_f among them or not) through θ_f."""
    matrix = difference_matrix(thetas, theta_f)
    directions, ratio = principal_directions(matrix)
    coordinates, off_plane, distance = project(matrix, directions)
    return PcaPlane(theta_f.detach().to(torch.float64).flatten(), directions, ratio, coordinates, off_plane,
                    distance)
