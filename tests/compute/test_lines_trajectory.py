import numpy as np
import pytest

from models.errors import BadInput
from compute.jobs.base import execute
from compute.kinds.line import LineQuery, compute_line
from compute.queries import Endpoint
from compute.kinds.trajectory import TrajectoryQuery, compute_trajectory
from compute.kinds import resolve
from compute.validate import parse_range


@pytest.mark.parametrize("alpha, dtype", [("0:1", "float32"), ("-1:2", "float64")])
def test_scalar_line_equals_closed_form(store, scalar_run, alpha, dtype):
    # fp32 carries ~7 digits: beyond [0, 1] the cost reaches ~4, so 1e-6 there needs float64.
    query = resolve(LineQuery.from_args(f"init:{scalar_run.id}", f"final:{scalar_run.id}", alpha, 61,
                                        dtype=dtype), store)
    line = compute_line(query, store)
    a0, b0 = scalar_run.theta(scalar_run.init_step).double().tolist()
    a1, b1 = scalar_run.theta(scalar_run.final_step).double().tolist()
    alpha = np.array(line.alpha)
    a, b = (1 - alpha) * a0 + alpha * a1, (1 - alpha) * b0 + alpha * b1
    np.testing.assert_allclose(line.cost["train"], (1 - a * b) ** 2, atol=1e-6)
    assert line.error["train"] is None  # a regression model has no error rate


def test_relu_line_decreases_overall_and_matches_endpoints(store, relu_run):
    query = resolve(LineQuery.from_args(f"init:{relu_run.id}", f"final:{relu_run.id}", "0:1", 21), store)
    line = compute_line(query, store).to_json()
    assert line["alpha"][0] == 0.0 and line["alpha"][-1] == 1.0 and len(line["alpha"]) == 21
    train = line["cost"]["train"]
    steps = {s["step"]: s for s in relu_run.manifest["steps"]}
    # alpha = 0 and 1 are J(theta_i) and J(theta_f), as recorded during training
    assert train[0] == pytest.approx(steps[relu_run.init_step]["cost"]["train"], abs=1e-6)
    assert train[-1] == pytest.approx(steps[relu_run.final_step]["cost"]["train"], abs=1e-6)
    assert train[-1] < 0.2 * train[0]
    assert line["cost"]["valid"][-1] < line["cost"]["valid"][0]
    assert set(line) >= {"alpha", "cost", "error", "query", "key"}
    assert line["key"] == query.key() and line["query"] == query.to_json()


def test_other_endpoints(store, relu_run, relu_run_seed1):
    final_final = compute_line(resolve(LineQuery.from_args(
        f"final:{relu_run.id}", f"final:{relu_run_seed1.id}", "0:1", 11), store), store)
    train = final_final.cost["train"]
    assert max(train) > max(train[0], train[-1])  # two solutions: a barrier between them
    random_final = compute_line(resolve(LineQuery.from_args(
        "random:7:10", f"final:{relu_run.id}", "0:1", 5), store), store)
    assert random_final.cost["train"][0] > random_final.cost["train"][-1]
    step = relu_run.steps[3]
    step_line = compute_line(resolve(LineQuery.from_args(
        f"step:{relu_run.id}:{step}", f"final:{relu_run.id}", "0:1", 3, "train"), store), store)
    recorded = next(s for s in relu_run.manifest["steps"] if s["step"] == step)["cost"]["train"]
    assert step_line.cost["train"][0] == pytest.approx(recorded, abs=1e-6)
    assert list(step_line.cost) == ["train"]


def test_trajectory_equals_direct_numpy(store, relu_run):
    result = compute_trajectory(TrajectoryQuery(relu_run.id), store)
    thetas = np.stack([relu_run.theta(s).double().numpy() for s in relu_run.steps])
    theta_i, theta_f = thetas[0], relu_run.theta(relu_run.final_step).double().numpy()
    u = (theta_f - theta_i) / np.linalg.norm(theta_f - theta_i)
    alpha = (thetas - theta_i) @ u
    beta = np.linalg.norm(thetas - theta_i - alpha[:, None] * u[None], axis=1)
    np.testing.assert_allclose(result.alpha_distance, alpha, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(result.alpha, alpha / np.linalg.norm(theta_f - theta_i), atol=1e-9)
    np.testing.assert_allclose(result.beta, beta, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(result.residual_ratio, beta / np.linalg.norm(thetas, axis=1), atol=1e-9)
    final_index = relu_run.steps.index(relu_run.final_step)
    assert result.alpha[final_index] == pytest.approx(1.0) and result.beta[final_index] == pytest.approx(0, abs=1e-6)
    assert len(result.cost["train"]) == len(relu_run.steps)


@pytest.mark.parametrize("args, field", [
    (("bogus", "final:r"), "from"),
    (("init:r", "final:r", "1:0"), "alpha"),
    (("init:r", "final:r", "0:inf"), "alpha"),
    (("init:r", "final:r", "nan:1"), "alpha"),
    (("init:r", "final:r", "0:1", 1), "points"),
    (("init:r", "final:r", "0:1", 2002), "points"),
    (("init:r", "final:r", "0:1", "ten"), "points"),
    (("init:r", "final:r", "0:1", 10, "train,bogus"), "splits"),
    (("random:1", "random:2"), "from"),
    (("random:1:-3", "final:r"), "from"),
    (("init:r", "final:r", "0:1", 10, "train", "float8"), "dtype"),
])
def test_bad_line_queries_are_refused(args, field):
    with pytest.raises(BadInput) as info:
        LineQuery.from_args(*args)
    assert info.value.field == field


def test_unknown_runs_and_steps(store, relu_run):
    with pytest.raises(BadInput, match="unknown run"):
        resolve(LineQuery.from_args("init:nosuchrun", f"final:{relu_run.id}"), store)
    with pytest.raises(BadInput, match="no checkpoint at step"):
        resolve(LineQuery.from_args(f"step:{relu_run.id}:999999", f"final:{relu_run.id}"), store)


def test_query_keys_are_canonical():
    a = LineQuery.from_args("init:r", "final:r", "0:1", "50", "valid,train")
    b = LineQuery.from_args(" init:r", "final:r", "0.0:1.0", 50, "train,valid")
    assert a == b and a.key() == b.key()
    assert LineQuery.from_json(a.to_json()) == a
    for other in (LineQuery.from_args("init:r", "final:r", "0:1", 51),
                  LineQuery.from_args("init:r", "final:r", "0:0.5"),
                  LineQuery.from_args("init:r", "final:r", splits="train"),
                  LineQuery.from_args("init:r", "final:s"),
                  LineQuery.from_args("init:r", "final:r", dtype="bfloat16")):
        assert other.key() != a.key()
    assert str(Endpoint.parse("random:3")) == "random:3:1"
    assert parse_range("-0.5:1.5") == (-0.5, 1.5)


def test_execute_dispatches(store, relu_run):
    result = execute(TrajectoryQuery(relu_run.id), store)
    assert result.final_step == relu_run.final_step
    with pytest.raises(TypeError):
        execute(object(), store)
