"""Every model of the zoo through the one evaluator: the endpoints of a line are the model's own
forward on theta0 and theta1, batched evaluation equals a per-point loop, and a short training run
lowers the cost."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from compute.evaluator import Evaluator
from compute.params import ParamLayout
from models import MODELS, get_model

ALL_MODELS = ["maxout-mnist", "maxout-adv-mnist", "relu-mnist", "relu-dropout-mnist", "sigmoid-mnist",
              "conv-maxout-cifar10", "mpdbm-mnist", "lstm-ptb", "deep-linear-mnist", "scalar-linear"]


def test_the_zoo_has_all_ten_models_with_both_presets():
    assert sorted(MODELS) == sorted(ALL_MODELS)
    for spec in MODELS.values():
        assert set(spec.presets) == {"small", "paper"}
        assert spec.presets["paper"].source and spec.presets["small"].source


def _endpoints(model_id: str) -> tuple[torch.Tensor, torch.Tensor]:
    spec = get_model(model_id)
    layout = ParamLayout.of(spec.build("small"))
    theta0 = layout.flatten_model(spec.build("small", 0))
    # a second point that is not an initialisation: another draw, stretched and shifted
    theta1 = layout.flatten_model(spec.build("small", 1)) * 1.5 + 0.01
    return theta0, theta1


def _own_forward(model_id: str, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float | None]:
    """J and error rate from a fresh model with theta loaded, its plain forward, no evaluator."""
    spec = get_model(model_id)
    model = spec.build("small")
    ParamLayout.of(model).load_into(model, theta)
    model.eval()
    with torch.no_grad():
        out = model(x)
        cost = spec.objective.per_example(out, y).double().mean().item()
        error = spec.objective.errors(out, y).double().mean().item() if spec.objective.errors else None
    return cost, error


@pytest.mark.parametrize("model_id", ALL_MODELS)
def test_line_endpoints_are_the_models_own_forward(model_id, tiny_data):
    spec = get_model(model_id)
    x, y = tiny_data(model_id)
    theta0, theta1 = _endpoints(model_id)
    evaluation = Evaluator(spec.build("small"), spec.objective, {"train": (x, y)}).evaluate(
        torch.stack([theta0, theta1]), np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]), ["train"])
    metrics = evaluation.splits["train"]
    for i, theta in ((0, theta0), (2, theta1)):
        cost, error = _own_forward(model_id, theta, x, y)
        if spec.objective.perturb is None:
            assert metrics.cost[i] == pytest.approx(cost, abs=1e-5)
        else:  # J is the adversarial objective (checked in test_adversarial); its clean part is the forward
            assert metrics.extra["clean"][i] == pytest.approx(cost, abs=1e-5)
        if error is not None:
            assert metrics.error[i] == pytest.approx(error, abs=1e-9)
    assert np.all(np.isfinite(metrics.cost))


def _loop(model_id: str, thetas: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor, adversarial) -> np.ndarray:
    """The reference: a fresh model per point and its plain forward (the adversarial objective
    written out directly), no evaluator."""
    spec = get_model(model_id)
    if spec.objective.perturb is None:
        return np.array([_own_forward(model_id, theta, x, y)[0] for theta in thetas])
    out = []
    for theta in thetas:
        model = spec.build("small")
        ParamLayout.of(model).load_into(model, theta)
        out.append(adversarial(model, x, y)[0])
    return np.array(out)


@pytest.mark.parametrize("model_id", ALL_MODELS)
def test_batched_evaluation_equals_a_per_point_loop(model_id, tiny_data, adversarial_reference):
    spec = get_model(model_id)
    x, y = tiny_data(model_id)
    theta0, theta1 = _endpoints(model_id)
    alphas = np.array([-0.25, 0.0, 0.4, 1.0, 1.3])
    coeffs = np.stack([1 - alphas, alphas], axis=1)
    basis = torch.stack([theta0, theta1])
    reference = _loop(model_id, [(1 - a) * theta0 + a * theta1 for a in alphas], x, y, adversarial_reference)
    for points_per_call in (1, 3):  # 1: the CPU path (with first-layer reuse where exact); 3: vmap
        # a small memory budget forces several data chunks, so chunk sums are covered as well
        ev = Evaluator(spec.build("small"), spec.objective, {"train": (x, y)}, points_per_call=points_per_call,
                       memory_budget=200_000)
        np.testing.assert_allclose(ev.evaluate(basis, coeffs, ["train"]).splits["train"].cost, reference,
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model_id", ALL_MODELS)
def test_a_short_training_run_lowers_the_cost(model_id, store, tiny_preset):
    from compute.training import train

    preset = tiny_preset(model_id, epochs=2 if model_id != "scalar-linear" else 10)
    run = train(model_id, preset, seed=0, store=store, progress=False)
    steps = run.manifest["steps"]
    first, final = steps[0], next(s for s in steps if s["step"] == run.final_step)
    assert final["cost"]["train"] < first["cost"]["train"]
    assert final["cost"]["valid"] < first["cost"]["valid"]
    # theta_f as recorded reproduces its recorded cost through the evaluator
    spec = get_model(model_id)
    from models.datasets import DatasetRef, load_dataset

    data = load_dataset(DatasetRef.from_json(run.manifest["dataset"]))
    ev = Evaluator(spec.build(preset), spec.objective, {"valid": data.splits["valid"]})
    again = ev.evaluate_points(run.theta(run.final_step)[None], ["valid"]).splits["valid"].cost[0]
    assert again == pytest.approx(final["cost"]["valid"], rel=1e-5)
