"""The `pca` surface of the session's real relu run, against numpy's SVD of the run's checkpoints and
an independent evaluation of the projected checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from compute.kinds.surface.query import SurfaceQuery
from compute.kinds.surface.kind import compute_surface
from compute.resources import evaluator_for
from models.errors import BadInput


@pytest.fixture(scope="module")
def pca_surface(relu_run, store):
    query = SurfaceQuery(relu_run.id, "pca", rows=3, columns=3, splits=("train",))
    return compute_surface(query, store).to_json()


@pytest.fixture(scope="module")
def reference(relu_run):
    """numpy's SVD of the column-centred rows θ(t) − θ_f of the run: (rows, directions (2, D), ratios)."""
    theta_f = relu_run.theta(relu_run.final_step).double().numpy()
    rows = np.stack([relu_run.theta(s).double().numpy() for s in relu_run.steps]) - theta_f
    _, s, vt = np.linalg.svd(rows - rows.mean(axis=0), full_matrices=False)
    return rows, vt[:2], s[:2] ** 2 / np.sum(s ** 2)


def test_explained_variance_and_off_plane_fractions_are_numpys(pca_surface, reference):
    rows, directions, ratio = reference
    meta, traj = pca_surface["meta"], pca_surface["trajectory"]
    np.testing.assert_allclose(meta["explained_variance_ratio"], ratio, rtol=0, atol=1e-6)
    coordinates = rows @ directions.T
    norms = np.linalg.norm(rows, axis=1)
    off = np.linalg.norm(rows - coordinates @ directions, axis=1)
    fraction = np.divide(off, norms, out=np.zeros_like(off), where=norms > 0)
    np.testing.assert_allclose(traj["off_plane"], fraction, rtol=0, atol=1e-6)
    # the coordinates, up to each direction's sign
    for ours, theirs in ((traj["alpha"], coordinates[:, 0]), (traj["beta"], coordinates[:, 1])):
        np.testing.assert_allclose(np.abs(ours), np.abs(theirs), rtol=1e-6, atol=1e-6)
    assert meta["origin"] == "theta_f" and meta["checkpoints"] == len(rows)
    assert pca_surface["query"]["surface"] == "pca" and pca_surface["query"].get("seed") is None


def test_theta_f_projects_to_the_origin(pca_surface, relu_run):
    traj = pca_surface["trajectory"]
    final = traj["step"].index(relu_run.final_step)
    assert traj["alpha"][final] == 0.0 and traj["beta"][final] == 0.0 and traj["off_plane"][final] == 0.0
    assert traj["plane_cost"]["train"][final] == traj["cost"]["train"][final]
    # the grid holds the whole trajectory, θ_f included
    a, b = pca_surface["alpha"], pca_surface["beta"]
    assert a[0] <= min(traj["alpha"]) <= 0.0 <= max(traj["alpha"]) <= a[-1]
    assert b[0] <= min(traj["beta"]) <= 0.0 <= max(traj["beta"]) <= b[-1]


def test_costs_beside_each_other_equal_independent_evaluations(pca_surface, reference, relu_run):
    rows, directions, _ = reference
    theta_f = relu_run.theta(relu_run.final_step).double().numpy()
    projected = theta_f + (rows @ directions.T) @ directions  # numpy's projection: signs do not matter
    evaluator = evaluator_for(relu_run)
    independent = evaluator.evaluate_points(torch.from_numpy(projected).float(), ["train"]).splits["train"].cost
    np.testing.assert_allclose(pca_surface["trajectory"]["plane_cost"]["train"], independent, rtol=1e-5)
    recorded = [s["cost"]["train"] for s in relu_run.manifest["steps"]]
    np.testing.assert_allclose(pca_surface["trajectory"]["cost"]["train"], recorded, rtol=1e-6)
    # the plane shows the path where the checkpoints are near it: J there is J(θ(t)), to the share off it
    traj = pca_surface["trajectory"]
    near = [k for k, f in enumerate(traj["off_plane"]) if f < 1e-3]
    assert near  # θ_f at least
    for k in near:
        assert traj["plane_cost"]["train"][k] == pytest.approx(traj["cost"]["train"][k], rel=1e-3, abs=1e-4)


def test_every_plane_says_how_far_off_it_the_trajectory_is(relu_run, store):
    query = SurfaceQuery(relu_run.id, "random-plane", rows=2, columns=2, splits=("train",))
    traj = compute_surface(query, store).to_json()["trajectory"]
    assert len(traj["off_plane"]) == len(relu_run.steps)
    # random directions in ~10^5 dimensions miss the path: almost all of it lies off their plane
    assert min(f for f, s in zip(traj["off_plane"], traj["step"]) if s != relu_run.final_step) > 0.9


def test_pca_query_takes_no_seed_scale_or_normalization(relu_run):
    assert SurfaceQuery(relu_run.id, "pca").seed is None
    with pytest.raises(BadInput, match="seed"):
        SurfaceQuery(relu_run.id, "pca", seed=1)
    with pytest.raises(BadInput, match="random-plane"):
        SurfaceQuery(relu_run.id, "pca", scale=2.0)
    assert SurfaceQuery(relu_run.id, "pca").key() != SurfaceQuery(relu_run.id, "random-plane").key()
