"""Curvature against a dense float64 Hessian (torch.autograd.functional.hessian) on small models, and
the `hessian` kind through the job layer on the session's real run."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from compute.evaluator import Evaluator
from compute.kinds.hessian import HessianQuery, HessianResult, spectrum
from compute.hessian import Point, top_eigenvalue
from compute.derivatives import gradient, hessian_vector_products
from compute.params import ParamLayout
from compute.kinds import resolve
from models.errors import BadInput
from models.objectives import OBJECTIVES


def _tanh_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))


def _layernorm_mlp() -> nn.Module:  # nested jvp is wrong through layer_norm: the products must not use it
    return nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.Tanh(), nn.Linear(6, 3))


class _ConvBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.head = nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Linear(2 * 3 * 3, 3)

    def forward(self, x):
        return self.head(torch.relu(self.bn(self.conv(x))).flatten(1))


def _data(model_name: str, n: int = 100, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 5, 5, generator=g) if model_name == "conv" else torch.randn(n, 4, generator=g)
    return x.double(), torch.randint(0, 3, (n,), generator=g)


MODELS = {"tanh": _tanh_mlp, "layernorm": _layernorm_mlp, "conv": _ConvBN}


@functools.lru_cache(maxsize=None)
def _setup(name: str, dtype: torch.dtype = torch.float64):
    torch.manual_seed(1)
    model = MODELS[name]().double()
    if name == "conv":  # statistics that are not the identity, so the buffers matter
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    model.eval()
    x, y = _data(name)
    layout = ParamLayout.of(model)
    theta = layout.flatten_model(model).double()

    def cost(t: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, {**layout.unflatten(t), **dict(model.named_buffers())}, (x,))
        return nn.functional.cross_entropy(out, y)

    dense = torch.autograd.functional.hessian(cost, theta, vectorize=True)  # reverse over reverse
    import copy

    ev = Evaluator(copy.deepcopy(model).to(dtype), OBJECTIVES["cross-entropy"], {"train": (x, y)}, device="cpu",
                   dtype=dtype)
    return ev, theta, dense, cost


@pytest.mark.parametrize("name", list(MODELS))
def test_products_and_gradient_equal_the_dense_hessian(name):
    ev, theta, dense, cost = _setup(name)
    v = torch.randn(3, len(theta), dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    hv = hessian_vector_products(ev, theta, v, ["train"])["train"]
    assert hv.dtype == torch.float64 and hv.shape == v.shape
    torch.testing.assert_close(hv, v @ dense, rtol=1e-8, atol=1e-10 * float(dense.abs().max()))
    g = gradient(ev, theta, ["train"])["train"]
    torch.testing.assert_close(g, torch.autograd.grad(cost(theta.requires_grad_()), theta)[0], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", list(MODELS))
def test_eigenvalues_to_1e6_in_float64(name):
    ev, theta, dense, _ = _setup(name)
    exact = np.linalg.eigvalsh(dense.numpy())
    query = HessianQuery("final:r", top=3, bottom=2, tolerance=1e-10, iterations=len(theta))
    result, pairs = spectrum(query, ev, Point(theta, None, None), "train")
    top, bottom = result["eigen"]["top"]["values"], result["eigen"]["bottom"]["values"]
    np.testing.assert_allclose(top, exact[::-1][:3], rtol=1e-6)
    np.testing.assert_allclose(bottom, exact[:2], rtol=1e-6, atol=1e-6 * abs(exact).max())
    for value, vector in zip(pairs.top, pairs.top_vectors):  # the residuals are those of the vectors
        assert float(torch.linalg.vector_norm(dense @ vector - value * vector)) < 1e-6 * abs(exact).max()
    assert result["products"] == result["eigen"]["iterations"] <= len(theta)


@pytest.mark.parametrize("name", ["tanh", "conv"])
def test_eigenvalues_to_1e3_in_float32(name):
    ev, theta, dense, _ = _setup(name, torch.float32)
    exact = np.linalg.eigvalsh(dense.numpy())
    query = HessianQuery("final:r", top=2, tolerance=1e-5, iterations=len(theta))
    result, _ = spectrum(query, ev, Point(theta, None, None), "train")
    np.testing.assert_allclose(result["eigen"]["top"]["values"], exact[::-1][:2], rtol=1e-3)
    assert abs(top_eigenvalue(ev, Point(theta, None, None), "train").top[0] - exact[-1]) <= 1e-3 * exact[-1]


def test_trace_and_density_of_a_model():
    ev, theta, dense, _ = _setup("tanh")
    query = HessianQuery("final:r", top=0, trace=True, trace_probes=30, density=True, density_probes=2,
                         density_steps=20)
    result, _ = spectrum(query, ev, Point(theta, None, None), "train")
    t = result["trace"]
    assert abs(t["value"] - float(torch.trace(dense))) < 5 * t["standard_error"] and t["probes"] == 30
    d = result["density"]
    u = np.sign(d["grid"]) * np.log10(1 + np.abs(d["grid"]) / d["broadening"]["linthresh"])
    assert abs(np.trapezoid(d["density"], u) - 1) < 1e-6
    assert result["products"] == 30 + 2 * 20


def test_cancel_stops_between_products():
    ev, theta, _, _ = _setup("tanh")
    seen = []

    def progress(done, total):
        seen.append(done)
        if done >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        spectrum(HessianQuery("final:r", top=1, tolerance=1e-10), ev, Point(theta, None, None), "train", progress)
    assert seen == [1, 2, 3]


def test_query_validation():
    with pytest.raises(BadInput):
        HessianQuery("random:3")
    with pytest.raises(BadInput):
        HessianQuery("final:r", top=0)
    with pytest.raises(BadInput):
        HessianQuery("final:r", to="init:r")
    with pytest.raises(BadInput):
        HessianQuery("final:r", bn="recompute")
    with pytest.raises(BadInput):
        HessianQuery("final:r", top=21)
    q = HessianQuery("final:r", to="init:r", alpha=0.5, trace=True)
    assert HessianQuery.from_json(q.to_json()) == q
    assert "density_steps" not in q.to_json() and q.to_json()["alpha"] == 0.5
    assert HessianQuery("final:r").key() != HessianQuery("final:r", top=2).key()


@pytest.fixture(scope="module")
def relu_curvature(relu_run, store):
    from compute.jobs.backend import run_job
    from compute.jobs.local import LocalJobs

    query = resolve(HessianQuery(f"final:{relu_run.id[:-2]}", top=2, trace=True, trace_probes=4, tolerance=1e-3),
                    store)
    return query, run_job(query, LocalJobs(store))


def test_the_kind_through_the_job_layer(relu_curvature, relu_run, store):
    from compute.jobs.backend import run_job
    from compute.jobs.local import LocalJobs

    query, result = relu_curvature
    assert str(query.at) == f"final:{relu_run.id}"
    r = HessianResult.from_json(result)
    eigen = r.splits["train"]["eigen"]
    assert eigen["top"]["values"][0] >= eigen["top"]["values"][1] > 0
    assert eigen["converged"] and len(eigen["history"]) == eigen["iterations"]
    for value, residual, bound in zip(eigen["top"]["values"], eigen["top"]["residuals"], eigen["top"]["bounds"]):
        assert bound <= 1e-3 * value and residual < 0.2 * value
    assert r.meta["products"] == eigen["iterations"] + 4
    assert run_job(query, LocalJobs(store)) == result  # from the cache: the same JSON
    assert r.to_csv().splitlines()[0] == "split,quantity,index,value,error"
    assert len(r.rows()) == 3


def test_a_point_on_the_line_and_the_estimate(relu_run, store):
    from compute.kinds import estimate
    from compute.kinds.hessian import compute_hessian

    query = resolve(HessianQuery(f"init:{relu_run.id}", to=f"final:{relu_run.id}", alpha=1.0, top=1), store)
    at_final = compute_hessian(query, store).splits["train"]["eigen"]["top"]["values"][0]
    direct = compute_hessian(resolve(HessianQuery(f"final:{relu_run.id}", top=1), store),
                             store).splits["train"]["eigen"]["top"]["values"][0]
    assert abs(at_final - direct) <= 2e-3 * direct
    work, per_product, field, _advice = estimate(query, store)
    assert work == pytest.approx(100 * per_product) and field == "iterations"
