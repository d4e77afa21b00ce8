"""Training with SGD + momentum as in the paper, recorded by a `Recorder`; the job kind that trains a
run through the job layer is compute/kinds/train.py (`TRAIN_KIND`).

Each run is recorded by a `Recorder` (compute/recorder.py), the same one a user's own training
loop uses. `landscape train` calls `train` here; `landscape serve --demo` submits a `TrainQuery`
per missing demo run to the job layer (app/demo.py), so the embedded executor or any Celery
worker trains it with this same loop. A training job is one chunk: its progress callback hears
of every optimizer step (the board shows it as JobStatus.chunk_progress, app/demo.py
`training_progress` reads it as an epoch) and stops the run when the job is cancelled. The work
budget (compute/budget.py) does not estimate training (it is not a grid of points), so a TrainQuery
is never refused nor split.
"""

from __future__ import annotations

import sys
from typing import Callable

import torch
from torch import nn
from tqdm import tqdm

from models import get_model
from models.datasets import DatasetRef, load_dataset
from models.objectives import objective_cost

from models.errors import BadInput
from .validate import parse_folder, parse_seed
from .evaluator import Evaluator, Progress, default_device
from .params import ParamLayout
from .recorder import Recorder
from .store import Run, Store


def check_training(model_id: str, preset: str, seed) -> int:
    """The seed, checked, once the model and its preset are known (BadInput otherwise)."""
    spec = get_model(model_id)
    if preset not in spec.presets:
        raise BadInput(f"model {model_id} has no preset {preset!r}; presets: {', '.join(spec.presets)}", field="preset")
    return parse_seed(seed, "seed")


def first_epoch_checkpoints(steps_per_epoch: int, count: int) -> set[int]:
    """Geometrically spaced steps in the first epoch: most learning happens early (Fig. 1 right)."""
    if count <= 0 or steps_per_epoch <= 1:
        return set()
    return {max(1, round(steps_per_epoch ** (i / (count + 1)))) for i in range(1, count + 1)} - {steps_per_epoch}


def _apply_max_col_norm(model: nn.Module, max_norm: float | None, per_prefix: dict | None = None) -> None:
    # pylearn2's max_col_norm / max_kernel_norm: the weight vector into each unit (a row of a
    # Linear weight, one output channel's kernel of a Conv weight) is rescaled to norm <= the
    # limit; `per_prefix` gives some parameters (by name prefix) their own limit.
    with torch.no_grad():
        for name, p in model.named_parameters():
            limit = next((v for k, v in (per_prefix or {}).items() if name.startswith(k)), max_norm)
            if p.dim() >= 2 and limit:
                norms = p.flatten(1).norm(dim=1).clamp(min=limit).view(-1, *[1] * (p.dim() - 1))
                p.mul_(limit / norms)


def _param_groups(model: nn.Module, lr: float, lr_scales: dict) -> list[dict]:
    # pylearn2's W_lr_scale / b_lr_scale: parameters named by a prefix learn at lr * scale
    groups: dict[float, list] = {}
    for name, p in model.named_parameters():
        scale = next((v for k, v in lr_scales.items() if name.startswith(k)), 1.0)
        groups.setdefault(scale, []).append(p)
    return [{"params": ps, "lr": lr * s, "base_lr": lr * s} for s, ps in groups.items()]


def _shuffled_batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    return list(order.split(batch_size))


