import numpy as np
import pytest
import torch
import torch.nn.functional as F

from compute.evaluator import EvalOptions, Evaluator
from compute.params import ParamLayout
from models import get_model
from models.mlp import MLP
from models.objectives import OBJECTIVES


def _naive(model_id, preset, thetas, x, y):
    """One fresh model per point, parameters loaded, plain forward: the reference."""
    spec = get_model(model_id)
    out = []
    for theta in thetas:
        model = spec.build(preset)
        ParamLayout.of(model).load_into(model, theta)
        model.eval()
        with torch.no_grad():
            out.append(spec.objective.per_example(model(x), y).double().mean().item())
    return np.array(out)


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(600, 28, 28, generator=g)
    y = torch.randint(0, 10, (600,), generator=g)
    return x, y


@pytest.mark.parametrize("model_id", ["relu-mnist", "maxout-mnist", "sigmoid-mnist", "relu-dropout-mnist"])
def test_line_equals_naive_loop_with_first_layer_reuse(model_id, data):
    x, y = data
    spec = get_model(model_id)
    layout = ParamLayout.of(spec.build("small"))
    theta0 = layout.flatten_model(spec.build("small", 0))
    theta1 = layout.flatten_model(spec.build("small", 1)) * 3.0
    alphas = np.linspace(-0.5, 1.5, 9)
    evaluator = Evaluator(spec.build("small"), spec.objective, {"train": (x, y)})
    assert evaluator.factored
    ours = evaluator.evaluate(torch.stack([theta0, theta1]), np.stack([1 - alphas, alphas], 1), ["train"])
    reference = _naive(model_id, "small", [(1 - a) * theta0 + a * theta1 for a in alphas], x, y)
    np.testing.assert_allclose(ours.splits["train"].cost, reference, atol=1e-5, rtol=0)


def test_monte_carlo_dropout_is_the_mean_of_seeded_dropout_passes(data):
    """dropout_samples=N: the mean over N passes with dropout on, pass s with its masks drawn from
    seed DROPOUT_SEED + 1000003 s (one chunk of examples), the same masks at every point."""
    from compute.evaluator import DROPOUT_SEED

    x, y = data
    spec = get_model("relu-dropout-mnist")
    layout = ParamLayout.of(spec.build("small"))
    theta0, theta1 = (layout.flatten_model(spec.build("small", s)) for s in (0, 1))
    alphas = np.linspace(0, 1, 7)
    coeffs = np.stack([1 - alphas, alphas], 1)
    evaluator = Evaluator(spec.build("small"), spec.objective, {"train": (x, y)}, device="cpu")
    three = EvalOptions(dropout_samples=3)
    mc = evaluator.evaluate(torch.stack([theta0, theta1]), coeffs, ["train"], options=three).splits["train"]
    again = evaluator.evaluate(torch.stack([theta0, theta1]), coeffs, ["train"], options=three).splits["train"]
    plain = evaluator.evaluate(torch.stack([theta0, theta1]), coeffs, ["train"]).splits["train"]

    reference_cost, reference_error = [], []
    for a in alphas:
        model = spec.build("small")
        layout.load_into(model, (1 - a) * theta0 + a * theta1)
        model.train()  # dropout on
        costs, errors = [], []
        for s in range(3):
            torch.manual_seed(DROPOUT_SEED + 1_000_003 * s)
            with torch.no_grad():
                out = model(x)
            costs.append(F.cross_entropy(out, y).item())
            errors.append((out.argmax(1) != y).double().mean().item())
        reference_cost.append(np.mean(costs))
        reference_error.append(np.mean(errors))
    np.testing.assert_allclose(mc.cost, reference_cost, atol=1e-5, rtol=0)
    np.testing.assert_allclose(mc.error, reference_error, atol=1e-12)
    np.testing.assert_array_equal(mc.cost, again.cost)  # reproducible
    assert np.abs(mc.cost - plain.cost).max() > 1e-3  # dropout on is not the eval-mode cost
    assert evaluator.model.training is False  # back in eval mode


