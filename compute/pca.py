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

How: the SVD of the centred T × D matrix R_c through its T × T Gram matrix R_c R_cᵀ = U Σ² Uᵀ
(float64 `eigh`), d_k = R_cᵀ u_k / σ_k. A run of a large model has D in the millions and hundreds
of checkpoints: the matrix would not fit in memory, its Gram matrix always does. Rows are read
in blocks of at most ROWS_BYTES (all at once for small models, then each checkpoint is read
once); the blocks depend on T and D alone, so a run always gives the same numbers.

Signs: an SVD's directions are defined up to sign. Each direction is made to have its entry of
largest magnitude positive (scikit-learn's `svd_flip` on the components, as its PCA does since
1.5), so the same run always gives the same plane. Everything is float64 on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from models.errors import BadInput

ROWS_BYTES = 1 << 30  # float64 rows r(t) held at once
RANK_TOLERANCE = 1e-12  # of the first direction's variance: see `_directions`


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


class _Rows:
    """The rows r(t) = θ(t) − θ_f in blocks, read from `checkpoints` (any sequence: a list of
    tensors, or a run's checkpoints read on demand), kept when one block holds them all."""

    def __init__(self, checkpoints: Sequence[torch.Tensor], origin: torch.Tensor):
        self.checkpoints, self.origin = checkpoints, origin
        self.count, dim = len(checkpoints), len(origin)
        size = max(1, ROWS_BYTES // (8 * max(dim, 1)))
        self.blocks = [range(lo, min(lo + size, self.count)) for lo in range(0, self.count, size)]
        self._whole: torch.Tensor | None = None

    def block(self, rows: range) -> torch.Tensor:
        if self._whole is not None:
            return self._whole
        out = torch.empty(len(rows), len(self.origin), dtype=torch.float64)
        for i, k in enumerate(rows):
            theta = self.checkpoints[k].detach().to(torch.float64).flatten()
            if theta.shape != self.origin.shape:
                raise ValueError("every checkpoint must have θ_f's number of parameters")
            torch.sub(theta, self.origin, out=out[i])
        if len(self.blocks) == 1:
            self._whole = out
        return out


def _centred_gram(rows: _Rows) -> torch.Tensor:
    """R_c R_cᵀ (T, T) of the column-centred rows, from the uncentred Gram matrix: H (R Rᵀ) H with
    H = I − 11ᵀ/T (every block pair once)."""
    gram = torch.empty(rows.count, rows.count, dtype=torch.float64)
    for i, a in enumerate(rows.blocks):
        left = rows.block(a)
        for b in rows.blocks[:i + 1]:
            product = left @ (left if b == a else rows.block(b)).T
            gram[a.start:a.stop, b.start:b.stop] = product
            gram[b.start:b.stop, a.start:a.stop] = product.T
    gram = gram - gram.mean(dim=0, keepdim=True)
    return gram - gram.mean(dim=1, keepdim=True)


def principal_directions(checkpoints: Sequence[torch.Tensor], theta_f: torch.Tensor,
                         count: int = 2) -> tuple[torch.Tensor, np.ndarray]:
    """The first `count` principal directions (count, D) of the rows θ(t) − θ_f after centring the
    columns, and their explained-variance ratios; BadInput when the trajectory spans fewer
    directions (too few distinct checkpoints)."""
    return _directions(_Rows(checkpoints, _flat64(theta_f)), count)


def _directions(rows: _Rows, count: int) -> tuple[torch.Tensor, np.ndarray]:
    if rows.count == 0:
        raise BadInput("the run records no checkpoints", field="run")
    gram = _centred_gram(rows)
    values, vectors = torch.linalg.eigh(gram)  # ascending
    values, vectors = values.flip(0), vectors.flip(1)
    total = float(torch.trace(gram))
    # A direction whose variance is below RANK_TOLERANCE of the first's is rounding (the Gram
    # matrix's eigenvalues are exact to about eps x the largest), not the trajectory's
    rank = int((values > RANK_TOLERANCE * float(values[0])).sum()) if total > 0 else 0
    if rank < count:
        raise BadInput(f"the recorded checkpoints span {rank} direction{'s' * (rank != 1)} around their mean; "
                       f"the PCA plane needs {count} (record at least {count + 1} distinct checkpoints)",
                       field="run")
    weights = vectors[:, :count]  # u_k: d_k ∝ R_cᵀ u_k = Rᵀ u_k − mean(r) Σ_t u_k[t]
    directions = torch.zeros(count, len(rows.origin), dtype=torch.float64)
    mean = torch.zeros(len(rows.origin), dtype=torch.float64)
    for block in rows.blocks:
        r = rows.block(block)
        directions += weights[block.start:block.stop].T @ r
        mean += r.sum(dim=0)
    directions -= weights.sum(dim=0)[:, None] * (mean / rows.count)
    for k in range(count):  # Gram-Schmidt: orthonormal to rounding whatever σ_k
        for j in range(k):
            directions[k] -= (directions[k] @ directions[j]) * directions[j]
        directions[k] /= torch.linalg.vector_norm(directions[k])
    largest = directions.abs().argmax(dim=1)
    directions *= torch.sign(directions[torch.arange(count), largest])[:, None]
    return directions, (values[:count] / total).numpy()


def project(residuals: torch.Tensor, directions: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(coordinates (T, k), off-plane fraction (T,), ‖r‖ (T,)) of rows r on the plane through the
    origin spanned by the orthonormal `directions` (k, D)."""
    residuals = residuals.to(torch.float64)
    coordinates = residuals @ directions.T
    off = torch.linalg.vector_norm(residuals - coordinates @ directions, dim=1)
    norm = torch.linalg.vector_norm(residuals, dim=1)
    fraction = torch.where(norm > 0, off / torch.where(norm > 0, norm, 1.0), torch.zeros_like(norm))
    return coordinates.numpy(), fraction.numpy(), norm.numpy()


def pca_plane(checkpoints: Sequence[torch.Tensor], theta_f: torch.Tensor) -> PcaPlane:
    """The PCA plane of a trajectory θ(t) (the recorded checkpoints, θ_f among them or not) through θ_f."""
    rows = _Rows(checkpoints, _flat64(theta_f))
    directions, ratio = _directions(rows, 2)
    parts = [project(rows.block(block), directions) for block in rows.blocks]
    coordinates, off_plane, distance = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return PcaPlane(rows.origin, directions, ratio, coordinates, off_plane, distance)


def _flat64(theta: torch.Tensor) -> torch.Tensor:
    return theta.detach().to(torch.float64).flatten()
