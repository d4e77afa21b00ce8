"""Issue 20 §8 (the roof): a model over LARGE_MODEL_BYTES of parameters (GPT-2 small) takes its
line one point at a time over all the data, each point built once into one reused buffer, its
line's basis the endpoints themselves, its chunks sized by the memory budget alone.
Here the threshold is lowered so a tiny GPT-2 takes that path: the values are those of the path
every smaller model takes, the caller's tensors and model are left as they were."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import compute.evaluator as evaluator_module
from compute.evaluator import EvalOptions, Evaluator
from compute.params import ParamLayout, build_points
from models.batches import as_source, stream_digest
from models.user import LossRef

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))

from userpkg import gpt  # noqa: E402

ALPHAS = np.linspace(-0.5, 1.5, 5)


def _line_inputs():
    torch.manual_seed(0)
    model = gpt.tiny_gpt2().eval()
    layout = ParamLayout.of(model)
    theta0 = layout.flatten_model(model)
    theta1 = theta0 + 0.05 * torch.randn(theta0.shape, generator=torch.Generator().manual_seed(2))
    ids = torch.randint(0, gpt.VOCAB, (12, gpt.CONTEXT), generator=torch.Generator().manual_seed(1))
    source = as_source(DataLoader([{"input_ids": r, "labels": r} for r in ids], batch_size=5), "train")
    source.expect(stream_digest(source))
    return model, theta0, theta1, {"train": source}


def _line(large: bool, monkeypatch, points_per_call: int = 1, progress=None, **options):
    model, theta0, theta1, splits = _line_inputs()
    monkeypatch.setattr(evaluator_module, "LARGE_MODEL_BYTES", 0 if large else 1 << 40)
    ev = Evaluator(model, LossRef("causal-lm").objective(), splits, device="cpu", points_per_call=points_per_call)
    assert ev.large is large
    return ev.line(theta0, theta1, ALPHAS, ["train"], progress, options=EvalOptions(**options))


@pytest.mark.parametrize("points_per_call", [1, 3])
def test_a_large_models_line_gives_the_values_of_the_general_path(points_per_call, monkeypatch):
    """Points outer (groups of 1, and of 3 then 2 through vmap), data inner, each point built
    once into one buffer: the same J and error rate, to the bit, as every point on each chunk."""
    small = _line(False, monkeypatch, points_per_call).splits["train"]
    seen = []
    large = _line(True, monkeypatch, points_per_call, lambda done, total: seen.append((done, total))).splits["train"]
    assert np.array_equal(large.cost, small.cost) and np.array_equal(large.error, small.error)
    assert np.all(np.isfinite(large.cost)) and large.cost[0] != large.cost[-1]
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1][0] == seen[-1][1] == 5 * 12


def test_a_large_models_shards_give_the_same_sums(monkeypatch):
    """A line cut by data (options.shards): the per-shard float64 sums of both paths agree."""
    small = _line(False, monkeypatch, shards=(0,)).partial
    large = _line(True, monkeypatch, shards=(0,)).partial
    assert small.shards.keys() == large.shards.keys() == {0}
    assert torch.equal(small.shards[0], large.shards[0])


def test_a_large_models_line_leaves_the_callers_tensors_and_model_alone(monkeypatch):
    model, theta0, theta1, splits = _line_inputs()
    monkeypatch.setattr(evaluator_module, "LARGE_MODEL_BYTES", 0)
    before = [t.clone() for t in (theta0, theta1, ParamLayout.of(model).flatten_model(model))]
    ev = Evaluator(model, LossRef("causal-lm").objective(), splits, device="cpu")
    ev.line(theta0, theta1, ALPHAS, ["train"])
    after = (theta0, theta1, ParamLayout.of(model).flatten_model(model))
    assert all(torch.equal(b, a) for b, a in zip(before, after))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_points_built_in_place_are_those_of_the_matrix_product(dtype, monkeypatch):
    """build_points, block by block over the threads, is c @ basis to the bit (a line's K = 2),
    also where a vector does not fill its last block."""
    monkeypatch.setattr("compute.params.BUILD_BLOCK", 1000)
    g = torch.Generator().manual_seed(0)
    rows = [torch.randn(10_501, generator=g).to(dtype) for _ in range(2)]
    c = torch.tensor([[1.5, -0.5], [1.0, 0.0], [0.3, 0.7]], dtype=torch.float64).to(dtype)
    out = torch.full((3, 10_501), float("nan"), dtype=dtype)
    assert torch.equal(build_points(c, rows, out), c @ torch.stack(rows))


def test_causal_lm_scores_sequence_by_sequence_with_the_bits_of_the_batch():
    """Evaluation takes a chunk's sequences one at a time (log_softmax holds one sequence, not a
    copy of the chunk): the same sums, to the bit, as the batched cross-entropy training takes,
    with ignored (-100) labels too."""
    objective = LossRef("causal-lm").objective()
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 33, 300, generator=g)
    labels = torch.randint(0, 300, (4, 33), generator=g)
    labels[1, 5:9] = -100
    with torch.enable_grad():
        batched = objective.per_example(logits, labels)
    with torch.no_grad():
        alone = objective.per_example(logits, labels)
    assert torch.equal(alone, batched) and alone.shape == (4,) and torch.all(torch.isfinite(alone))
    assert not torch.equal(alone[0], alone[1])
