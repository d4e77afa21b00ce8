"""The `pca` surface: the plane through θ_f of the trajectory's own first two principal directions
(Li et al., 2018, §7; the directions, their centring and signs: compute/pca.py).

    landscape surface RUN --kind pca --points 41x41

It is a plane like `random-plane` (θ_f + a d₁ + b d₂, here with d₁, d₂ orthonormal, so a and b are
distances in parameter space), drawn with the trajectory's projection on it. A random plane is
nearly orthogonal to the path, which projects to a dot at the centre; this plane holds as much of
the path as any plane can, and says how much that is: the explained-variance ratio of each
direction (meta.explained_variance_ratio, the axis titles) and, for every checkpoint, the fraction
of ‖θ(t) − θ_f‖ off the plane (trajectory.off_plane, as for every plane) beside J(θ(t)) and J at
its projection (trajectory.cost, trajectory.plane_cost).
"""

from __future__ import annotations

from typing import Sequence

import torch

from ...pca import pca_plane
from ...store import Run
from ..trajectory import Frame


class RecordedCheckpoints(Sequence[torch.Tensor]):
    """A run's θ(t) in recorded order, read (and digest-checked) when asked for: not kept in the
    process's cache of θ, which a long run of a large model would fill."""

    def __init__(self, run: Run):
        self.run = run

    def __len__(self) -> int:
        return len(self.run.steps)

    def __getitem__(self, k: int) -> torch.Tensor:
        return self.run.theta(self.run.steps[k])


def pca_basis(frame: Frame) -> tuple[torch.Tensor, dict]:
    """The basis (θ_f, d₁, d₂) of the `pca` surface of `frame`'s run, and its meta."""
    plane = pca_plane(RecordedCheckpoints(frame.run), frame.theta_f)
    return torch.stack([frame.theta_f, plane.directions[0], plane.directions[1]]), {
        "origin": "theta_f", "direction_norms": [1.0, 1.0], "checkpoints": len(frame.steps),
        "explained_variance_ratio": [float(r) for r in plane.explained_variance_ratio],
        "centring": "columns (the mean checkpoint), as scikit-learn's PCA in Li et al.'s code"}
