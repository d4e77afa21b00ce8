"""The exact line fast path (compute/linefast.py) against a naive per-point loop, through the
public Evaluator.evaluate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import compute.linefast as linefast
from compute.evaluator import Evaluator
from compute.linefast import LinePath, line_positions
from compute.params import ParamLayout
from models.mlp import MLP
from models.objectives import OBJECTIVES

IN, OUT, N = 12, 4, 300


def _model(hidden: list[int], activation: str, seed: int, dtype=torch.float32, in_features: int = IN,
           out_features: int = OUT, **kw) -> MLP:
    model = MLP(in_features, hidden, out_features, activation=activation, **kw)
    model.reset_parameters(torch.Generator().manual_seed(seed))
    with torch.no_grad():  # non-zero biases, so they take part in the algebra
        for layer in model.layers:
            if layer.bias is not None:
                layer.bias.normal_(0.0, 0.1, generator=torch.Generator().manual_seed(seed + 7))
    return model.to(dtype).eval()


def _data(dtype=torch.float32, n: int = N, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, IN, generator=g, dtype=dtype), torch.randint(0, OUT, (n,), generator=g)


def _naive(make, theta0, theta1, alphas, x, y):
    """Fresh model per alpha, load the parameters, forward: (costs, error rates, min logit gaps)."""
    costs, errors, gaps = [], [], []
    for a in alphas:
        model = make()
        layout = ParamLayout.of(model)
        layout.load_into(model, (1 - a) * theta0 + a * theta1)
        with torch.no_grad():
            out = model(x)
        costs.append(F.cross_entropy(out, y).item())
        errors.append((out.argmax(1) != y).double().mean().item())
        top = out.topk(2, dim=1).values
        gaps.append((top[:, 0] - top[:, 1]).min().item())
    return np.array(costs), np.array(errors), np.array(gaps)


def _evaluate(model, theta0, theta1, alphas, splits, **kw):
    ev = Evaluator(model, OBJECTIVES["cross-entropy"], splits, device="cpu", dtype=theta0.dtype, **kw)
    coeffs = np.stack([1 - np.asarray(alphas), np.asarray(alphas)], axis=1)
    return ev.evaluate(torch.stack([theta0, theta1]), coeffs, list(splits))


@pytest.fixture
def spy(monkeypatch):
    """Counts the fast path's calls; `mode` forces the sparse updates (True) or dense layer 2 (False)."""
    calls = {"outputs": 0}
    original = LinePath.outputs

    def outputs(self, x, *args, **kwargs):
        calls["outputs"] += 1
        return original(self, x, *args, **kwargs)

    monkeypatch.setattr(LinePath, "outputs", outputs)

    def force(mode: bool | None):
        if mode is not None:
            monkeypatch.setattr(LinePath, "_sparse_pays", lambda self, *a: mode)
    calls["force"] = force
    return calls


GRIDS = {
    "uniform01": np.linspace(0, 1, 11),
    "wide-shuffled": np.random.default_rng(1).permutation(np.linspace(-1, 2, 17)),
    "nonuniform": np.concatenate([[1.3, -0.7], np.sort(np.random.default_rng(2).uniform(-1, 2, 12)), [0.25, 0.25]]),
}


@pytest.mark.parametrize("activation", ["relu", "linear"])
@pytest.mark.parametrize("mode", [True, False])  # sparse sign-flip updates / dense second layer
@pytest.mark.parametrize("hidden,grid", [([20], "uniform01"), ([20, 16], "wide-shuffled"),
                                         ([20, 16, 10], "nonuniform"), ([20, 16], "uniform01")])
