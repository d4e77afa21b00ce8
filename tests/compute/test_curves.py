"""Mode-connecting curves on a tiny real problem trained here: two seeds of a small MLP on spirals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from compute.curves import (CurveTraining, coefficients, curve_basis, curve_point, learning_rate, midpoint,
                            train_bend)
from compute.evaluator import Evaluator
from compute.metrics import line_metrics
from compute.params import ParamLayout
from models.errors import BadInput
from models.objectives import OBJECTIVES

TS = np.linspace(0.0, 1.0, 21)


def _spirals(n: int = 600, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved spirals: a problem whose solutions differ from seed to seed."""
    g = torch.Generator().manual_seed(seed)
    r = torch.rand(n, generator=g) * 3 * math.pi + 0.5
    label = torch.arange(n) % 2
    angle = r + math.pi * label
    x = torch.stack([r * torch.cos(angle), r * torch.sin(angle)], dim=1) / 5
    return x + 0.05 * torch.randn(n, 2, generator=g), label


def _mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 48), nn.ReLU(), nn.Linear(48, 48), nn.ReLU(), nn.Linear(48, 2))


@pytest.fixture(scope="module")
def problem():
    """(model, objective, data, θ of seed 0, θ of seed 1): each trained for a few seconds."""
    x, y = _spirals()
    objective = OBJECTIVES["cross-entropy"]
    solutions = []
    for seed in (0, 1):
        model = _mlp(seed)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        g = torch.Generator().manual_seed(seed)
        for _ in range(60):
            for index in torch.randperm(len(x), generator=g).split(50):
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(x[index]), y[index]).backward()
                optimizer.step()
        solutions.append(ParamLayout.of(model).flatten_model(model).clone())
    return _mlp(2), objective, (x, y), solutions[0], solutions[1]


def _costs(model, objective, data, basis: torch.Tensor, coeffs: np.ndarray) -> np.ndarray:
    evaluator = Evaluator(model, objective, {"train": data}, device="cpu")
    return evaluator.evaluate(basis, coeffs, ["train"]).splits["train"].cost


@pytest.mark.parametrize("kind", ["bezier", "polychain"])
def test_coefficients_are_the_curve_and_exact_at_the_ends(kind):
    c = coefficients(kind, TS)
    assert c[0].tolist() == [1.0, 0.0, 0.0] and c[-1].tolist() == [0.0, 0.0, 1.0]
    np.testing.assert_allclose(c.sum(axis=1), 1.0, rtol=0, atol=1e-15)  # an affine combination
    a, b, bend = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), torch.tensor([2.0, 2.0])
    if kind == "bezier":
        t = 0.3
        expected = (1 - t) ** 2 * a + 2 * t * (1 - t) * bend + t ** 2 * b
    else:
        t = 0.75  # halfway along the second segment, from the bend to θ_B
        expected = 0.5 * bend + 0.5 * b
    torch.testing.assert_close(curve_point(kind, curve_basis(a, bend, b), t), expected)
    # with the bend at the midpoint the curve is the straight line (1 - t) θ_A + t θ_B
    straight = coefficients(kind, TS) @ curve_basis(a, midpoint(a, b), b).double().numpy()
    np.testing.assert_allclose(straight, np.outer(1 - TS, a) + np.outer(TS, b), rtol=0, atol=1e-12)


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="bezier"):
        coefficients("spline", [0.5])


def test_schedule_is_the_originals():
    assert learning_rate(1.0, 0, 10) == 1.0 and learning_rate(1.0, 5, 10) == 1.0
    assert learning_rate(1.0, 7, 10) == pytest.approx(1 - 0.99 * 0.5)
    assert learning_rate(1.0, 9, 10) == pytest.approx(0.01) and learning_rate(1.0, 9.9, 10) == 0.01


def test_the_curve_joins_two_solutions_over_a_much_lower_barrier(problem):
    model, objective, data, theta_a, theta_b = problem
    before = [p.detach().clone() for p in model.parameters()]
    bend = train_bend(model, objective, *data, theta_a, theta_b, "bezier",
                      CurveTraining(epochs=40, batch_size=50, lr=0.3, momentum=0.9, seed=0))
    assert all(torch.equal(p, q) for p, q in zip(before, model.parameters()))  # the module is not touched
    line = _costs(model, objective, data, torch.stack([theta_a, theta_b]), np.stack([1 - TS, TS], axis=1))
    curve = _costs(model, objective, data, curve_basis(theta_a, bend, theta_b), coefficients("bezier", TS))
    ends = _costs(model, objective, data, torch.stack([theta_a, theta_b]), np.eye(2))
    assert curve[0] == ends[0] and curve[-1] == ends[1]  # exactly the two solutions' costs
    np.testing.assert_allclose(line[[0, -1]], ends, rtol=1e-5)  # the line fast path: to rounding
    line_barrier = line_metrics(TS, line)["barrier"]["height"]
    curve_barrier = line_metrics(TS, curve)["barrier"]["height"]
    assert line_barrier > 0.2, line_barrier  # the problem has a barrier to remove
    assert curve_barrier <= 0.1 * line_barrier, (curve_barrier, line_barrier)


def test_training_is_deterministic_for_a_seed_and_changes_with_it(problem):
    model, objective, data, theta_a, theta_b = problem
    def bend(seed: int) -> torch.Tensor:
        return train_bend(model, objective, *data, theta_a, theta_b, "polychain",
                          CurveTraining(epochs=1, batch_size=100, seed=seed))
    state = torch.random.get_rng_state()
    first = bend(0)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random stream is left alone
    assert torch.equal(first, bend(0))
    assert not torch.equal(first, bend(1))
    assert not torch.equal(first, midpoint(theta_a, theta_b))


def test_progress_counts_steps_and_can_stop_the_training(problem):
    model, objective, data, theta_a, theta_b = problem
    seen = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_bend(model, objective, *data, theta_a, theta_b, "bezier", CurveTraining(epochs=2, batch_size=100),
                   progress=progress)
    assert seen == [(1, 12), (2, 12), (3, 12)]


def test_divergence_is_bad_input(problem):
    model, objective, data, theta_a, theta_b = problem
    with pytest.raises(BadInput, match="diverged"):
        train_bend(model, objective, *data, theta_a * 1e30, theta_b * 1e30, "bezier",
                   CurveTraining(epochs=1, batch_size=100, lr=1e30))
