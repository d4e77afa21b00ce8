"""Buffers beside θ (BatchNorm running statistics, and any other float buffer), and the two
policies for the statistics of a point between checkpoints.

θ holds the parameters only. A run records the float buffers of every checkpoint beside its θ;
a point θ = Σ_k c_k basis_k gets its buffers from a *buffer basis* in the same coefficients:
an endpoint's basis vector carries that checkpoint's buffers (a random endpoint: those of the
freshly built model), a direction carries none (zeros), so a plane through θ_f keeps θ_f's
statistics and a line mixes its endpoints' with the same α.

For BatchNorm that mixing is a choice, and not an innocent one: interpolated statistics are
known to draw barriers that are not in the network (Jordan et al., "REPAIR", 2023). So:
  interpolate  the statistics mixed like the parameters, as above (cheap);
  recompute    at every point, the statistics re-estimated by a train-mode pass over the whole
               training split with momentum off (the cumulative mean over equal batches of
               about RECOMPUTE_BATCH examples: the split cut into ceil(N / RECOMPUTE_BATCH) nearly equal parts,
               which is SWA's update_bn only when N is a multiple of it; streamed data: over its own batches,
               the data's batching, models/batches.py), then J evaluated in eval mode.
Models without BatchNorm ignore the policy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch import nn
from torch.func import functional_call

RECOMPUTE_BATCH = 500  # part of the definition of `recompute`: a change changes results


@dataclass(frozen=True)
class BufferLayout:
    """The float buffers of a model as one flat vector, in a fixed recorded order."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, model: nn.Module) -> "BufferLayout":
        """The persistent float buffers (those a state_dict holds); others are the model's own."""
        saved = model.state_dict(keep_vars=True)
        named = [(n, b) for n, b in model.named_buffers() if b.is_floating_point() and n in saved]
        return cls(tuple(n for n, _ in named), tuple(tuple(b.shape) for _, b in named))

    @classmethod
    def from_json(cls, obj: list | None) -> "BufferLayout":
        obj = obj or []
        return cls(tuple(o["name"] for o in obj), tuple(tuple(o["shape"]) for o in obj))

    def to_json(self) -> list:
        return [{"name": n, "shape": list(s)} for n, s in zip(self.names, self.shapes)]

    @property
    def numel(self) -> int:
        return sum(math.prod(s) for s in self.shapes)

    def flatten(self, buffers: dict[str, torch.Tensor]) -> torch.Tensor:
        if not self.names:
            return torch.zeros(0)
        return torch.cat([buffers[n].detach().float().reshape(-1) for n in self.names])

    def flatten_model(self, model: nn.Module) -> torch.Tensor:
        return self.flatten(dict(model.named_buffers()))

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views into `flat`, which may carry leading batch dimensions."""
        lead = tuple(flat.shape[:-1])
        pieces = torch.split(flat, [math.prod(s) for s in self.shapes], dim=-1)
        return {n: p.reshape(lead + s) for n, p, s in zip(self.names, pieces, self.shapes)}


def batchnorm_modules(model: nn.Module) -> list[tuple[str, nn.modules.batchnorm._BatchNorm]]:
    return [(n, m) for n, m in model.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def has_batchnorm(model: nn.Module) -> bool:
    return bool(batchnorm_modules(model))


def recompute_statistics(model: nn.Module, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
                         x_train: torch.Tensor | Callable[[], Iterable]) -> dict[str, torch.Tensor]:
    """`buffers` with every BatchNorm's running statistics re-estimated at `params` from x_train
    (the training inputs, or for streamed data a function giving its batches, models/batches.py).

    Fresh statistics (mean 0, variance 1, count 0) are updated by a train-mode pass over equal
    batches with momentum off, i.e. their cumulative mean; other buffers are kept as given. The
    caller's model is left as it was (eval mode, its own buffers and momenta).
    """
    fresh = dict(buffers)
    modules = batchnorm_modules(model)
    device = x_train.device if isinstance(x_train, torch.Tensor) else next(iter(params.values())).device
    dtype = next(iter(params.values())).dtype  # the evaluation's (a float64 line of a float32 model)
    for name, m in modules:
        prefix = f"{name}." if name else ""
        fresh[prefix + "running_mean"] = torch.zeros_like(m.running_mean, device=device, dtype=dtype)
        fresh[prefix + "running_var"] = torch.ones_like(m.running_var, device=device, dtype=dtype)
        fresh[prefix + "num_batches_tracked"] = torch.zeros((), dtype=torch.long, device=device)
    momenta = [m.momentum for _, m in modules]
    if isinstance(x_train, torch.Tensor):
        count = max(1, -(-len(x_train) // RECOMPUTE_BATCH))
        batches = (((xb,), {}) for xb in torch.tensor_split(x_train, count))
    else:
        batches = ((b.args, b.kwargs) for b in x_train())
    try:
        for _, m in modules:
            m.momentum = None  # cumulative moving average: the plain mean over the batches
        model.train()
        with torch.no_grad():
            for args, kwargs in batches:
                functional_call(model, {**params, **fresh}, args, kwargs)  # updates `fresh` in place
    finally:
        model.eval()
        for (_, m), momentum in zip(modules, momenta):
            m.momentum = momentum
    return {n: fresh[n] for n in buffers}


def recomputed_buffers(ev, basis: torch.Tensor, coeffs: torch.Tensor, progress=None) -> torch.Tensor:
    """(P, buffers) with the BatchNorm statistics of every point of an evaluator's (compute/evaluator.py)
    evaluation re-estimated on its training split."""
    x_train = ev.tensors(["train"])[0] if ev.in_memory("train") else (
        lambda: (p.batch for p in ev.pieces(["train"])))  # streamed: its own batches
    c = coeffs.to(ev.device, ev.dtype)
    rows = []
    with torch.no_grad():
        for p in range(len(c)):
            point = c[p] @ basis
            numel = ev.layout.numel
            params = ev.layout.unflatten(point[:numel])
            fresh = recompute_statistics(ev.model, params, ev.buffer_layout.unflatten(point[numel:]), x_train)
            rows.append(ev.buffer_layout.flatten(fresh).to(ev.device, ev.dtype))
            if progress is not None:  # may raise to cancel
                progress(0, len(c))
    return torch.stack(rows)