def test_fast_path_matches_naive_loop(activation, hidden, mode, grid, spy):
    spy["force"](mode)
    alphas = GRIDS[grid]
    make = lambda: _model(hidden, activation, seed=0)  # noqa: E731
    model = make()
    layout = ParamLayout.of(model)
    theta0 = layout.flatten_model(model)
    # a linear net's cost grows like alpha^4 away from the segment: keep that end moderate
    theta1 = layout.flatten_model(_model(hidden, activation, seed=1)) * (0.5 if activation == "linear" else 1)
    x, y = _data()
    result = _evaluate(model, theta0, theta1, alphas, {"train": (x, y)}).splits["train"]
    cost, err, gaps = _naive(make, theta0, theta1, alphas, x, y)
    assert spy["outputs"] >= 1
    np.testing.assert_allclose(result.cost, cost, atol=1e-5, rtol=1e-6)
    clear = gaps > 1e-4  # no near tie between the two largest outputs anywhere
    assert clear.sum() >= len(alphas) // 2
    np.testing.assert_array_equal(result.error[clear], err[clear])


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_fp64_is_exact_to_rounding(activation, spy):
    spy["force"](True)
    make = lambda: _model([20, 16], activation, seed=3, dtype=torch.float64)  # noqa: E731
    model = make()
    layout = ParamLayout.of(model)
    theta0 = layout.flatten_model(model)
    theta1 = layout.flatten_model(_model([20, 16], activation, seed=4, dtype=torch.float64)) * 0.5
    x, y = _data(torch.float64)
    alphas = np.linspace(-1, 2, 13)
    result = _evaluate(model, theta0, theta1, alphas, {"train": (x, y)}).splits["train"]
    cost, err, _ = _naive(make, theta0, theta1, alphas, x, y)
    assert spy["outputs"] >= 1
    np.testing.assert_allclose(result.cost, cost, atol=1e-11, rtol=1e-11)
    np.testing.assert_array_equal(result.error, err)


def test_endpoints_are_the_endpoints_cost(spy):
    spy["force"](True)
    model = _model([20, 16], "relu", seed=5)
    other = _model([20, 16], "relu", seed=6)
    layout = ParamLayout.of(model)
    theta0, theta1 = layout.flatten_model(model), layout.flatten_model(other)
    x, y = _data()
    alphas = np.linspace(0, 1, 9)
    result = _evaluate(model, theta0, theta1, alphas, {"train": (x, y)}).splits["train"]
    with torch.no_grad():
        j0, j1 = F.cross_entropy(model(x), y).item(), F.cross_entropy(other(x), y).item()
    assert spy["outputs"] >= 1
    assert result.cost[0] == pytest.approx(j0, abs=1e-6)
    assert result.cost[-1] == pytest.approx(j1, abs=1e-6)


def test_chunks_and_splits(monkeypatch, spy):
    """Several evaluator chunks, several blocks inside the fast path, several splits."""
    spy["force"](True)
    monkeypatch.setattr(linefast, "BLOCK_BYTES", 1)
    monkeypatch.setattr(linefast, "MIN_BLOCK_ROWS", 16)  # blocks of 16 examples
    make = lambda: _model([20, 16], "relu", seed=8)  # noqa: E731
    model = make()
    layout = ParamLayout.of(model)
    theta0, theta1 = layout.flatten_model(model), layout.flatten_model(_model([20, 16], "relu", seed=9))
    (xa, ya), (xb, yb) = _data(n=250, seed=1), _data(n=90, seed=2)
    alphas = np.linspace(-0.5, 1.5, 10)
    threads = torch.get_num_threads()
    result = _evaluate(model, theta0, theta1, alphas, {"train": (xa, ya), "valid": (xb, yb)},
                       memory_budget=40_000)
    assert spy["outputs"] > 1
    assert torch.get_num_threads() == threads  # the blocks' worker threads leave it as it was
    for name, (x, y) in {"train": (xa, ya), "valid": (xb, yb)}.items():
        cost, _, _ = _naive(make, theta0, theta1, alphas, x, y)
        np.testing.assert_allclose(result.splits[name].cost, cost, atol=1e-5, rtol=1e-6)


