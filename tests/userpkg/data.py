"""The user's data: made here in the shapes of the real thing (CIFAR-10 images, token streams)."""

import numpy as np
import torch

from .transformer import CONTEXT, VOCAB


def images(n_train=96, n_valid=32, size=8, seed=0):
    """CIFAR-shaped (N, 3, size, size) float images whose class is a colour-pattern pair."""
    g = torch.Generator().manual_seed(seed)

    def split(n):
        y = torch.randint(0, 10, (n,), generator=g)
        x = torch.randn(n, 3, size, size, generator=g) * 0.5
        x[:, y % 3] += (y[:, None, None].float() / 10.0)
        return x, y

    return {"train": split(n_train), "valid": split(n_valid)}


def cifar_like():
    return images()


def tokens(n_train=48, n_valid=16, seed=0):
    """(N, CONTEXT) token ids of a noisy counting language, and the next tokens as targets."""
    rng = np.random.default_rng(seed)

    def split(n):
        start = rng.integers(0, VOCAB, size=(n, 1))
        seq = (start + np.arange(CONTEXT + 1)[None, :]) % VOCAB
        noise = rng.random(seq.shape) < 0.1
        seq[noise] = rng.integers(0, VOCAB, size=int(noise.sum()))
        return torch.as_tensor(seq[:, :-1]), torch.as_tensor(seq[:, 1:])

    return {"train": split(n_train), "valid": split(n_valid)}


def wrong_shape():
    x, y = images()["train"]
    return {"train": (x, y[:-3])}


def sum_loss(output, target):
    """A user's own per-example loss: cross-entropy summed over the classes' log-probabilities."""
    return torch.nn.functional.cross_entropy(output, target, reduction="none")
