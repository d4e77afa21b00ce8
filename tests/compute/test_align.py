"""Weight matching (compute/align.py): a permuted θ is the same function (outputs and J to 1e-6),
a known permutation is undone exactly, θ aligned to itself is θ, two random ReLU nets come closer,
and models without a supported symmetry are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from compute.align import align_theta, can_align, permutation_spec, permute_theta, weight_matching
from compute.evaluator import Evaluator
from compute.params import ParamLayout
from models import get_model
from models.datasets import DatasetRef, load_dataset
from models.errors import BadInput

SUPPORTED = ["relu-mnist", "relu-dropout-mnist", "sigmoid-mnist", "maxout-mnist", "maxout-adv-mnist",
             "deep-linear-mnist", "conv-maxout-cifar10"]


def _small(model_id: str, seed: int):
    model = get_model(model_id).build("small", seed=seed).double().eval()
    layout = ParamLayout.of(model)
    theta = layout.flatten_model(model)
    if model_id == "deep-linear-mnist":  # its initializer is near-orthogonal; any random θ will do
        theta = theta + 0.05 * torch.randn(theta.shape, generator=torch.Generator().manual_seed(seed),
                                           dtype=theta.dtype)
    else:  # biases start at 0: draw them too, so that they are permuted and checked
        theta = theta + 0.1 * torch.randn(theta.shape, generator=torch.Generator().manual_seed(seed + 100),
                                          dtype=theta.dtype) * (theta == 0)
    return model, layout, theta


def _inputs(model_id: str) -> torch.Tensor:
    shape = {"conv-maxout-cifar10": (6, 3, 32, 32), "deep-linear-mnist": (6, 196)}.get(model_id, (6, 784))
    return torch.randn(shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)


def _outputs(model, layout, theta, x):
    layout.load_into(model, theta)
    with torch.no_grad():
        return model(x)


def _random_perms(spec, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {p: rng.permutation(n) for p, n in spec.sizes.items()}


@pytest.mark.parametrize("model_id", SUPPORTED)
def test_permuted_and_aligned_theta_compute_the_same_function(model_id):
    model, layout, theta_a = _small(model_id, 0)
    _, _, theta_b = _small(model_id, 1)
    spec = permutation_spec(model)
    assert can_align(model) and all(n > 1 for n in spec.sizes.values())
    x = _inputs(model_id)
    reference = _outputs(model, layout, theta_b, x)
    shuffled = permute_theta(spec, layout, theta_b, _random_perms(spec, 3))
    assert not torch.equal(shuffled, theta_b)
    torch.testing.assert_close(_outputs(model, layout, shuffled, x), reference, rtol=0, atol=1e-6)
    aligned = align_theta(model, theta_b, theta_a)
    assert aligned.dtype == theta_b.dtype and not torch.equal(aligned, theta_b)
    assert torch.equal(torch.sort(aligned).values, torch.sort(theta_b).values)  # the same values, moved
    torch.testing.assert_close(_outputs(model, layout, aligned, x), reference, rtol=0, atol=1e-6)


@pytest.mark.parametrize("model_id", SUPPORTED)
def test_a_known_permutation_is_undone_and_self_alignment_is_the_identity(model_id):
    model, layout, theta = _small(model_id, 2)
    spec = permutation_spec(model)
    assert torch.equal(align_theta(model, theta, theta), theta)
    assert weight_matching(spec, layout, theta, theta).rounds == 1  # nothing to change
    shuffled = permute_theta(spec, layout, theta, _random_perms(spec, 5))
    assert torch.equal(align_theta(model, shuffled, theta), theta)


@pytest.mark.parametrize("model_id", ["relu-mnist", "maxout-mnist"])
def test_aligned_theta_has_the_same_cost(model_id):
    spec = get_model(model_id)
    data = load_dataset(DatasetRef(spec.dataset, None, {"demo_train": 500, "demo_valid": 10, "demo_test": 10}))
    model, _, theta_a = _small(model_id, 0)
    _, _, theta_b = _small(model_id, 1)
    aligned = align_theta(model, theta_b, theta_a)
    evaluator = Evaluator(model, spec.objective, {"train": data.splits["train"]}, device="cpu",
                          dtype=torch.float64)
    cost = evaluator.evaluate(torch.stack([theta_b, aligned]), np.eye(2), ["train"]).splits["train"].cost
    assert cost[0] > 0.5 and abs(cost[1] - cost[0]) < 1e-6


def test_alignment_brings_two_random_relu_nets_closer():
    model, _, theta_a = _small("relu-mnist", 0)
    _, _, theta_b = _small("relu-mnist", 1)
    before = float(torch.linalg.vector_norm(theta_b - theta_a))
    after = float(torch.linalg.vector_norm(align_theta(model, theta_b, theta_a) - theta_a))
    assert after < 0.97 * before, (before, after)
    # the same seed gives the same permutation
    assert torch.equal(align_theta(model, theta_b, theta_a, seed=4), align_theta(model, theta_b, theta_a, seed=4))


@pytest.mark.parametrize("model_id", ["scalar-linear", "lstm-ptb", "mpdbm-mnist"])
def test_models_without_a_supported_symmetry_are_refused(model_id):
    model = get_model(model_id).build("small", seed=0)
    assert not can_align(model)
    theta = ParamLayout.of(model).flatten_model(model)
    with pytest.raises(BadInput, match="cannot align the hidden units of a .*supports the MLP family"):
        align_theta(model, theta, theta)


def test_theta_of_another_architecture_is_refused():
    model, _, theta = _small("relu-mnist", 0)
    with pytest.raises(BadInput, match="parameters"):
        align_theta(model, theta[:-1], theta)
