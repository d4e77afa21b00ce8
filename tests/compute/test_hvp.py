"""The public Hessian-vector products and gradient (compute/derivatives.py) against a dense
float64 Hessian and gradient of J(theta), the mean cost over the split, written independently
with torch.autograd.functional on a plain functional_call of the model."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call

from compute.derivatives import gradient, hessian_vector_products
from compute.evaluator import Evaluator
from compute.params import ParamLayout
from models.errors import BadInput
from models.objectives import OBJECTIVES

F64 = torch.float64


def _tiny(batchnorm: bool) -> nn.Module:
    torch.manual_seed(0)
    norm = nn.BatchNorm1d(6) if batchnorm else nn.LayerNorm(6)
    model = nn.Sequential(nn.Linear(4, 6), norm, nn.Tanh(), nn.Linear(6, 3)).to(F64).eval()
    if batchnorm:
        with torch.no_grad():
            model[1].running_mean.normal_()
            model[1].running_var.uniform_(0.5, 2.0)
    return model


def _splits() -> dict:
    g = torch.Generator().manual_seed(1)
    return {name: (torch.randn(n, 4, generator=g, dtype=F64), torch.randint(0, 3, (n,), generator=g))
            for name, n in (("train", 37), ("valid", 11))}


def _dense(model: nn.Module, theta: torch.Tensor, data, buffers: dict | None = None):
    layout = ParamLayout.of(model)

    def cost(t: torch.Tensor) -> torch.Tensor:
        params = {**layout.unflatten(t), **(buffers or {})}
        return nn.functional.cross_entropy(functional_call(model, params, (data[0],)), data[1])

    return (torch.autograd.functional.jacobian(cost, theta), torch.autograd.functional.hessian(cost, theta, vectorize=True))


@pytest.mark.parametrize("batchnorm", [False, True])
def test_hessian_vector_products_equal_the_dense_hessian(batchnorm):
    model = _tiny(batchnorm)
    layout = ParamLayout.of(model)
    theta = layout.flatten_model(model) + 0.3 * torch.randn(layout.numel, generator=torch.Generator().manual_seed(2),
                                                            dtype=F64)
    vectors = torch.randn(3, layout.numel, generator=torch.Generator().manual_seed(3), dtype=F64)
    splits = _splits()
    buffers, fixed = None, None
    if batchnorm:  # statistics held fixed at values that are not the model's own
        fixed = {"1.running_mean": torch.linspace(-1, 1, 6, dtype=F64), "1.running_var": torch.linspace(0.5, 3, 6, dtype=F64)}
        buffers = torch.cat([fixed["1.running_mean"], fixed["1.running_var"]])
    # a small budget: several chunks per split, summed in order
    ev = Evaluator(model, OBJECTIVES["cross-entropy"], splits, device="cpu", dtype=F64, memory_budget=20_000)
    products = hessian_vector_products(ev, theta, vectors, ["train", "valid"], buffers=buffers)
    grads = gradient(ev, theta, ["valid", "train"], buffers=buffers)
    for name in ("train", "valid"):
        g, h = _dense(model, theta, splits[name], fixed)
        want = vectors @ h
        assert products[name].dtype == F64 and products[name].shape == (3, layout.numel)
        torch.testing.assert_close(products[name], want, rtol=1e-8, atol=1e-8 * float(want.abs().max()))
        torch.testing.assert_close(grads[name], g, rtol=1e-8, atol=1e-10)
    assert not torch.equal(products["train"], products["valid"])


def test_the_same_bits_every_call_and_progress_per_chunk():
    model = _tiny(False)
    layout = ParamLayout.of(model)
    theta = layout.flatten_model(model)
    v = torch.ones(1, layout.numel, dtype=F64)
    ev = Evaluator(model, OBJECTIVES["cross-entropy"], _splits(), device="cpu", dtype=F64, memory_budget=20_000)
    seen = []
    first = hessian_vector_products(ev, theta, v, ["train"], progress=lambda d, t: seen.append((d, t)))
    again = hessian_vector_products(ev, theta, v, ["train"])
    assert torch.equal(first["train"], again["train"])
    # once a chunk, in examples (streamed data has no chunk count before it is read)
    done = [d for d, _ in seen]
    assert len(seen) > 1 and done == sorted(done) and seen[-1] == (37, 37) and {t for _, t in seen} == {37}


class _Detached(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, x):
        return self.linear(x).detach()


def test_a_cost_that_does_not_depend_on_theta_is_refused():
    model = _Detached().to(F64)
    layout = ParamLayout.of(model)
    ev = Evaluator(model, OBJECTIVES["cross-entropy"], _splits(), device="cpu", dtype=F64)
    with pytest.raises(BadInput, match="does not depend differentiably"):
        hessian_vector_products(ev, layout.flatten_model(model), torch.ones(1, layout.numel), ["train"])


def test_a_token_level_objective_divides_by_the_counted_tokens():
    """causal-lm: J = summed NLL over the counted tokens / their number (labels -100 not counted)."""
    from models.objectives import CAUSAL_LM

    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(7, 4), nn.LayerNorm(4), nn.Linear(4, 7)).to(F64)
    layout = ParamLayout.of(model)
    g = torch.Generator().manual_seed(5)
    ids = torch.randint(0, 7, (9, 5), generator=g)
    labels = torch.where(torch.rand(9, 5, generator=g) < 0.4, torch.full_like(ids, -100), ids)
    theta = layout.flatten_model(model)
    vectors = torch.randn(2, layout.numel, generator=g, dtype=F64)
    ev = Evaluator(model, CAUSAL_LM, {"train": (ids, labels)}, device="cpu", dtype=F64, memory_budget=3_000)

    def cost(t: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, layout.unflatten(t), (ids,))
        return CAUSAL_LM.per_example(out, labels).sum() / (labels[:, 1:] != -100).sum()

    want = vectors @ torch.autograd.functional.hessian(cost, theta, vectorize=True)
    got = hessian_vector_products(ev, theta, vectors, ["train"])["train"]
    torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-8 * float(want.abs().max()))
    torch.testing.assert_close(gradient(ev, theta, ["train"])["train"],
                               torch.autograd.functional.jacobian(cost, theta), rtol=1e-8, atol=1e-10)
