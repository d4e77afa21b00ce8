"""Model specs and presets: what to build, on which data, trained how."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from torch import nn

from .dropout import uses_dropout
from .objectives import OBJECTIVES, Objective

_PRESET_DROPOUT: dict[tuple[str, str], bool] = {}  # (model id, preset) -> ModelSpec.uses_dropout


@dataclass(frozen=True)
class TrainConfig:
    lr: float = 0.1
    lr_decay: float = 1.0  # learning rate multiplied by this after every epoch
    lr_min: float = 0.0
    momentum: float = 0.5  # initial momentum
    final_momentum: float | None = None  # linearly reached at `momentum_saturate` epochs
    momentum_saturate: int = 1
    batch_size: int = 100
    max_epochs: int = 10
    patience: int = 5  # early stopping: epochs without a better validation cost before stopping
    max_col_norm: float | None = None  # pylearn2's max_col_norm on every weight matrix
    checkpoints_first_epoch: int = 8  # extra checkpoints in epoch 1, geometrically spaced
    # Hooks the sources of section 4's networks need (all off by default):
    max_norms: dict = field(default_factory=dict)  # parameter-name prefix -> max norm, overrides max_col_norm
    lr_scales: dict = field(default_factory=dict)  # parameter-name prefix -> learning-rate multiplier
    lr_decay_start: int = 0  # Zaremba et al.: the decay begins after this many epochs
    lr_linear_saturate: int | None = None  # pylearn2 LinearDecayOverEpoch: lr falls linearly to
    #                                        lr * lr_decay at this epoch (instead of lr_decay per epoch)
    clip_grad_norm: float | None = None  # rescale the whole gradient to at most this norm

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Preset:
    name: str
    arch: dict  # keyword arguments of the model's builder
    data: dict  # dataset options (see models.datasets)
    train: TrainConfig
    source: str  # where the architecture and hyper-parameters come from


@dataclass(frozen=True)
class ModelSpec:
    id: str
    description: str
    dataset: str
    objective_name: str
    builder: Callable[..., nn.Module]
    presets: dict[str, Preset] = field(default_factory=dict)
    # Training hooks, both optional (the generic loop in compute/training.py calls them):
    # batch_order(n, batch_size, generator) -> list of index tensors for one epoch (default: shuffled
    # minibatches), e.g. the parallel streams of truncated backpropagation through time;
    # prepare_batch(x, y, generator) -> (x, y) applied to each minibatch, e.g. fresh random masks.
    batch_order: Callable[[int, int, torch.Generator], list] | None = None
    prepare_batch: Callable[[torch.Tensor, torch.Tensor, torch.Generator], tuple] | None = None

    @property
    def objective(self) -> Objective:
        return OBJECTIVES[self.objective_name]

    def uses_dropout(self, preset: str) -> bool:
        """Whether `preset`'s model applies dropout in training (models/dropout.py)."""
        key = (self.id, preset)
        if key not in _PRESET_DROPOUT:  # building a paper-sized model costs far more than the answer
            _PRESET_DROPOUT[key] = uses_dropout(self.build(preset))
        return _PRESET_DROPOUT[key]

    def build(self, preset: str, seed: int | None = None) -> nn.Module:
        """A fresh model of `preset`; with a seed, its parameters drawn by its own initializer."""
        model = self.builder(**self.presets[preset].arch)
        if seed is not None:
            generator = torch.Generator().manual_seed(seed)
            model.reset_parameters(generator)
        return model

