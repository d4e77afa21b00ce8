"""Curves of low cost between two solutions: mode connectivity (Garipov, Izmailov, Podoprikhin,
Vetrov & Wilson, "Loss surfaces, mode connectivity, and fast ensembling of DNNs", NeurIPS 2018).

Between θ_A and θ_B, with one bend θ_b:
  bezier     θ(t) = (1 − t)² θ_A + 2t(1 − t) θ_b + t² θ_B  (a quadratic Bézier curve)
  polychain  θ(t) = θ_A + 2t (θ_b − θ_A) for t ≤ ½, θ_b + (2t − 1)(θ_B − θ_b) after (a polygonal chain)
Both are θ(t) = c(t) · (θ_A, θ_b, θ_B) with three coefficients per t (`coefficients`): the
evaluator's basis form (compute/evaluator.py), so a curve is evaluated exactly as a line is, every
point built fresh from the three vectors, and at t = 0 and 1 the coefficients are exactly (1, 0, 0)
and (0, 0, 1): the endpoints are the two solutions themselves, bit for bit.

The bend is trained as the original does: it starts at the midpoint (θ_A + θ_B) / 2 (where the
curve is the straight line), and SGD with momentum minimises E_{t~U[0,1]} J(θ(t)), one t drawn per
minibatch, the endpoints fixed; the learning rate is constant for the first half of the epochs,
falls linearly to 1 % of itself by 90 % and stays there (the original's `learning_rate_schedule`).
The model is a pure function of θ through torch.func.functional_call: the caller's module keeps
its parameters (and should be its own, not the evaluator's: the evaluator's `forward` runs its
shared module in evaluation mode for every thread). It runs in training mode (dropout on, BatchNorm on the minibatch's statistics, as
the original trains curves) on copies of the module's buffers. Deterministic for a seed: the
order of the minibatches, every t and every dropout mask come from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from models.batches import model_outputs
from models.errors import BadInput
from models.objectives import Objective, objective_cost

from .params import ParamLayout

CURVE_KINDS = ("bezier", "polychain")
Progress = Callable[[int, int], None]  # (done, total); may raise to cancel
BatchOrder = Callable[[int, int, torch.Generator], list]  # (examples, batch size, generator) -> index tensors


def coefficients(kind: str, t: Sequence[float] | np.ndarray) -> np.ndarray:
    """(P, 3) float64 c(t) with θ(t) = c(t) · (θ_A, θ_b, θ_B), for t in [0, 1]."""
    t = np.asarray(t, dtype=np.float64)
    if kind == "bezier":
        return np.stack([(1 - t) ** 2, 2 * t * (1 - t), t ** 2], axis=-1)
    if kind == "polychain":
        first = t <= 0.5  # the bend belongs to both halves: 2t = 1 there
        return np.stack([np.where(first, 1 - 2 * t, 0.0),
                         np.where(first, 2 * t, 2 - 2 * t),
                         np.where(first, 0.0, 2 * t - 1)], axis=-1)
    raise ValueError(f"curve kind must be one of {CURVE_KINDS}, got {kind!r}")


def curve_basis(theta_a: torch.Tensor, bend: torch.Tensor, theta_b: torch.Tensor) -> torch.Tensor:
    """(3, D) rows θ_A, θ_b, θ_B: the basis `coefficients` combine."""
    return torch.stack([theta_a, bend, theta_b])


def curve_point(kind: str, basis: torch.Tensor, t: float) -> torch.Tensor:
    """θ(t) of the curve through the rows of `basis` (differentiable in them)."""
    c = torch.as_tensor(coefficients(kind, [t])[0], dtype=basis.dtype, device=basis.device)
    return c @ basis


def midpoint(theta_a: torch.Tensor, theta_b: torch.Tensor) -> torch.Tensor:
    """The initial bend: with it both curves are the straight line from θ_A to θ_B."""
    return 0.5 * (theta_a + theta_b)


def learning_rate(base: float, epoch: float, epochs: int) -> float:
    """The original's schedule at `epoch` (0-based, fractional) of `epochs`: constant to 50 %, then
    linear down to 1 % at 90 %, then constant."""
    progress = epoch / epochs
    if progress <= 0.5:
        return base
    if progress <= 0.9:
        return base * (1.0 - 0.99 * (progress - 0.5) / 0.4)
    return base * 0.01


@dataclass(frozen=True)
class CurveTraining:
    """How the bend is trained: plain SGD with momentum on minibatches of the training split."""

    epochs: int = 10
    batch_size: int = 50
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0  # on the bend, as the original decays the curve's parameters
    seed: int = 0


def _shuffled(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    return list(torch.randperm(n, generator=generator).split(batch_size))


def train_bend(model: nn.Module, objective: Objective, x: torch.Tensor, y: torch.Tensor,
               theta_a: torch.Tensor, theta_b: torch.Tensor, kind: str = "bezier",
               training: CurveTraining = CurveTraining(), *, batch_order: BatchOrder | None = None,
               progress: Progress | None = None) -> torch.Tensor:
    """The bend θ_b (D,) float32 that minimises E_t J(θ(t)) on minibatches of (x, y), from the
    midpoint; `model` gives the architecture (its parameters are not used nor changed);
    `progress(step, total steps)` after every step, may raise to stop."""
    coefficients(kind, [0.5])  # a bad kind fails before any work
    layout = ParamLayout.of(model)
    device = x.device
    theta_a = theta_a.detach().to(device, torch.float32)
    theta_b = theta_b.detach().to(device, torch.float32)
    if theta_a.shape != (layout.numel,) or theta_b.shape != (layout.numel,):
        raise ValueError(f"the endpoints must be flat vectors of the model's {layout.numel} parameters")
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    bend = midpoint(theta_a, theta_b).requires_grad_(True)
    optimizer = torch.optim.SGD([bend], lr=training.lr, momentum=training.momentum,
                                weight_decay=training.weight_decay)
    order = batch_order or _shuffled
    generator = torch.Generator().manual_seed(training.seed)
    steps_per_epoch = len(order(len(x), training.batch_size, torch.Generator()))
    total = training.epochs * steps_per_epoch
    was_training = model.training
    step = 0
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(training.seed)  # dropout masks; the caller's random state is restored after
        model.train()
        try:
            for epoch in range(training.epochs):
                for index in order(len(x), training.batch_size, generator):
                    for group in optimizer.param_groups:
                        group["lr"] = learning_rate(training.lr, epoch + (step % steps_per_epoch) / steps_per_epoch,
                                                    training.epochs)
                    t = float(torch.rand((), generator=generator, dtype=torch.float64))
                    theta = curve_point(kind, curve_basis(theta_a, bend, theta_b), t)
                    params = {**buffers, **layout.unflatten(theta)}
                    index = index.to(device)

                    def forward(inputs: torch.Tensor) -> torch.Tensor:
                        return model_outputs(functional_call(model, params, (inputs,)))

                    loss = objective_cost(objective, forward, x[index], y[index])[0].mean()
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    step += 1
                    if not torch.isfinite(loss):
                        raise BadInput(f"the curve's training diverged at step {step} (cost {loss.item()}); "
                                       "lower the learning rate", field="lr")
                    if progress is not None:
                        progress(step, total)
        finally:
            model.train(was_training)
    return bend.detach()
