"""The zoo's objectives score one cost per example. Those that reduce a row of logits (cross-entropy,
mse-one-hot, adversarial cross-entropy) would give a (B, T, V) sequence model one cost per position;
J must refuse that in one line rather than count positions as examples. No zoo model gives them such
outputs (checked here), and an import's cross-entropy takes the mean over an example's positions."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from compute.evaluator import Evaluator
from models import MODELS
from models.errors import BadInput
from models.objectives import OBJECTIVES
from models.user import LossRef

ROW_OBJECTIVES = ("cross-entropy", "mse-one-hot", "adversarial-cross-entropy")


class TinySeq(nn.Module):
    """(B, T, 3) float inputs -> (B, T, V) logits: a sequence model an input gradient can perturb."""

    def __init__(self, vocab: int = 7):
        super().__init__()
        self.out = nn.Linear(3, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(x.tanh())


def _seq_splits() -> dict:
    g = torch.Generator().manual_seed(0)
    return {s: (torch.randn(n, 4, 3, generator=g), torch.randint(0, 7, (n, 4), generator=g))
            for s, n in (("train", 6), ("valid", 3))}


def _theta(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])[None]


@pytest.mark.parametrize("name", ROW_OBJECTIVES)
def test_a_row_objective_refuses_sequence_outputs_in_one_line(name):
    torch.manual_seed(0)
    model = TinySeq().eval()
    evaluator = Evaluator(model, OBJECTIVES[name], _seq_splits(), device="cpu")
    with pytest.raises(BadInput, match=r"one cost per position, not per example: outputs of shape \(4, 7\)") as info:
        evaluator.evaluate_points(_theta(model), ["train", "valid"])
    assert "\n" not in info.value.message and info.value.field == "loss"


def test_an_imports_cross_entropy_is_the_mean_over_every_token():
    torch.manual_seed(0)
    model, splits = TinySeq().eval(), _seq_splits()
    result = Evaluator(model, LossRef("cross-entropy").objective(), splits, device="cpu").evaluate_points(
        _theta(model), ["train", "valid"])
    with torch.no_grad():
        for split, (x, y) in splits.items():  # every sequence of length 4: the per-example mean's mean
            expected = F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item()
            assert result.splits[split].cost[0] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("model_id", sorted(m for m, spec in MODELS.items() if spec.objective_name in ROW_OBJECTIVES))
def test_no_zoo_model_gives_a_row_objective_sequence_outputs(model_id, tiny_data):
    x, _ = tiny_data(model_id, n=4)
    with torch.no_grad():
        out = MODELS[model_id].build("small", seed=0).eval()(x)
    assert out.dim() == 2 and len(out) == 4  # (B, C)
