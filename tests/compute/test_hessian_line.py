"""Sharpness along a line and the Hessian plane, on the session's scalar-linear run (two parameters:
the dense Hessian is a 2 x 2 matrix, computed here by autograd on the run's own model and data)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import functional_call

from compute.kinds.hessian import HessianQuery, compute_hessian
from compute.kinds.line import LineQuery, compute_line
from compute.endpoints import endpoint_theta
from compute.queries import Endpoint
from compute.kinds.surface.query import SurfaceQuery
from compute.kinds import resolve
from compute.resources import evaluator_for
from compute.kinds.surface.kind import compute_surface
from models.errors import BadInput


def _dense_hessian(run, theta: torch.Tensor, split: str = "train") -> np.ndarray:
    ev = evaluator_for(run, "float64")
    x, y = ev.tensors([split])

    def cost(t: torch.Tensor) -> torch.Tensor:
        out = functional_call(ev.model, ev.layout.unflatten(t), (x,))
        return ev.objective.per_example(out, y).mean()

    return torch.autograd.functional.hessian(cost, theta.double()).numpy()


def test_sharpness_at_every_second_point_is_lambda_max(scalar_run, store):
    query = resolve(LineQuery(f"init:{scalar_run.id}", f"final:{scalar_run.id}", 0.0, 1.0, 5, ("train",),
                              dtype="float64", sharpness=2), store)
    assert query.to_json()["sharpness"] == 2
    result = compute_line(query, store)
    values = result.sharpness["train"]
    assert [v is None for v in values] == [False, True, False, True, False]
    theta0, theta1 = (endpoint_theta(Endpoint.parse(e), scalar_run, store) for e in (query.start, query.end))
    for a, v in zip(result.alpha, values):
        if v is not None:
            exact = np.linalg.eigvalsh(_dense_hessian(scalar_run, (1 - a) * theta0 + a * theta1))[-1]
            assert abs(v - exact) <= 1e-3 * abs(exact)
    text = result.to_csv().splitlines()
    assert text[0].split(",")[-1] == "sharpness_train" or "sharpness_train" in text[0]
    assert LineQuery(query.start, query.end).key() != query.key()


def test_sharpness_refusals(scalar_run):
    with pytest.raises(BadInput):
        LineQuery(f"init:{scalar_run.id}", f"final:{scalar_run.id}", points="auto", sharpness=1)
    with pytest.raises(BadInput):
        LineQuery(f"init:{scalar_run.id}", f"final:{scalar_run.id}", sharpness=-1)


def test_hessian_at_a_point_equals_the_dense_one(scalar_run, store):
    query = resolve(HessianQuery(f"final:{scalar_run.id}", top=2, dtype="float64", tolerance=1e-10), store)
    result = compute_hessian(query, store)
    exact = np.linalg.eigvalsh(_dense_hessian(scalar_run, endpoint_theta(Endpoint.parse(query.at), scalar_run,
                                                                         store)))
    np.testing.assert_allclose(result.splits["train"]["eigen"]["top"]["values"], exact[::-1], rtol=1e-6)


def test_the_hessian_plane_through_theta_f(scalar_run, store):
    query = resolve(SurfaceQuery(scalar_run.id, "hessian", -1.0, 1.0, -1.0, 1.0, 3, 3, ("train",)), store)
    surface = compute_surface(query, store).to_json()
    theta_f = endpoint_theta(Endpoint.parse(f"final:{scalar_run.id}"), scalar_run, store)
    exact = np.linalg.eigvalsh(_dense_hessian(scalar_run, theta_f))[::-1]
    np.testing.assert_allclose(surface["meta"]["eigenvalues"], exact, rtol=1e-3, atol=1e-3 * exact[0])
    centre = surface["cost"]["train"][1][1]  # a = b = 0: theta_f itself
    final_cost = next(s for s in scalar_run.manifest["steps"] if s["step"] == scalar_run.final_step)["cost"]["train"]
    assert abs(centre - final_cost) < 1e-5
    from app.figures.surface import axis_names

    assert "λ1 = " in axis_names(surface)[0] and "λ2 = " in axis_names(surface)[1]
