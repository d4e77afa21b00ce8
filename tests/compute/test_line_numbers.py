"""Issue 13 on real runs: metrics in every line result, exact derivatives along the line (against
the scalar model's closed form and central differences of a float64 MLP line), adaptive alpha
(tolerance held, points of a wider line reused exactly by a zoom), aligned endpoints final:B~A."""

from __future__ import annotations

import numpy as np
import pytest

from compute import adaptive
from compute.align import model_refusal
from compute.jobs.backend import run_job
from compute.jobs.local import LocalJobs
from compute.kinds.line import LineQuery, compute_line
from compute.queries import Endpoint
from compute.kinds import resolve
from compute.resources import evaluator_for
from models.errors import BadInput


@pytest.fixture(scope="module")
def jobs(store):
    return LocalJobs(store)


def _line(store, jobs, *args, **kwargs) -> dict:
    return run_job(resolve(LineQuery.from_args(*args, **kwargs), store), jobs)


# ----------------------------------------------------------------------------------------- metrics
def test_every_line_result_carries_its_metrics(store, jobs, relu_run):
    r = _line(store, jobs, f"init:{relu_run.id}", f"final:{relu_run.id}", "-0.25:1.25", 31)
    assert set(r["metrics"]) == {"train", "valid"}
    m = r["metrics"]["train"]
    # init -> final of a trained net: J falls from J(0) to J(1), the barrier is a number >= 0
    assert m["barrier"]["height"] >= 0 and m["barrier"]["cost_0"] > m["barrier"]["cost_1"]
    assert m["initial_slope"]["slope"] < 0 and m["initial_slope"]["method"] == "forward-difference"
    # read back from the cache: the same metrics
    again = _line(store, jobs, f"init:{relu_run.id}", f"final:{relu_run.id}", "-0.25:1.25", 31)
    assert again["metrics"] == r["metrics"]


# ------------------------------------------------------------------------------------- derivatives
def test_derivatives_equal_the_scalar_models_closed_form(store, jobs, scalar_run):
    r = _line(store, jobs, f"init:{scalar_run.id}", f"final:{scalar_run.id}", "-0.5:1.5", 41, dtype="float64",
              derivatives=True)
    theta0, theta1 = (scalar_run.theta(s).double().numpy() for s in (scalar_run.init_step, scalar_run.final_step))
    x, y = (t.double().numpy().reshape(-1) for t in evaluator_for(scalar_run).tensors(["train"]))
    alpha = np.array(r["alpha"])[:, None]
    (a1, a2), (b1, b2) = theta0, theta1 - theta0
    w1, w2 = a1 + alpha * b1, a2 + alpha * b2
    p, dp, d2p = w1 * w2, b1 * w2 + w1 * b2, 2 * b1 * b2
    residual = y - p * x
    dj = np.mean(-2 * residual * dp * x, axis=1)
    d2j = np.mean(2 * (dp * x) ** 2 - 2 * residual * d2p * x, axis=1)
    np.testing.assert_allclose(r["cost"]["train"], np.mean(residual ** 2, axis=1), atol=1e-6)
    np.testing.assert_allclose(r["dcost"]["train"], dj, atol=1e-6)
    np.testing.assert_allclose(r["d2cost"]["train"], d2j, atol=1e-6)
    assert r["metrics"]["train"]["initial_slope"]["method"] == "exact"  # alpha = 0 is on the grid


@pytest.fixture(scope="module")
def sigmoid_run(store):
    from tests.conftest import _train

    return _train(store, "sigmoid-mnist", 0)


def test_derivatives_match_central_differences_of_a_float64_mlp_line(store, sigmoid_run):
    # a smooth MLP: along a ReLU line J is only piecewise smooth (each unit's kink puts a jump
    # of dJ/dalpha inside a stencil), where central differences see what the exact ones do not
    query = resolve(LineQuery.from_args(f"init:{sigmoid_run.id}", f"final:{sigmoid_run.id}", "0:1", 3,
                                        splits="train", dtype="float64", derivatives=True), store)
    h = 1e-4
    centres = np.array([0.1, 0.5, 0.9])
    alphas = np.sort(np.concatenate([centres - h, centres, centres + h]))
    r = compute_line(query, store, alphas=alphas)
    j = np.array(r.cost["train"]).reshape(3, 3)  # rows: a - h, a, a + h per centre
    dj, d2j = (np.array(v["train"]).reshape(3, 3)[:, 1] for v in (r.dcost, r.d2cost))
    np.testing.assert_allclose(dj, (j[:, 2] - j[:, 0]) / (2 * h), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(d2j, (j[:, 2] - 2 * j[:, 1] + j[:, 0]) / h ** 2, rtol=1e-4, atol=1e-6)


def test_a_relu_lines_derivatives_come_from_the_fast_paths_pass(store, relu_run, monkeypatch):
    """The relu-mnist line takes the line fast path: its derivatives come from the cost's own pass
    (not the general path through the network), equal to what the general path gives."""
    import compute.evaluator as evaluator_module

    def no_nested_jvps(*args, **kwargs):
        raise AssertionError("the line fast path's pass should have given the derivatives")

    query = resolve(LineQuery.from_args(f"init:{relu_run.id}", f"final:{relu_run.id}", "-0.5:1.5", 17,
                                        derivatives=True), store)
    with monkeypatch.context() as patch:
        patch.setattr(evaluator_module, "line_derivatives", no_nested_jvps)
        r = compute_line(query, store)
    theta0, theta1 = (relu_run.theta(s) for s in (relu_run.init_step, relu_run.final_step))
    nested = evaluator_for(relu_run).derivatives(theta0, theta1, query.alphas(), query.splits)
    for s, (d1, d2) in nested.items():
        for got, want in ((r.dcost[s], d1), (r.d2cost[s], d2)):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * (1 + np.abs(want).max()))


