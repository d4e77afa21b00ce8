"""Fixtures for the zoo's tests: a few real examples of each model's data (the generators and
packers the datasets use, at a size that keeps every test fast) and tiny training presets."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from models import MODELS
from models.ptb import demo_text, ptb_vocabulary, ptb_words, sequences
from models.datasets import _to_tensors, demo_digits, demo_patterns, global_contrast_normalize
from models.mpdbm import draw_masks, pack_inputs
from models.spec import Preset

def _tiny_data(model_id: str, n: int = 24, seed: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    """n examples shaped as model_id's dataset gives them (inputs, targets)."""
    dataset = MODELS[model_id].dataset
    options = MODELS[model_id].presets["small"].data
    if dataset == "scalar":
        return torch.ones(1, 1), torch.ones(1, 1)
    if dataset in ("mnist", "mnist-mp"):
        x, y = _to_tensors(*demo_digits(n, seed), int(options.get("downsample", 1)))
        if dataset == "mnist":
            return x, y
        drop, drop_label = draw_masks(n, torch.Generator().manual_seed(seed))
        return pack_inputs(x, y, drop, drop_label), y
    if dataset == "cifar10":
        images, labels = demo_patterns(n, seed)
        x = torch.from_numpy(global_contrast_normalize(images).astype(np.float32).reshape(-1, 3, 32, 32))
        return x, torch.from_numpy(labels.astype(np.int64))
    if dataset == "ptb":
        words = ptb_words(demo_text(n * options["seq_len"] + 50, seed, options["demo_vocab"]))
        vocab = ptb_vocabulary(ptb_words(demo_text(20_000, 21, options["demo_vocab"])))
        ids = np.array([vocab.get(w, vocab["<unk>"]) for w in words])
        x, y = sequences(ids, options["seq_len"])
        return x[:n], y[:n]
    raise AssertionError(dataset)


# Data options and schedules of a training run of a few seconds per model: a handful of real
# (demo) examples, the small preset's architecture, plain SGD steps.
_TINY_DATA = {
    "mnist": {"demo_train": 300, "demo_valid": 100, "demo_test": 20},
    "mnist-mp": {"demo_train": 200, "demo_valid": 60, "demo_test": 20, "mask_seed": 0, "drop_prob": 0.5},
    "cifar10": {"demo_train": 200, "demo_valid": 60, "demo_test": 20, "preprocess": "gcn"},
    "ptb": {"demo_train": 4000, "demo_valid": 800, "demo_test": 400},
}


@pytest.fixture
def tiny_preset(monkeypatch):
    """Install a `tiny` preset on a model (for this test only) and return its name."""

    def install(model_id: str, epochs: int = 2, **train) -> str:
        spec = MODELS[model_id]
        small = spec.presets["small"]
        data = dict(small.data, **_TINY_DATA.get(spec.dataset, {}))
        hp = dataclasses.replace(small.train, max_epochs=epochs, patience=epochs, checkpoints_first_epoch=1,
                                 **train)
        tiny = Preset("tiny", small.arch, data, hp, "tests: a few seconds of the small preset")
        monkeypatch.setitem(MODELS, model_id, dataclasses.replace(spec, presets={**spec.presets, "tiny": tiny}))
        return "tiny"

    return install


@pytest.fixture(scope="session")
def tiny_data():
    """tiny_data(model_id, n=24, seed=7) -> (inputs, targets) shaped as the model's dataset gives them."""
    return _tiny_data


def _adversarial_reference(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float = 0.25,
                           weight: float = 0.5) -> tuple[float, float]:
    """Goodfellow et al. 2014's objective written out directly for one model: (J_adv, J_clean)."""
    model.eval()
    x = x.clone().requires_grad_(True)
    clean = torch.nn.functional.cross_entropy(model(x), y, reduction="sum")
    (grad,) = torch.autograd.grad(clean, x)
    with torch.no_grad():
        clean_mean = torch.nn.functional.cross_entropy(model(x), y).double().item()
        adv_mean = torch.nn.functional.cross_entropy(model(x + epsilon * grad.sign()), y).double().item()
    return (1 - weight) * clean_mean + weight * adv_mean, clean_mean


@pytest.fixture(scope="session")
def adversarial_reference():
    """adversarial_reference(model, x, y) -> (J_adv, J_clean), computed directly with autograd."""
    return _adversarial_reference
