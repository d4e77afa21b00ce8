"""Exact derivatives along a line from the line fast path's own pass (compute/linefast.py +
derivatives.objective_derivatives, through Evaluator.line) against the general path, double
backward through the whole network (Evaluator.derivatives; never nested jvp, which PyTorch 2.13
gets wrong through layer_norm), on lines through random points of MLPs shaped like the small
relu-mnist (784-100-100-10): this checks the objective's nested jvps on the outputs (cross-entropy,
mse) too. Random data: no sign flip sits on a grid point."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import compute.evaluator as evaluator_module
from compute.evaluator import EvalOptions, Evaluator
from compute.linefast import LinePath
from compute.params import ParamLayout
from models.mlp import MLP
from models.objectives import OBJECTIVES
from tests.compute.test_linefast import _model

IN, OUT = 784, 10
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-9}  # relative to the derivative's scale on the line


def _mlp(hidden: list[int], activation: str, bias: bool, seed: int, dtype: torch.dtype) -> MLP:
    """An MLP with non-zero biases (they move along the line too), or none."""
    return _model(hidden, activation, seed, dtype, in_features=IN, out_features=OUT, bias=bias)


def _data(n: int, dtype: torch.dtype, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, IN, generator=g, dtype=dtype), torch.randint(0, OUT, (n,), generator=g)


@pytest.fixture
def calls(monkeypatch):
    """Counts the fast path's block calls and the general derivatives' calls; `force` picks the
    sparse updates (True) or the dense layer 2 (False)."""
    counts = {"outputs": 0, "general": 0}
    outputs, general = LinePath.outputs, evaluator_module.line_derivatives

    def counted_outputs(self, *args, **kwargs):
        counts["outputs"] += 1
        return outputs(self, *args, **kwargs)

    def counted_general(*args, **kwargs):
        counts["general"] += 1
        return general(*args, **kwargs)

    monkeypatch.setattr(LinePath, "outputs", counted_outputs)
    monkeypatch.setattr(evaluator_module, "line_derivatives", counted_general)
    counts["force"] = lambda mode: monkeypatch.setattr(LinePath, "_sparse_pays", lambda self, *a: mode)
    return counts


def _line_against_general(model_of, dtype, alphas, objective="cross-entropy", splits=None, calls=None, **kw):
    """(one pass's Metrics per split, double backward's {split: (d1, d2)}, cost without derivatives)."""
    model = model_of(0)
    layout = ParamLayout.of(model)
    theta0, theta1 = layout.flatten_model(model), layout.flatten_model(model_of(1))
    splits = splits or {"train": _data(120, dtype)}
    ev = Evaluator(model, OBJECTIVES[objective], splits, device="cpu", dtype=dtype, **kw)
    plain = ev.line(theta0, theta1, alphas, list(splits))
    blocks = calls["outputs"] if calls is not None else None
    result = ev.line(theta0, theta1, alphas, list(splits), options=EvalOptions(derivatives=True))
    if calls is not None:  # one pass: as many block calls as the cost alone, no general path
        assert calls["outputs"] == 2 * blocks >= 1 and calls["general"] == 0
    general = ev.derivatives(theta0, theta1, alphas, list(splits))
    return result.splits, general, plain.splits


def _assert_same(one_pass, general, plain, dtype):
    for s, (d1, d2) in general.items():
        m = one_pass[s]
        # the cost is the one without derivatives (summed in other chunks where they take more memory)
        np.testing.assert_allclose(m.cost, plain[s].cost, rtol=TOLERANCE[dtype] / 10, atol=0)
        np.testing.assert_array_equal(m.error, plain[s].error)
        for got, want in ((m.dcost, d1), (m.d2cost, d2)):
            scale = 1.0 + np.abs(want).max()
            np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE[dtype] * scale)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("hidden,activation,bias", [
    ([100], "relu", True),  # layer 2 is the last: the compiled sweep with no layer after it
    ([100, 100], "relu", True),  # the small relu-mnist: the compiled sweep with one layer after it
    ([100, 100], "relu", False),
    ([100, 100], "linear", True),
    ([40, 30, 20], "relu", True),  # deeper: the torch loop
])
def test_one_pass_equals_double_backward(dtype, hidden, activation, bias, calls):
    calls["force"](True)
    alphas = np.linspace(-0.5, 1.5, 15)
    scale = 0.5 if activation == "linear" else 1.0  # a linear net's cost grows like alpha^4
    one_pass, general, plain = _line_against_general(
        lambda seed: _mlp(hidden, activation, bias, seed, dtype) if seed == 0 else _scaled(
            _mlp(hidden, activation, bias, seed, dtype), scale), dtype, alphas, calls=calls)
    _assert_same(one_pass, general, plain, dtype)


def _scaled(model: MLP, factor: float) -> MLP:
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(factor)
    return model


@pytest.mark.parametrize("hidden", [[100], [100, 100], [40, 30, 20]])
def test_dense_layer_two_gives_them_too(hidden, calls):
    """Blocks with many flips take a dense layer 2 per point: the same derivatives."""
    calls["force"](False)
    alphas = np.linspace(0.0, 1.0, 11)
    one_pass, general, plain = _line_against_general(lambda seed: _mlp(hidden, "relu", True, seed, torch.float64),
                                                   torch.float64, alphas, calls=calls)
    _assert_same(one_pass, general, plain, torch.float64)


@pytest.mark.parametrize("objective", ["mse-one-hot", "squared-error"])
def test_other_objectives(objective, calls):
    """An objective over leading dimensions (mse-one-hot) and one over flat examples (squared error)."""
    x, labels = _data(150, torch.float64, seed=3)
    y = labels if objective == "mse-one-hot" else torch.randn(150, OUT, dtype=torch.float64,
                                                                 generator=torch.Generator().manual_seed(4))
    alphas = np.linspace(-1.0, 2.0, 13)
    one_pass, general, plain = _line_against_general(
        lambda seed: _mlp([100, 100], "relu", True, seed, torch.float64), torch.float64, alphas, objective,
        splits={"train": (x, y)}, calls=calls)
    _assert_same(one_pass, general, plain, torch.float64)


def test_chunks_blocks_splits_and_a_shuffled_grid(monkeypatch, calls):
    """Several evaluator chunks of several blocks, two splits, an unsorted grid with a repeated
    point: every point's derivatives land on its own alpha and split."""
    import compute.linefast as linefast

    calls["force"](True)
    monkeypatch.setattr(linefast, "BLOCK_BYTES", 1)
    monkeypatch.setattr(linefast, "MIN_BLOCK_ROWS", 16)
    alphas = np.random.default_rng(0).permutation(np.concatenate([np.linspace(-0.4, 1.4, 12), [0.5]]))
    splits = {"train": _data(130, torch.float32, seed=5), "valid": _data(70, torch.float32, seed=6)}
    progress = []
    one_pass, general, plain = _line_against_general(
        lambda seed: _mlp([100, 100], "relu", True, seed, torch.float32), torch.float32, alphas, splits=splits,
        calls=calls, memory_budget=600_000)
    assert calls["outputs"] > 4  # several chunks and blocks for each line
    _assert_same(one_pass, general, plain, torch.float32)
    # the progress of the one pass: the whole, once
    model = _mlp([100, 100], "relu", True, 0, torch.float32)
    layout = ParamLayout.of(model)
    ev = Evaluator(model, OBJECTIVES["cross-entropy"], splits, device="cpu", memory_budget=600_000)
    ev.line(layout.flatten_model(model), layout.flatten_model(_mlp([100, 100], "relu", True, 1, torch.float32)),
            alphas, ["train", "valid"], lambda done, total: progress.append((done, total)),
            options=EvalOptions(derivatives=True))
    assert len(progress) > 1 and progress[-1][0] == progress[-1][1]
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)


