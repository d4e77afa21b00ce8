"""The row of the `paper` surface through θ_f (issue 14 §1): θ_f's residual is rounding noise (~1e-13),
so the row borrows the residual direction of the nearest recorded step, on a run whose θ_f is its
last step and on one whose θ_f is in the middle of training."""

from __future__ import annotations

import pytest
import torch

from compute.kinds.surface.query import SurfaceQuery
from compute.kinds.surface.paper import ON_LINE, Row, _row_geometry
from compute.kinds.surface.kind import compute_surface
from compute.kinds.trajectory import frame_of


def _cut_at_theta_f(run, store):
    """The run's record up to its θ_f: a run whose θ_f is its last step, whatever training gave."""
    from compute.recorder import Recorder
    from models import MODELS

    meta = {k: run.manifest[k] for k in ("model", "preset", "dataset", "data_digest", "hyperparameters", "arch")}
    model = MODELS[run.model_id].build(run.preset)
    with Recorder(store, model, seed=run.manifest["seed"], model_id=meta.pop("model"), preset=meta.pop("preset"),
                  **meta) as rec:
        for entry in run.manifest["steps"]:
            if entry["step"] <= run.final_step:
                rec.record(entry["step"], entry["epoch"], theta=run.theta(entry["step"]), costs=entry["cost"],
                           errors=entry["error"])
        return rec.finish(run.final_step)


@pytest.fixture(params=["last", "middle"])
def trained(request, relu_run, relu_run_seed1, store):
    """(run, where θ_f is): seed 0's record cut at its θ_f, so that θ_f is its last step; seed 1's is
    not its last (checked here)."""
    run = _cut_at_theta_f(relu_run, store) if request.param == "last" else relu_run_seed1
    at = run.steps.index(run.final_step)
    if (at == len(run.steps) - 1) != (request.param == "last"):
        pytest.fail(f"{run.id}: θ_f is step {run.final_step} of {run.steps}, not the {request.param} one")
    return run, request.param


def test_theta_f_row_borrows_the_nearest_real_residual_direction(trained):
    run, _ = trained
    frame = frame_of(run)
    k = frame.steps.index(run.final_step)
    assert 0 < frame.beta[k] < ON_LINE * frame.distance  # the residual is rounding: what the row must not use
    alpha, path_beta, v, borrowed = _row_geometry(frame, Row(k))
    assert borrowed and alpha == pytest.approx(1.0, abs=1e-12) and path_beta == 0.0
    u = (frame.theta_f - frame.theta_i) / frame.distance
    assert abs(float(v @ u)) < 1e-6  # off the line, not ±u (cos 0.999996 before the fix)
    nearest = k - 1  # the earlier neighbour on a tie
    expected = frame.residual(nearest) / frame.beta[nearest]
    assert torch.allclose(v, expected, atol=1e-12)
    # every other recorded step but θᵢ keeps its own direction
    own = [i for i in range(len(frame.steps)) if not _row_geometry(frame, Row(i))[3]]
    assert own == [i for i in range(len(frame.steps)) if i not in (0, k)]


def test_theta_f_row_climbs_away_from_the_solution(trained, store):
    """Along the borrowed direction J rises from J(θ_f) (before the fix it fell, along the line past θ_f)."""
    run, _ = trained
    query = SurfaceQuery(run.id, "paper", rows=len(run.steps), columns=5, splits=("train",))
    result = compute_surface(query, store)
    row = result.path["step"].index(run.final_step)
    costs = result.cost["train"][row]
    assert result.beta[0] == 0.0 and result.path["beta"][row] == 0.0
    assert costs[-1] > 10 * costs[0], costs  # β up to 1.5 × the largest β(t): far up the valley's wall
    # and keeps rising once off the floor (θ_f, chosen on the validation split, need not be the train
    # minimum: the first step may dip, as it does on seed 0's record cut at its θ_f)
    assert all(b >= a for a, b in zip(costs[1:], costs[2:])), costs
    assert result.meta["borrowed_directions"] == 2  # θᵢ and θ_f