def train(model_id: str, preset: str = "small", seed: int = 0, data_dir: str | None = None,
          store: Store | None = None, progress: bool = True,
          log: Callable[[str], None] | None = None, step_progress: Progress | None = None) -> Run:
    """Train MODEL with its preset, record it and return the run (theta_f by early stopping).
    `step_progress(step, max_epochs x steps per epoch)` is called after every optimizer step; it
    may raise to stop (nothing is recorded then)."""
    seed = check_training(model_id, preset, seed)  # the boundary: model, preset and seed
    spec = get_model(model_id)
    cfg = spec.presets[preset]
    hp = cfg.train
    store = store or Store()
    ref = DatasetRef(spec.dataset, parse_folder(data_dir) if data_dir else None, cfg.data)
    data = load_dataset(ref)
    device = default_device()
    torch.manual_seed(seed)
    model = spec.build(preset, seed).to(device)
    evaluator = Evaluator(spec.build(preset), spec.objective,
                          {k: data.splits[k] for k in ("train", "valid")}, device=device)
    x, y = (t.to(device) for t in data.splits["train"])
    n = len(x)
    batch_order = spec.batch_order or _shuffled_batches  # a model may order its minibatches (TBPTT streams)
    steps_per_epoch = len(batch_order(n, hp.batch_size, torch.Generator()))  # fixed per epoch by contract
    total_steps = hp.max_epochs * steps_per_epoch  # early stopping may end sooner
    extra = first_epoch_checkpoints(steps_per_epoch, hp.checkpoints_first_epoch)
    optimizer = torch.optim.SGD(_param_groups(model, hp.lr, hp.lr_scales), lr=hp.lr, momentum=hp.momentum)
    generator = torch.Generator().manual_seed(seed)

    def measure() -> tuple[dict, dict]:
        ev = evaluator.evaluate_points(ParamLayout.of(model).flatten_model(model)[None], ["train", "valid"])
        costs = {k: float(m.cost[0]) for k, m in ev.splits.items()}
        errors = {k: float(m.error[0]) for k, m in ev.splits.items() if m.error is not None}
        return costs, errors

    def record(step: int, epoch: float) -> dict:
        costs, errors = measure()
        rec.record(step, epoch, model=model, costs=costs, errors=errors)
        return costs

    bar = tqdm(total=hp.max_epochs, desc=f"train {model_id}/{preset} seed {seed}", unit="epoch",
               disable=None if progress else True, file=sys.stderr, leave=False)
    with Recorder(store, model, model_id=model_id, preset=preset, seed=seed, dataset=ref,
                  data_digest=data.digest(), hyperparameters=hp.to_json(), arch=cfg.arch) as rec:
        step, best, since_best = 0, record(0, 0.0)["valid"], 0
        for epoch in range(1, hp.max_epochs + 1):
            model.train()
            for b, idx in enumerate(batch_order(n, hp.batch_size, generator)):
                idx = idx.to(device)
                xb, yb = x[idx], y[idx]
                if spec.prepare_batch is not None:  # e.g. the MP-DBM's fresh prediction subsets
                    xb, yb = spec.prepare_batch(xb, yb, generator)
                optimizer.zero_grad(set_to_none=True)
                loss = objective_cost(spec.objective, model, xb, yb)[0].mean()
                loss.backward()
                if hp.clip_grad_norm:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), hp.clip_grad_norm)
                optimizer.step()
                if hp.max_col_norm or hp.max_norms:
                    _apply_max_col_norm(model, hp.max_col_norm, hp.max_norms)
                step += 1
                if step_progress is not None:
                    step_progress(step, total_steps)
                if epoch == 1 and (b + 1) in extra:
                    record(step, (b + 1) / steps_per_epoch)
            if not torch.isfinite(loss):
                raise BadInput(f"training diverged at epoch {epoch} (cost {loss.item()}); "
                               "lower the learning rate", field="preset")
            valid = record(step, float(epoch))["valid"]
            bar.update(1)
            bar.set_postfix(valid=f"{valid:.4f}")
            if log:
                log(f"epoch {epoch}: valid cost {valid:.4f}")
            _schedule(optimizer, hp, epoch)
            if valid < best:
                best, since_best = valid, 0
            else:
                since_best += 1
                if since_best >= hp.patience:
                    break
        run = rec.finish()
    bar.close()
    return run


def _schedule(optimizer: torch.optim.Optimizer, hp, epoch: int) -> None:
    for group in optimizer.param_groups:
        if hp.lr_linear_saturate:  # pylearn2 LinearDecayOverEpoch(start=1, saturate, decay_factor)
            frac = min(1.0, epoch / hp.lr_linear_saturate)
            group["lr"] = max(hp.lr_min, group["base_lr"] * (1 - frac * (1 - hp.lr_decay)))
        elif epoch >= hp.lr_decay_start:
            group["lr"] = max(hp.lr_min, group["lr"] * hp.lr_decay)
        if hp.final_momentum is not None:
            frac = min(1.0, epoch / max(1, hp.momentum_saturate))
            group["momentum"] = hp.momentum + frac * (hp.final_momentum - hp.momentum)