def test_endpoints_equal_direct_evaluation(data):
    x, y = data
    spec = get_model("relu-mnist")
    layout = ParamLayout.of(spec.build("small"))
    theta0, theta1 = (layout.flatten_model(spec.build("small", s)) for s in (5, 6))
    evaluator = Evaluator(spec.build("small"), spec.objective, {"train": (x, y)})
    line = evaluator.evaluate(torch.stack([theta0, theta1]), [[1, 0], [0.5, 0.5], [0, 1]], ["train"])
    direct = _naive("relu-mnist", "small", [theta0, theta1], x, y)
    assert line.splits["train"].cost[0] == pytest.approx(direct[0], abs=1e-6)
    assert line.splits["train"].cost[2] == pytest.approx(direct[1], abs=1e-6)


def test_splits_error_rates_chunking_and_vmap_agree(data):
    x, y = data
    spec = get_model("relu-mnist")
    layout = ParamLayout.of(spec.build("small"))
    basis = torch.stack([layout.flatten_model(spec.build("small", s)) for s in (0, 1)])
    coeffs = np.array([[1 - a, a] for a in np.linspace(0, 1, 5)])
    splits = {"train": (x[:400], y[:400]), "valid": (x[400:], y[400:])}
    plain = Evaluator(spec.build("small"), spec.objective, splits).evaluate(basis, coeffs, ["train", "valid"])
    tiny_chunks = Evaluator(spec.build("small"), spec.objective, splits, memory_budget=50_000)
    assert tiny_chunks.chunk_size(basis, x, 2) < 100
    chunked = tiny_chunks.evaluate(basis, coeffs, ["train", "valid"])
    vmapped = Evaluator(spec.build("small"), spec.objective, splits, points_per_call=3).evaluate(
        basis, coeffs, ["train", "valid"])
    for other in (chunked, vmapped):
        for s in ("train", "valid"):
            np.testing.assert_allclose(other.splits[s].cost, plain.splits[s].cost, atol=1e-6)
            np.testing.assert_array_equal(other.splits[s].error, plain.splits[s].error)
    # the error rate is the fraction misclassified, computed directly
    model = spec.build("small")
    layout.load_into(model, basis[1])
    with torch.no_grad():
        wrong = (model(x[400:]).argmax(1) != y[400:]).double().mean().item()
    assert plain.splits["valid"].error[-1] == pytest.approx(wrong)


def test_points_and_deep_linear_mse(data):
    x, y = data
    spec = get_model("deep-linear-mnist")
    x14 = F.avg_pool2d(x[:, None], 2)[:, 0]
    thetas = torch.stack([ParamLayout.of(spec.build("small")).flatten_model(spec.build("small", s)) for s in (0, 1, 2)])
    ours = Evaluator(spec.build("small"), spec.objective, {"train": (x14, y)}).evaluate_points(thetas, ["train"])
    np.testing.assert_allclose(ours.splits["train"].cost, _naive("deep-linear-mnist", "small", thetas, x14, y),
                               rtol=1e-5)


def test_lower_precision_reports_its_error(data):
    x, y = data
    model = MLP(784, [64], 10)
    layout = ParamLayout.of(model)
    basis = torch.stack([layout.flatten_model(model), layout.flatten_model(MLP(784, [64], 10))])
    ev = Evaluator(MLP(784, [64], 10), OBJECTIVES["cross-entropy"], {"train": (x, y)}, dtype=torch.bfloat16)
    result = ev.evaluate(basis, [[1, 0], [0, 1]], ["train"])
    assert result.dtype == "bfloat16"
    assert result.precision_error is not None and 0 < result.precision_error < 0.05
    exact = Evaluator(MLP(784, [64], 10), OBJECTIVES["cross-entropy"], {"train": (x, y)}).evaluate(
        basis, [[1, 0], [0, 1]], ["train"])
    assert exact.precision_error is None
