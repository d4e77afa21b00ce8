"""STAND-IN for the project's one Hessian-vector product (being written in compute/derivatives.py or
compute/hvp.py by another engineer): double backward of the whole-split cost through the
evaluator's own model call. To be deleted when that primitive lands; compute/hessian.py imports
the products from here only.

H v by double backward: g = grad J (graph kept), then H v = grad (g . v) for each v. Never nested
forward mode through the network (it is wrong through layer_norm in torch 2.13). J is the mean
per-example cost over a split in eval mode; buffers (BatchNorm statistics) are constants.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from models.errors import BadInput

HVP_CHUNK = 128  # examples per double-backward pass on a CPU (the graph of a chunk stays small)


def _chunks(ev, split: str):
    x, y = ev.data[split]
    per = HVP_CHUNK if ev.device.type == "cpu" else max(HVP_CHUNK, 1024)
    for lo in range(0, len(x), per):
        yield x[lo:lo + per], y[lo:lo + per]


def _params(ev, theta: torch.Tensor, buffers: torch.Tensor | None) -> tuple[torch.Tensor, dict]:
    leaf = theta.detach().to(ev.device, ev.dtype).requires_grad_(True)
    params = dict(ev.layout.unflatten(leaf))
    if buffers is not None and ev.buffer_layout.names:
        params.update(ev.buffer_layout.unflatten(buffers.detach().to(ev.device, ev.dtype)))
    return leaf, params


def _chunk_cost(ev, params: dict, xc: torch.Tensor, yc: torch.Tensor) -> torch.Tensor:
    return ev.objective.per_example(ev._call(params, xc), yc).sum()


def _refuse_perturbing(ev) -> None:
    if ev.objective.perturb is not None:
        raise BadInput("the Hessian of an objective that perturbs its inputs (adversarial training) is not "
                       "computed", field="endpoint")


def hessian_vector_products(ev, theta: torch.Tensor, vectors: torch.Tensor, splits: Sequence[str], *,
                            buffers: torch.Tensor | None = None,
                            progress: Callable[[int, int], None] | None = None) -> dict[str, torch.Tensor]:
    """{split: (k, D) float64}: H v for each row v of `vectors`, H the Hessian of J over the split."""
    _refuse_perturbing(ev)
    vectors = torch.as_tensor(vectors).to(ev.device, ev.dtype)
    if vectors.dim() == 1:
        vectors = vectors[None]
    out = {}
    with ev.lock, torch.enable_grad():
        for s in splits:
            total = torch.zeros(len(vectors), ev.layout.numel, dtype=torch.float64)
            n = len(ev.data[s][0])
            chunks = list(_chunks(ev, s))
            for i, (xc, yc) in enumerate(chunks):
                leaf, params = _params(ev, theta, buffers)
                (g,) = torch.autograd.grad(_chunk_cost(ev, params, xc, yc), leaf, create_graph=True)
                for j, v in enumerate(vectors):
                    (hv,) = torch.autograd.grad(g, leaf, grad_outputs=v, retain_graph=j + 1 < len(vectors))
                    total[j] += hv.double().cpu()
                if progress is not None:
                    progress(i + 1, len(chunks))
            out[s] = total / n
    return out


def gradient(ev, theta: torch.Tensor, splits: Sequence[str], *,
             buffers: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """{split: (D,) float64}: the gradient of J over the split."""
    _refuse_perturbing(ev)
    out = {}
    with ev.lock, torch.enable_grad():
        for s in splits:
            total = torch.zeros(ev.layout.numel, dtype=torch.float64)
            for xc, yc in _chunks(ev, s):
                leaf, params = _params(ev, theta, buffers)
                (g,) = torch.autograd.grad(_chunk_cost(ev, params, xc, yc), leaf)
                total += g.double().cpu()
            out[s] = total / len(ev.data[s][0])
    return out
