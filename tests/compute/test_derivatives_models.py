"""Issue 18 §1-2: dJ/dalpha and d2J/dalpha2 of `Evaluator.line(..., options=EvalOptions(derivatives=True))`
(the public path) on models off the line fast path, against float64 central differences of the line's own
cost AND an independent double backward in alpha (never nested jvp, which PyTorch 2.13 gets wrong
through layer_norm): LayerNorm, BatchNorm with interpolated statistics, GELU, softmax attention,
tied weights, conv + BatchNorm (and docs/importing.md's resnet8), LSTM, maxout, dropout in eval mode.
A model whose second derivative PyTorch cannot take is refused in one line."""

from __future__ import annotations

import copy
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from compute.batchnorm import BufferLayout
from compute.evaluator import EvalOptions, Evaluator
from compute.params import ParamLayout
from models.errors import BadInput
from models.lstm import LSTMLanguageModel
from models.mlp import MLP
from models.objectives import CAUSAL_LM, OBJECTIVES, Objective
from models.user import LossRef

F64 = torch.float64
VOCAB, CLASSES, N = 11, 3, 24
CENTRES = np.array([-0.3, 0.4, 1.2])


class SelfAttention(nn.Module):
    """Token embeddings, one softmax self-attention block (nn.MultiheadAttention), pre-norm, mean-pooled head."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 8)
        self.norm = nn.LayerNorm(8)
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)
        self.head = nn.Linear(8, VOCAB)

    def forward(self, ids):
        h = self.embed(ids)
        q = self.norm(h)
        return self.head((h + self.attention(q, q, q, need_weights=False)[0]).mean(dim=1))


class TiedLM(nn.Module):
    """An embedding shared with the output head (one parameter, two uses)."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 6)
        self.mix = nn.Linear(6, 6)
        self.head = nn.Linear(6, VOCAB, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids):
        return self.head(torch.tanh(self.mix(self.embed(ids))).mean(dim=1))


def _conv_bn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(2, 4, 3, bias=False), nn.BatchNorm2d(4), nn.Tanh(), nn.Conv2d(4, 4, 3),
                         nn.BatchNorm2d(4), nn.GELU(), nn.Flatten(), nn.Linear(4 * 2 * 2, CLASSES))


def _user(module: str):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/userpkg, as `--path tests`
    return importlib.import_module(f"userpkg.{module}")


def _resnet8() -> nn.Module:
    return _user("resnet").resnet8()


MODELS = {  # name: (factory, input kind, objective)
    "layernorm": (lambda: nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.Tanh(), nn.Linear(16, CLASSES)),
                  "vectors", "cross-entropy"),
    "batchnorm": (lambda: nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.Tanh(), nn.Linear(16, CLASSES)),
                  "vectors", "cross-entropy"),
    "gelu": (lambda: nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, CLASSES)), "vectors", "cross-entropy"),
    "attention": (SelfAttention, "tokens", "cross-entropy"),
    "tied": (TiedLM, "tokens", "cross-entropy"),
    "conv-batchnorm": (_conv_bn, "images", "cross-entropy"),
    "lstm-dropout": (lambda: LSTMLanguageModel(vocab=VOCAB, hidden=6, layers=2, dropout=0.5), "sequences", "token-nll"),
    "maxout-dropout": (lambda: MLP(8, [6, 5], CLASSES, activation="maxout", pieces=3, dropout_input=0.2,
                                   dropout_hidden=0.5), "vectors", "cross-entropy"),
    # a token-level objective: J is the sum over counted tokens (labels -100 are not) / their number
    "causal-lm-counted": (lambda: nn.Sequential(nn.Embedding(VOCAB, 8), nn.LayerNorm(8), nn.GELU(), nn.Linear(8, VOCAB)),
                          "labels", CAUSAL_LM),
}


def _endpoint(factory, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = factory().to(F64).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))  # away from the initialiser's symmetric zeros
        for name, b in model.named_buffers():  # BatchNorm statistics that differ between the ends
            if name.endswith("running_mean"):
                b.normal_()
            elif name.endswith("running_var"):
                b.uniform_(0.5, 2.0)
    return model


