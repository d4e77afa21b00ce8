"""The control experiments: closed forms for the scalar model, the random walk's regular shape in
high dimension (and not in low), convex descent toward its true solution, Fig. 7 right."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from compute.kinds.control import ControlQuery, compute_control, normalised_curve
from models.errors import BadInput
from compute.resources import theta_of


def _control(experiment, store=None, run=None, **params):
    return compute_control(ControlQuery(experiment, run, tuple(params.items())), store).to_json()


def test_factored_heat_map_and_trajectory_equal_the_closed_form():
    out = _control("factored", w1="-1.5:2", w2="-2:1.5", points="31x17", steps=150)
    w1, w2 = np.array(out["w1"]), np.array(out["w2"])
    assert len(w1) == 31 and len(w2) == 17 and w1[0] == -1.5 and w2[-1] == 1.5
    cost = np.array(out["cost"])  # rows follow w1
    np.testing.assert_allclose(cost, (1 - np.outer(w1, w2)) ** 2, rtol=1e-12, atol=1e-12)
    t = out["trajectory"]
    tw1, tw2 = np.array(t["w1"]), np.array(t["w2"])
    np.testing.assert_allclose(t["cost"], (1 - tw1 * tw2) ** 2, rtol=1e-12, atol=1e-14)
    assert np.hypot(tw1[0], tw2[0]) < 0.5  # a small initialization near the saddle at the origin
    assert t["cost"][-1] < 1e-6  # ... that reaches the hyperbola of solutions
    h1, h2 = (np.array([v for v in out["hyperbola"][k] if v is not None]) for k in ("w1", "w2"))
    np.testing.assert_allclose(h1 * h2, 1.0, rtol=1e-12)
    assert h2.min() >= -2 and h2.max() <= 1.5


def test_scalar_lines_equal_the_closed_form_and_show_the_barrier():
    out = _control("scalar-lines", alpha="-0.5:1.5", points=81)
    for name, line in out["lines"].items():
        alpha = np.array(line["alpha"])
        (a1, a2), (b1, b2) = line["from"], line["to"]
        w1, w2 = (1 - alpha) * a1 + alpha * b1, (1 - alpha) * a2 + alpha * b2
        np.testing.assert_allclose(line["cost"], (1 - w1 * w2) ** 2, rtol=1e-12, atol=1e-12, err_msg=name)
    barrier = out["lines"]["solution-solution"]
    middle = barrier["alpha"].index(0.5)
    assert barrier["cost"][barrier["alpha"].index(0.0)] < 1e-24 and barrier["cost"][middle] > 0.3  # (2, .5)..(.5, 2)
    assert np.hypot(*out["lines"]["random-solution"]["from"]) > 5  # a random point of large norm


def test_random_walk_shape_is_regular_in_high_dimension_only():
    out = _control("random-walk", dims="2,100000", seeds="0,1,2")
    assert len(out["walks"]) == 6 and out["solution_step"] == 900

    def spread(dim):
        curves = [normalised_curve(w) for w in out["walks"] if w["dim"] == dim]
        for alpha, beta in curves:
            assert len(alpha) == 1001 and alpha[900] == pytest.approx(1.0) and beta[900] == 0.0
        return max(max(np.abs(a - curves[0][0]).max(), np.abs(b - curves[0][1]).max()) for a, b in curves)

    # Normalised by their extent (alpha by ||x_900||, beta by its maximum), the three seeds' curves
    # lie within 0.02 of each other everywhere at d = 100,000 (measured about 0.007), and differ by
    # more than 0.2 somewhere at d = 2 (measured about 0.97).
    assert spread(100_000) < 0.02
    assert spread(2) > 0.2


def test_random_walk_alpha_beta_are_the_projection():
    """Check the one-pass, block-summed projection against the walk itself in a small dimension."""
    from compute.kinds.control import _WALK_BLOCK, random_walk

    dim, steps, sol = 3000, 50, 40
    out = random_walk(dim, 7, steps, sol)
    generator = torch.Generator().manual_seed(7)
    blocks = [torch.randn(min(_WALK_BLOCK, dim - c), steps, generator=generator).double()
              for c in range(0, dim, _WALK_BLOCK)]
    walk = torch.cat(blocks).cumsum(dim=1).T  # (steps, dim)
    walk = torch.cat([torch.zeros(1, dim, dtype=torch.float64), walk])
    u = walk[sol] / walk[sol].norm()
    alpha = walk @ u
    beta = (walk - alpha[:, None] * u).norm(dim=1)
    np.testing.assert_allclose(out["alpha"], alpha.numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(out["beta"], beta.numpy(), rtol=1e-6, atol=1e-6)


def test_convex_descent_heads_for_the_true_solution():
    out = _control("convex", dim=2000, steps=300, lrs="0.5,1.0", momenta="0,0.9")
    assert len(out["runs"]) == 4
    for run in out["runs"]:
        assert run["alpha"][0] == 0.0 and run["beta"][0] == 0.0 and len(run["alpha"]) == 301
        # theta - theta_0 = e + D u: alpha and beta place theta relative to the true solution
        assert run["alpha"][-1] == pytest.approx(out["distance"], abs=run["final_distance"] * 1.0001 + 1e-9)
    fast = next(r for r in out["runs"] if r["lr"] == 1.0 and r["momentum"] == 0.9)
    assert fast["final_distance"] < 1e-3 * out["distance"]
    assert len({round(r["max_beta"], 6) for r in out["runs"]}) == 4  # what tells the runs apart


def test_extremes_are_the_components_with_the_largest_range(relu_run, store):
    out = _control("extremes", store, relu_run.id, splits="train,valid")
    thetas = torch.stack([theta_of(relu_run, t) for t in relu_run.steps])
    ranges = thetas.max(dim=0).values - thetas.min(dim=0).values
    top = torch.topk(ranges, 2).indices.tolist()
    assert [c["index"] for c in out["components"]] == top
    assert out["x"] == thetas[:, top[0]].tolist() and out["y"] == thetas[:, top[1]].tolist()
    recorded = {s["step"]: s["cost"] for s in relu_run.manifest["steps"]}
    assert out["cost"]["valid"] == [recorded[t]["valid"] for t in relu_run.steps]
    assert out["components"][0]["name"].startswith("layers.")


@pytest.mark.parametrize("experiment, run, params, field", [
    ("random-walk", None, dict(dims="0"), "dims"),
    ("random-walk", None, dict(dims="100001"), "dims"),
    ("random-walk", None, dict(steps=100, solution_step=200), "solution_step"),
    ("convex", None, dict(lrs="3", momenta="0"), "lrs"),
    ("convex", None, dict(momenta="1.5"), "momenta"),
    ("factored", None, dict(w1="2:-2"), "w1"),
    ("factored", None, dict(points="300x3"), "points"),
    ("scalar-lines", None, dict(solutions="0,1"), "solutions"),
    ("scalar-lines", "some-run", {}, "run"),
    ("extremes", None, {}, "run"),
    ("factored", None, dict(dims="2"), "dims"),
    ("walk", None, {}, "experiment"),
])
def test_bad_control_queries_are_refused(experiment, run, params, field):
    with pytest.raises(BadInput) as err:
        ControlQuery(experiment, run, tuple(params.items()))
    assert err.value.field == field


def test_diverging_gradient_descent_is_bad_input():
    with pytest.raises(BadInput) as err:
        _control("factored", lr=5.0, points="3x3")
    assert err.value.field == "lr"


def test_control_query_canonical_key():
    a = ControlQuery("random-walk", None, (("seeds", "2,1"), ("dims", [10, 2])))
    b = ControlQuery("random-walk", None, (("dims", "2,10"), ("seeds", "1,2"), ("steps", 1000)))
    assert a == b and a.key() == b.key()
    assert ControlQuery.from_json(a.to_json()) == a