def test_derivatives_are_refused_where_they_are_not_defined():
    with pytest.raises(BadInput) as exc:
        LineQuery("init:r", "final:r", bn="recompute", derivatives=True)
    assert exc.value.field == "derivatives" and "bn=interpolate" in exc.value.message
    with pytest.raises(BadInput):
        LineQuery("init:r", "final:r", dropout_samples=4, derivatives=True)


def test_derivatives_and_adaptive_points_enter_the_key_only_when_on():
    plain = LineQuery("init:r", "final:r")
    assert "derivatives" not in plain.to_json() and "tolerance" not in plain.to_json()
    assert LineQuery("init:r", "final:r", derivatives=True).key() != plain.key()
    auto = LineQuery.from_args("init:r", "final:r", points="auto")
    assert auto.to_json()["points"] == "auto" and auto.tolerance == 1e-3
    assert LineQuery.from_json(auto.to_json()) == auto
    with pytest.raises(BadInput):
        LineQuery.from_args("init:r", "final:r", points=50, tolerance=0.01)


# ---------------------------------------------------------------------------------------- adaptive
def test_adaptive_alphas_hold_the_tolerance_on_a_known_curve():
    f = lambda a: np.tanh(40 * (np.asarray(a) - 0.3))[:, None]  # noqa: E731  a step at 0.3
    calls = []
    alphas = adaptive.adaptive_alphas(0.0, 1.0, 1e-3, lambda a: (calls.append(len(a)), f(a))[1])
    dense = np.linspace(0, 1, 20001)
    error = np.max(np.abs(np.interp(dense, alphas, f(alphas)[:, 0]) - f(dense)[:, 0])) / 2.0
    assert error < 4e-3 and len(alphas) == sum(calls) < 200
    gaps = np.diff(alphas)
    assert gaps[np.searchsorted(alphas, 0.3) - 1] < gaps[-1] / 4  # dense at the step, sparse where flat


def test_a_zoom_reuses_the_points_of_the_wider_line_exactly(store, jobs, relu_run):
    wide = _line(store, jobs, f"init:{relu_run.id}", f"final:{relu_run.id}", "0:1", "auto", tolerance=0.002)
    a = np.array(wide["alpha"])
    assert a[0] == 0 and a[-1] == 1 and np.all(np.diff(a) > 0) and len(a) < 200
    zoom = _line(store, jobs, f"init:{relu_run.id}", f"final:{relu_run.id}", "0:0.25", "auto", tolerance=0.002)
    shared = sorted(set(zoom["alpha"]) & set(wide["alpha"]))
    assert len(shared) >= np.count_nonzero(a <= 0.25) - 1
    for alpha in shared:
        assert zoom["cost"]["train"][zoom["alpha"].index(alpha)] == wide["cost"]["train"][wide["alpha"].index(alpha)]


# ---------------------------------------------------------------------------------- aligned endpoints
def test_aligned_endpoint_text_is_canonical():
    e = Endpoint.parse(" final:b-1~a-2 ")
    assert (e.run, e.aligned_to, str(e)) == ("b-1", "a-2", "final:b-1~a-2")
    for bad in ("init:b~a", "step:b:3~a", "final:a~a", "final:b~"):
        with pytest.raises(BadInput):
            Endpoint.parse(bad)


def test_aligned_theta_is_the_same_function_and_its_barrier_is_reported_beside(store, jobs, relu_run,
                                                                              relu_run_seed1):
    a, b = relu_run.id, relu_run_seed1.id
    plain = _line(store, jobs, f"final:{a}", f"final:{b}", "0:1", 21)
    aligned = _line(store, jobs, f"final:{a}", f"final:{b}~{a}", "0:1", 21)
    for s in ("train", "valid"):  # at alpha = 1 both lines are at theta_B, permuted or not
        assert abs(aligned["cost"][s][-1] - plain["cost"][s][-1]) < 1e-6
        assert abs(aligned["error"][s][-1] - plain["error"][s][-1]) < 1e-9
    before, after = (r["metrics"]["train"]["barrier"]["height"] for r in (plain, aligned))
    print(f"final->final train barrier: {before:.4f} before alignment, {after:.4f} after")
    assert after < before / 10 and before > 0.1


def test_alignment_is_refused_for_a_model_it_cannot_permute(store, scalar_run):
    from tests.conftest import _train

    other = _train(store, "scalar-linear", 1)
    assert "ScalarLinear" in model_refusal("scalar-linear", "small")
    assert model_refusal("relu-mnist", "small") is None
    query = resolve(LineQuery(f"final:{scalar_run.id}", f"final:{other.id}~{scalar_run.id}", points=5), store)
    with pytest.raises(BadInput) as exc:
        compute_line(query, store)
    assert "cannot align" in exc.value.message
