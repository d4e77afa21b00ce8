"""The user's data as training scripts hold it: Datasets, IterableDatasets, DataLoaders of dict
batches, generated on the fly (never held whole), and a Hugging-Face-style model that takes
keyword inputs and returns a dict with `logits`."""

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset

from .data import images, tokens

N_TRAIN, N_VALID = 300, 100  # several shards of DATASET_BATCH-example batches


class Images(Dataset):
    """Map-style CIFAR-shaped examples (x, y), each made from its index alone."""

    def __init__(self, n, seed=0, size=8):
        self.n, self.seed, self.size = n, seed, size

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        y = int(torch.randint(0, 10, (), generator=g))
        x = torch.randn(3, self.size, self.size, generator=g) * 0.5
        x[y % 3] += y / 10.0
        return x, y


class ImageStream(IterableDataset):
    def __init__(self, n, seed=0):
        self.items = Images(n, seed)

    def __iter__(self):
        return (self.items[i] for i in range(len(self.items)))


def dataset_splits():
    return {"train": Images(N_TRAIN), "valid": Images(N_VALID, seed=1)}


def loader_splits():
    """Shuffling DataLoaders, as in a training script: read in order by Landscape."""
    return {"train": DataLoader(Images(N_TRAIN), batch_size=64, shuffle=True),
            "valid": DataLoader(Images(N_VALID, seed=1), batch_size=64)}


def iterable_splits():
    return {"train": ImageStream(N_TRAIN), "valid": DataLoader(ImageStream(N_VALID, seed=1), batch_size=50)}


def tensor_twins():
    """The same examples as (inputs, targets) tensors."""
    def whole(ds):
        xs, ys = zip(*(ds[i] for i in range(len(ds))))
        return torch.stack(xs), torch.tensor(ys)
    return {"train": whole(Images(N_TRAIN)), "valid": whole(Images(N_VALID, seed=1))}


class DictTokens(Dataset):
    """Token sequences as dict examples: input_ids, attention_mask, labels (a counting language)."""

    def __init__(self, n, seed=0):
        self.ids, self.next = tokens(n_train=n, n_valid=1, seed=seed)["train"]

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": torch.ones_like(self.ids[i]), "labels": self.next[i]}


def dict_token_splits():
    return {"train": DataLoader(DictTokens(40), batch_size=8), "valid": DictTokens(12, seed=1)}


def dict_token_tensors():
    return tokens(n_train=40, n_valid=1, seed=0)["train"], tokens(n_train=12, n_valid=1, seed=1)["train"]


class HFStyleLM(nn.Module):
    """forward(input_ids=, attention_mask=) -> {"logits": (B, T, V)}, as a Hugging Face model."""

    def __init__(self):
        super().__init__()
        from .transformer import tiny_lm
        self.inner = tiny_lm()

    def forward(self, input_ids, attention_mask=None):
        logits = self.inner(input_ids)
        if attention_mask is not None:
            logits = logits * attention_mask[..., None].to(logits.dtype)
        return {"logits": logits, "hidden": None}


def hf_style_lm():
    return HFStyleLM()


def empty_split():
    return {"train": Images(0)}


class Unlabelled(Images):
    def __getitem__(self, i):
        x, y = super().__getitem__(i)
        return {"pixels": x, "target": y}


def bad_structure():
    """Dict examples whose targets are not under `labels` (import --targets target reads them)."""
    return {"train": Unlabelled(N_TRAIN)}


_LENGTH = {"n": N_TRAIN}


def changing_length():
    """A Dataset whose length a test changes between import and evaluation."""
    return {"train": Images(_LENGTH["n"]), "valid": Images(N_VALID, seed=1)}


def images_twin():
    return images()


class KeywordMLP(nn.Sequential):
    """resnet.mlp's layers (the same checkpoints), called as model(pixels=...)."""

    def forward(self, pixels):
        return super().forward(pixels)


def keyword_mlp():
    from .resnet import mlp
    return KeywordMLP(*mlp())


def small_batches():
    """DataLoaders of 16-example batches: many shards for a small line."""
    return {"train": DataLoader(Images(N_TRAIN), batch_size=16), "valid": DataLoader(Images(N_VALID, seed=1),
                                                                                     batch_size=16)}
