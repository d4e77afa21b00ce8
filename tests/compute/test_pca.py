"""The trajectory's PCA plane against numpy's SVD of the same matrix, computed here independently."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import compute.pca
from compute.pca import pca_plane, principal_directions, project
from models.errors import BadInput


def _trajectory(seed: int = 0, steps: int = 12, dim: int = 300) -> list[torch.Tensor]:
    """A path that curves away from a line and settles at its last point, like an SGD run."""
    g = torch.Generator().manual_seed(seed)
    start, bend, end = (torch.randn(dim, generator=g, dtype=torch.float64) for _ in range(3))
    noise = 0.05 * torch.randn(steps, dim, generator=g, dtype=torch.float64)
    t = torch.linspace(0, 1, steps, dtype=torch.float64)[:, None]
    path = (1 - t) ** 2 * start + 2 * t * (1 - t) * bend + t ** 2 * end + noise * (1 - t)
    return list(path.float())  # checkpoints are float32, as recorded


def _numpy_reference(thetas: list[torch.Tensor]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(directions (2, D) up to sign, ratios, |coordinates| (T, 2), off-plane fractions) by numpy."""
    r = np.stack([t.double().numpy() for t in thetas]) - thetas[-1].double().numpy()
    centred = r - r.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    ratio = s[:2] ** 2 / np.sum(s ** 2)
    coords = r @ vt[:2].T
    norms = np.linalg.norm(r, axis=1)
    off = np.linalg.norm(r - coords @ vt[:2], axis=1)
    fraction = np.divide(off, norms, out=np.zeros_like(off), where=norms > 0)
    return vt[:2], ratio, np.abs(coords), fraction


def test_plane_matches_numpy_svd():
    thetas = _trajectory()
    plane = pca_plane(thetas, thetas[-1])
    directions, ratio, abs_coords, fraction = _numpy_reference(thetas)
    np.testing.assert_allclose(plane.explained_variance_ratio, ratio, rtol=0, atol=1e-6)
    np.testing.assert_allclose(plane.off_plane, fraction, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.abs(plane.coordinates), abs_coords, rtol=0, atol=1e-6)
    for ours, theirs in zip(plane.directions.numpy(), directions):
        assert abs(abs(float(ours @ theirs)) - 1.0) < 1e-6  # the same direction, up to sign
    gram = plane.directions @ plane.directions.T
    torch.testing.assert_close(gram, torch.eye(2, dtype=torch.float64), rtol=0, atol=1e-12)
    assert plane.explained_variance_ratio[0] >= plane.explained_variance_ratio[1] > 0


def test_theta_f_projects_to_the_origin_and_lies_on_the_plane():
    thetas = _trajectory(seed=1)
    plane = pca_plane(thetas, thetas[-1])
    assert plane.coordinates[-1].tolist() == [0.0, 0.0]
    assert plane.off_plane[-1] == 0.0 and plane.distance[-1] == 0.0
    torch.testing.assert_close(plane.point(0.0, 0.0), thetas[-1].double(), rtol=0, atol=0)


def test_coordinates_rebuild_the_in_plane_part_and_the_fraction_is_the_rest():
    thetas = _trajectory(seed=2)
    plane = pca_plane(thetas, thetas[-1])
    for k, theta in enumerate(thetas):
        r = theta.double() - plane.origin
        in_plane = plane.point(*plane.coordinates[k]) - plane.origin
        off = torch.linalg.vector_norm(r - in_plane)
        expected = float(off / torch.linalg.vector_norm(r)) if k < len(thetas) - 1 else 0.0
        assert plane.off_plane[k] == pytest.approx(expected, abs=1e-9)
        # Pythagoras: the part on the plane and the part off it make up the whole distance
        on = float(np.hypot(*plane.coordinates[k]))
        assert on ** 2 + float(off) ** 2 == pytest.approx(plane.distance[k] ** 2, rel=1e-9)


def test_a_checkpoint_on_the_plane_has_no_off_plane_part():
    # a trajectory in a 2-D subspace: the plane holds it whole
    g = torch.Generator().manual_seed(3)
    basis = torch.linalg.qr(torch.randn(50, 2, generator=g, dtype=torch.float64))[0].T
    coefficients = torch.randn(8, 2, generator=g, dtype=torch.float64)
    thetas = list(coefficients @ basis)
    plane = pca_plane(thetas, thetas[-1])
    assert np.max(plane.off_plane) < 1e-12
    assert plane.explained_variance_ratio.sum() == pytest.approx(1.0, abs=1e-12)


def test_centring_is_by_columns_as_scikit_learn_does():
    # A trajectory that varies along e1 only, far from θ_f along e2: centred, the first direction is
    # e1 (the variation); uncentred it would be the offset e2.
    steps = torch.linspace(-1, 1, 9, dtype=torch.float64)
    thetas = [torch.tensor([float(s), 10.0, 0.1 * float(s) ** 2]) for s in steps]
    directions, ratio = principal_directions(thetas, torch.zeros(3))
    assert abs(float(directions[0, 0])) > 0.99 and abs(float(directions[1, 2])) > 0.99
    assert ratio[0] > 0.9


def test_signs_are_fixed_by_the_largest_entry():
    thetas = _trajectory(seed=4)
    flipped = [-t for t in thetas]  # the same plane, every direction's sign reversed by an SVD or not
    a, b = pca_plane(thetas, thetas[-1]), pca_plane(flipped, flipped[-1])
    for plane in (a, b):
        largest = plane.directions.abs().argmax(dim=1)
        assert (plane.directions[torch.arange(2), largest] > 0).all()
    torch.testing.assert_close(a.directions, b.directions, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.coordinates, -b.coordinates, rtol=0, atol=1e-9)


def test_too_few_checkpoints_is_bad_input():
    thetas = _trajectory(seed=5, steps=2)
    with pytest.raises(BadInput, match="needs 2"):
        pca_plane(thetas, thetas[-1])
    with pytest.raises(BadInput, match="no checkpoints"):
        pca_plane([], thetas[-1])


def test_rows_read_in_blocks_give_the_same_plane(monkeypatch):
    thetas = _trajectory(seed=6, steps=11)
    whole = pca_plane(thetas, thetas[-1])
    monkeypatch.setattr(compute.pca, "ROWS_BYTES", 8 * 300 * 3)  # blocks of 3 rows of 300 parameters
    read = []

    class Checkpoints(list):
        def __getitem__(self, k):
            read.append(k)
            return super().__getitem__(k)

    blocked = pca_plane(Checkpoints(thetas), thetas[-1])
    assert len(read) > len(thetas)  # read again, block by block: never all at once
    torch.testing.assert_close(blocked.directions, whole.directions, rtol=0, atol=1e-12)
    for name in ("explained_variance_ratio", "coordinates", "off_plane", "distance"):
        np.testing.assert_allclose(getattr(blocked, name), getattr(whole, name), rtol=0, atol=1e-12)


def test_project_of_a_zero_row_is_zero():
    directions = torch.eye(3, dtype=torch.float64)[:2]
    coordinates, fraction, norm = project(torch.zeros(1, 3, dtype=torch.float64), directions)
    assert coordinates.tolist() == [[0.0, 0.0]] and fraction.tolist() == [0.0] and norm.tolist() == [0.0]