def test_models_off_the_fast_path_take_double_backward(calls):
    """A sigmoid MLP has no fast path: Evaluator.line still gives the derivatives, by double backward."""
    alphas = np.linspace(0.0, 1.0, 9)
    one_pass, general, plain = _line_against_general(lambda seed: _mlp([30, 20], "sigmoid", True, seed, torch.float64),
                                                   torch.float64, alphas)
    assert calls["outputs"] == 0
    for s, (d1, d2) in general.items():
        np.testing.assert_array_equal(one_pass[s].dcost, d1)
        np.testing.assert_array_equal(one_pass[s].d2cost, d2)


@pytest.mark.parametrize("activation,h,d2_atol", [("linear", 1e-4, 1e-5), ("relu", 1e-6, None)])
def test_derivatives_are_those_of_the_cost_curve(activation, h, d2_atol):
    """Independent of either way's code: central differences of the cost of a float64 line. A
    linear net is smooth (both derivatives); along a ReLU line a unit's kink may sit inside a
    stencil, so there only dJ/dalpha, with a tiny h."""
    model = _mlp([100, 100], activation, True, 0, torch.float64)
    layout = ParamLayout.of(model)
    theta0 = layout.flatten_model(model)
    theta1 = layout.flatten_model(_scaled(_mlp([100, 100], activation, True, 1, torch.float64), 0.5))
    ev = Evaluator(model, OBJECTIVES["cross-entropy"], {"train": _data(100, torch.float64)}, device="cpu",
                   dtype=torch.float64)
    centres = np.array([0.2, 0.5, 0.8])
    alphas = np.concatenate([centres - h, centres, centres + h])
    m = ev.line(theta0, theta1, alphas, ["train"], options=EvalOptions(derivatives=True)).splits["train"]
    j = m.cost.reshape(3, 3)  # rows: a - h, a, a + h
    d1, d2 = m.dcost.reshape(3, 3)[1], m.d2cost.reshape(3, 3)[1]
    np.testing.assert_allclose(d1, (j[2] - j[0]) / (2 * h), rtol=1e-5, atol=1e-7)
    if d2_atol is not None:
        np.testing.assert_allclose(d2, (j[2] - 2 * j[1] + j[0]) / h ** 2, rtol=1e-4, atol=d2_atol)


@pytest.mark.parametrize("objective", ["cross-entropy", "mse-one-hot", "squared-error"])
def test_the_objectives_step_equals_double_backward(objective):
    """objective_derivatives (nested jvps on the outputs, the fast path's last step) against double
    backward in s of c(out + s out' + s^2/2 out'') at s = 0, per example, float64."""
    from compute.derivatives import objective_derivatives

    g = torch.Generator().manual_seed(9)
    jet = torch.randn(3, 20, OUT, generator=g, dtype=torch.float64)
    targets = (torch.randn(20, OUT, generator=g, dtype=torch.float64) if objective == "squared-error"
               else torch.randint(0, OUT, (20,), generator=g))
    per_example = OBJECTIVES[objective].per_example
    d1, d2 = objective_derivatives(per_example, jet, targets)
    s = torch.zeros((), dtype=torch.float64, requires_grad=True)
    with torch.enable_grad():
        costs = per_example(jet[0] + s * jet[1] + s ** 2 / 2 * jet[2], targets)
        for i in range(len(costs)):
            (want1,) = torch.autograd.grad(costs[i], s, create_graph=True, retain_graph=True)
            (want2,) = torch.autograd.grad(want1, s, retain_graph=True)
            torch.testing.assert_close((d1[i], d2[i]), (want1.detach(), want2), rtol=1e-10, atol=1e-12)