@pytest.mark.parametrize("activation,kw", [("sigmoid", {}), ("maxout", {"pieces": 3})])
def test_not_applicable_models_still_correct(activation, kw, spy):
    make = lambda: _model([20, 16], activation, seed=10, **kw)  # noqa: E731
    model = make()
    layout = ParamLayout.of(model)
    theta0, theta1 = layout.flatten_model(model), layout.flatten_model(_model([20, 16], activation, seed=11, **kw))
    x, y = _data()
    alphas = np.linspace(-1, 2, 12)
    result = _evaluate(model, theta0, theta1, alphas, {"train": (x, y)}).splits["train"]
    cost, err, gaps = _naive(make, theta0, theta1, alphas, x, y)
    assert spy["outputs"] == 0
    np.testing.assert_allclose(result.cost, cost, atol=1e-5, rtol=1e-6)
    clear = gaps > 1e-4
    np.testing.assert_array_equal(result.error[clear], err[clear])


def test_collinear_rows_of_a_larger_basis_use_the_fast_path(spy):
    """A surface row, theta = origin + a u + b v with b fixed, is a line too."""
    model = _model([20, 16], "relu", seed=12)
    layout = ParamLayout.of(model)
    g = torch.Generator().manual_seed(0)
    basis = torch.stack([layout.flatten_model(model)] + [0.1 * torch.randn(layout.numel, generator=g)
                                                          for _ in range(2)])
    a = np.linspace(-1, 1, 9)
    coeffs = np.stack([np.ones_like(a), a, np.full_like(a, 0.3)], axis=1)
    x, y = _data()
    ev = Evaluator(model, OBJECTIVES["cross-entropy"], {"train": (x, y)}, device="cpu")
    result = ev.evaluate(basis, coeffs, ["train"]).splits["train"]
    assert spy["outputs"] >= 1
    expected = []
    for c in coeffs:
        fresh = _model([20, 16], "relu", seed=0)
        layout.load_into(fresh, torch.as_tensor(c, dtype=torch.float32) @ basis)
        with torch.no_grad():
            expected.append(F.cross_entropy(fresh(x), y).item())
    np.testing.assert_allclose(result.cost, expected, atol=1e-5, rtol=1e-6)


def test_line_positions():
    a = np.array([0.5, -1.0, 2.0, 0.0])
    coeffs = np.stack([1 - a, a], axis=1)
    lo, hi, u = line_positions(coeffs)
    assert {lo, hi} == {1, 2} and u.min() == 0 and u.max() == 1  # the extreme points
    np.testing.assert_allclose(coeffs[lo] + u[:, None] * (coeffs[hi] - coeffs[lo]), coeffs, atol=1e-15)
    assert line_positions(np.eye(3)) is None  # three points of a plane
    assert line_positions(np.ones((4, 2))) is None  # one point, repeated


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("hidden", [[20], [20, 16]])
def test_non_finite_values_stay_marked(hidden, bad, spy):
    """An example with a NaN or an overflowing input: the fast path must give NaN/inf where a
    plain forward pass does, never a finite number (a masked-off NaN would read as 0)."""
    spy["force"](True)
    make = lambda: _model(hidden, "relu", seed=13)  # noqa: E731
    model = make()
    layout = ParamLayout.of(model)
    theta0, theta1 = layout.flatten_model(model), layout.flatten_model(_model(hidden, "relu", seed=14))
    x, y = _data()
    x[7, 3] = bad
    alphas = np.linspace(-1, 2, 13)
    result = _evaluate(model, theta0, theta1, alphas, {"train": (x, y)}).splits["train"]
    cost, _, _ = _naive(make, theta0, theta1, alphas, x, y)
    assert spy["outputs"] >= 1
    assert not np.isfinite(cost).any()  # one bad example spoils the mean everywhere
    np.testing.assert_array_equal(np.isnan(result.cost), np.isnan(cost))
    np.testing.assert_array_equal(np.isinf(result.cost), np.isinf(cost))
