"""What is particular to issue 3's models: the adversarial objective (with its input gradient for
every theta on a line), the LSTM's per-token J and truncated backpropagation through time, and
the MP-DBM's multi-prediction criterion beside its classification cost."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from compute.evaluator import Evaluator
from compute.params import ParamLayout
from models import get_model
from models.lstm import LSTMLanguageModel, stream_batches
from models.mpdbm import MPDBM, pack_inputs


# ---------------------------------------------------------------- adversarial training

@pytest.mark.parametrize("points_per_call", [1, 3])
def test_adversarial_objective_on_a_line_equals_a_direct_computation(points_per_call, tiny_data,
                                                                     adversarial_reference):
    spec = get_model("maxout-adv-mnist")
    x, y = tiny_data("maxout-adv-mnist", n=40)
    layout = ParamLayout.of(spec.build("small"))
    theta0 = layout.flatten_model(spec.build("small", 0))
    theta1 = layout.flatten_model(spec.build("small", 1)) * 4.0  # larger weights: the attack matters
    alphas = np.array([0.0, 0.35, 1.0, 1.6])
    ev = Evaluator(spec.build("small"), spec.objective, {"train": (x, y)}, points_per_call=points_per_call)
    metrics = ev.evaluate(torch.stack([theta0, theta1]), np.stack([1 - alphas, alphas], 1), ["train"]).splits["train"]
    for i, a in enumerate(alphas):
        model = spec.build("small")
        layout.load_into(model, (1 - a) * theta0 + a * theta1)
        adversarial, clean = adversarial_reference(model, x, y)
        assert metrics.cost[i] == pytest.approx(adversarial, abs=1e-5)
        assert metrics.extra["clean"][i] == pytest.approx(clean, abs=1e-5)
    # the attack is real: the perturbed half costs more than the clean cost
    assert np.all(metrics.cost > metrics.extra["clean"])


# ---------------------------------------------------------------- LSTM language model

def _one_point(model_id: str, split: str, x: torch.Tensor, y: torch.Tensor, seed: int):
    """A model drawn with `seed` (eval mode), its theta, and the evaluator's metrics of that theta."""
    spec = get_model(model_id)
    model = spec.build("small", seed).eval()
    theta = ParamLayout.of(model).flatten_model(model)
    evaluator = Evaluator(spec.build("small"), spec.objective, {split: (x, y)})
    return model, theta, evaluator.evaluate_points(theta[None], [split]).splits[split]


def test_lstm_J_is_the_mean_nll_per_token_of_the_whole_split(tiny_data):
    x, y = tiny_data("lstm-ptb", n=12)
    model, _, metrics = _one_point("lstm-ptb", "valid", x, y, seed=3)
    with torch.no_grad():
        logits = model(x)  # (N, T, V)
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item()  # over all tokens
    assert metrics.cost[0] == pytest.approx(nll, abs=1e-5)
    assert metrics.extra["perplexity"][0] == pytest.approx(np.exp(nll), rel=1e-5)
    assert metrics.error[0] == pytest.approx((logits.argmax(-1) != y).double().mean().item(), abs=1e-9)


def test_lstm_fused_kernel_and_written_out_cell_agree():
    model = LSTMLanguageModel(vocab=40, hidden=12, dropout=0.3, init_scale=0.3)
    model.reset_parameters(torch.Generator().manual_seed(0))
    model.eval()
    tokens = torch.randint(0, 40, (5, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        h = model.embedding(tokens)
        zeros = torch.zeros(2, 5, 12)
        unrolled, hn, cn = model._unrolled(h, zeros, zeros)
        np.testing.assert_allclose(model.decoder(unrolled).numpy(), model(tokens).numpy(), atol=1e-6)


def test_lstm_truncated_bptt_carries_the_state_between_consecutive_minibatches():
    model = LSTMLanguageModel(vocab=30, hidden=10, dropout=0.0, init_scale=0.3)
    model.reset_parameters(torch.Generator().manual_seed(0))
    text = torch.randint(0, 30, (4, 16), generator=torch.Generator().manual_seed(2))
    model.train()
    with torch.no_grad():
        first, second = model(text[:, :8]), model(text[:, 8:])  # state carried from the first window
        model.train()  # a new epoch: streams start from zero again
        again = model(text[:, :8])
        whole = model.eval()(text)  # the same text in one window, no carrying in eval mode
    np.testing.assert_allclose(torch.cat([first, second], 1).numpy(), whole.numpy(), atol=1e-5)
    np.testing.assert_allclose(again.numpy(), first.numpy(), atol=1e-6)


def test_stream_batches_continue_each_stream(tiny_data):
    x, y = tiny_data("lstm-ptb", n=23)
    batches = stream_batches(len(x), 5, torch.Generator())
    assert len(batches) == 23 // 5 and all(len(b) == 5 for b in batches)
    for b, nxt in zip(batches, batches[1:]):
        # the first input of each stream's next sequence is the last target of its previous one
        assert torch.equal(x[nxt][:, 0], y[b][:, -1])


# ---------------------------------------------------------------- MP-DBM

def _mpdbm(steps: int = 6) -> MPDBM:
    model = MPDBM(hidden=(30, 20), steps=steps, visible_bias=-1.9)
    model.reset_parameters(torch.Generator().manual_seed(0))
    return model.eval()


def test_mpdbm_multi_prediction_cost_scores_only_the_hidden_subset(tiny_data):
    x, y = tiny_data("mpdbm-mnist", n=16)
    model = _mpdbm()
    pixels = x[:, 0, :784]
    with torch.no_grad():
        nothing_hidden = model(pack_inputs(pixels, y, torch.zeros(16, 784), torch.zeros(16)))
        label_only = model(pack_inputs(pixels, y, torch.zeros(16, 784), torch.ones(16)))
        both = model(x)
    assert torch.all(nothing_hidden[:, 0] == 0)
    # hiding only the label is inference from the image alone: the classification pass, / 784
    classification = F.nll_loss(label_only[:, 1:], y, reduction="none")
    np.testing.assert_allclose(label_only[:, 0].numpy(), classification.numpy() / 784, rtol=1e-5, atol=1e-7)
    assert torch.all(both[:, 0] > 0)
    np.testing.assert_allclose(both[:, 1:].exp().sum(1).numpy(), 1.0, atol=1e-5)  # class log-probabilities


def test_mpdbm_J_and_classification_cost_through_the_evaluator(tiny_data):
    spec = get_model("mpdbm-mnist")
    x, y = tiny_data("mpdbm-mnist", n=20)
    model, theta, metrics = _one_point("mpdbm-mnist", "test", x, y, seed=5)
    with torch.no_grad():
        out = model(x)
    assert metrics.cost[0] == pytest.approx(out[:, 0].double().mean().item(), abs=1e-6)
    assert metrics.extra["classification"][0] == pytest.approx(
        F.nll_loss(out[:, 1:], y).item(), abs=1e-5)
    # J is one function of theta: the same inputs (subsets included) give the same J again
    again = Evaluator(spec.build("small"), spec.objective, {"test": (x, y)}).evaluate_points(theta[None], ["test"])
    assert again.splits["test"].cost[0] == metrics.cost[0]