def _data(kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    if kind == "vectors":
        return torch.randn(N, 8, generator=g, dtype=F64), torch.randint(0, CLASSES, (N,), generator=g)
    if kind == "images":
        return torch.randn(N, 2, 6, 6, generator=g, dtype=F64), torch.randint(0, CLASSES, (N,), generator=g)
    if kind == "tokens":
        return torch.randint(0, VOCAB, (N, 5), generator=g), torch.randint(0, VOCAB, (N,), generator=g)
    ids, next_ids = torch.randint(0, VOCAB, (N, 5), generator=g), torch.randint(0, VOCAB, (N, 5), generator=g)
    if kind == "labels":  # Hugging Face's labels: the ids themselves, some not counted
        return ids, torch.where(torch.rand(N, 5, generator=g) < 0.3, torch.full_like(ids, -100), ids)
    return ids, next_ids


def _objective(objective: str | Objective) -> Objective:
    return objective if isinstance(objective, Objective) else OBJECTIVES[objective]


def _line(model0: nn.Module, model1: nn.Module, data, objective: str | Objective, alphas: np.ndarray, **kw):
    layout, buffers = ParamLayout.of(model0), BufferLayout.of(model0)
    basis = torch.stack([buffers.flatten_model(model0), buffers.flatten_model(model1)]).to(F64) if buffers.names else None
    ev = Evaluator(model0, _objective(objective), {"train": data}, device="cpu", dtype=F64, **kw)
    return ev, ev.line(layout.flatten_model(model0), layout.flatten_model(model1), alphas, ["train"],
                       buffer_basis=basis, options=EvalOptions(derivatives=True)).splits["train"]


def _double_backward(model0: nn.Module, model1: nn.Module, data, objective: str | Objective, alpha: float) -> tuple[float, float]:
    """J'(alpha), J''(alpha) of the mean cost, parameters AND float buffers moving as (1 - alpha) e0 + alpha e1,
    by autograd.grad twice in the scalar alpha (its own code: no evaluator, no flat layout)."""
    # buffers as a run records them (BufferLayout.flatten): in float32
    ends = [{**dict(m.named_parameters()), **{n: b.float().double() for n, b in m.named_buffers() if b.is_floating_point()}}
            for m in (model0, model1)]
    a = torch.tensor(alpha, dtype=F64, requires_grad=True)
    point = {n: ((1 - a) * ends[0][n] + a * ends[1][n]) for n in ends[0]}
    with torch.nn.attention.sdpa_kernel([torch.nn.attention.SDPBackend.MATH]):
        out = functional_call(_explicit_batchnorm(model0), point, (data[0],))
        per, counts = _objective(objective).per_example(out, data[1]), _objective(objective).counts
        cost = per.mean() if counts is None else per.sum() / counts(out, data[1]).sum()
        (d1,) = torch.autograd.grad(cost, a, create_graph=True)
        (d2,) = torch.autograd.grad(d1, a)
    return d1.item(), d2.item()


class _ExplicitBatchNorm(nn.Module):
    """Eval-mode BatchNorm in plain tensor operations (torch's kernel has no derivative in its statistics)."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm):
        super().__init__()
        self.weight, self.bias, self.eps = bn.weight, bn.bias, bn.eps
        self.register_buffer("running_mean", bn.running_mean)
        self.register_buffer("running_var", bn.running_var)
        self.register_buffer("num_batches_tracked", bn.num_batches_tracked)

    def forward(self, x):
        shape = [1, -1] + [1] * (x.dim() - 2)
        return ((x - self.running_mean.view(shape)) / torch.sqrt(self.running_var.view(shape) + self.eps)
                * self.weight.view(shape) + self.bias.view(shape))


def _explicit_batchnorm(model: nn.Module) -> nn.Module:
    twin = copy.deepcopy(model)
    for parent in list(twin.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(parent, child_name, _ExplicitBatchNorm(child))
    return twin


@pytest.mark.parametrize("name", list(MODELS))
def test_line_derivatives_equal_central_differences_and_double_backward(name):
    factory, kind, objective = MODELS[name]
    model0, model1 = _endpoint(factory, 0), _endpoint(factory, 1)
    data, h = _data(kind), 1e-4
    alphas = np.concatenate([CENTRES - h, CENTRES, CENTRES + h])
    _, m = _line(model0, model1, data, objective, alphas)
    j = m.cost.reshape(3, 3)  # rows: alpha - h, alpha, alpha + h
    d1, d2 = m.dcost.reshape(3, 3)[1], m.d2cost.reshape(3, 3)[1]
    assert np.all(np.abs(d2) > 1e-3)  # a curved line: a wrong second derivative cannot pass as 0 = 0
    np.testing.assert_allclose(d1, (j[2] - j[0]) / (2 * h), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(d2, (j[2] - 2 * j[1] + j[0]) / h ** 2, rtol=2e-5, atol=1e-6)
    for i, alpha in enumerate(CENTRES):
        np.testing.assert_allclose((d1[i], d2[i]), _double_backward(model0, model1, data, objective, alpha),
                                   rtol=1e-9, atol=1e-12)


def _resnet8_data():
    g = torch.Generator().manual_seed(3)
    return torch.randn(10, 3, 8, 8, generator=g, dtype=F64), torch.randint(0, 10, (10,), generator=g)


def _lm_data():
    g = torch.Generator().manual_seed(3)
    return torch.randint(0, 50, (12, 6), generator=g), torch.randint(0, 50, (12, 6), generator=g)


@pytest.mark.parametrize("factory,data,objective,folded", [
    # §2: the cost folds resnet8's BatchNorms into channels-last convolutions; the derivatives broke on it
    (_resnet8, _resnet8_data, "cross-entropy", True),
    # docs/importing.md's tiny transformer LM (pre-norm encoder layers, causal mask), an imported run's loss
    (lambda: _user("transformer").tiny_lm(), _lm_data, LossRef("cross-entropy").objective(), False),
])
def test_the_readme_user_models(factory, data, objective, folded):
    """Both have ReLUs, whose kinks may sit inside a stencil (thousands of units): dJ/dalpha against
    a tiny h, both derivatives against double backward of the user's own (unfolded) module."""
    model0, model1, data, h = _endpoint(factory, 0), _endpoint(factory, 1), data(), 1e-7
    ev, m = _line(model0, model1, data, objective, np.array([0.5 - h, 0.5, 0.5 + h]))
    assert (ev.folded is not None) == folded
    np.testing.assert_allclose(m.dcost[1], (m.cost[2] - m.cost[0]) / (2 * h), rtol=1e-4)
    np.testing.assert_allclose((m.dcost[1], m.d2cost[1]), _double_backward(model0, model1, data, objective, 0.5),
                               rtol=1e-9)


class _OnceSquare(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return z * z

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (z,) = ctx.saved_tensors
        return 2 * z * grad


class _OnceDifferentiable(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8, CLASSES)

    def forward(self, x):
        return _OnceSquare.apply(self.linear(x))


def test_a_model_without_a_second_derivative_is_refused_in_one_line():
    model0, model1 = _endpoint(_OnceDifferentiable, 0), _endpoint(_OnceDifferentiable, 1)
    with pytest.raises(BadInput, match="cannot be differentiated again") as refused:
        _line(model0, model1, _data("vectors"), "cross-entropy", np.linspace(0, 1, 3))
    assert refused.value.field == "derivatives" and "\n" not in str(refused.value)


class _Returns(nn.Module):
    """A forward that returns what user models return: a tuple, a dict or an object with .logits."""

    def __init__(self, shape: str):
        super().__init__()
        self.body, self.shape = nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.Tanh(), nn.Linear(16, CLASSES)), shape

    def forward(self, x):
        logits = self.body(x)
        if self.shape == "tuple":
            return logits, None
        if self.shape == "dict":
            return {"loss": None, "logits": logits}
        return type("Output", (), {"logits": logits})()


@pytest.mark.parametrize("shape", ["tuple", "dict", "logits"])
def test_derivatives_read_the_outputs_as_the_cost_does(shape):
    """The derivative pass reads a forward's return like the cost pass (models.batches.model_outputs):
    a tuple's first element, a dict's or an object's logits, not a raw TypeError."""
    model0, model1 = _endpoint(lambda: _Returns(shape), 0), _endpoint(lambda: _Returns(shape), 1)
    data, h = _data("vectors"), 1e-4
    _, m = _line(model0, model1, data, "cross-entropy", np.array([0.4 - h, 0.4, 0.4 + h]))
    np.testing.assert_allclose(m.dcost[1], (m.cost[2] - m.cost[0]) / (2 * h), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(m.d2cost[1], (m.cost[2] - 2 * m.cost[1] + m.cost[0]) / h ** 2, rtol=2e-5, atol=1e-6)
