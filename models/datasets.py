"""Datasets: readers for the real files, and offline demo data generated on the spot.

MNIST (LeCun et al. 1998) is read from its IDX files (raw or .gz) in a data folder. Splits follow
the paper's sources (pylearn2's mnist_pi.yaml and mnist_valid.yaml): train = the first 50,000
training images, valid = the last 10,000, test = the 10,000 t10k images.

Without a data folder, `mnist` is an MNIST-shaped demo set: 28x28 grey images of the digits
0-9 drawn from a 5x7 bitmap font under random scale, rotation, shear, shift, blur and noise,
generated deterministically from a seed (no download, a few seconds). It has MNIST's shapes,
value range and ten classes, so every model and figure works offline; it is easier than MNIST.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from models.errors import BadInput

from .mpdbm import draw_masks, pack_inputs  # the MP-DBM's inputs are packed as the model reads them
from .ptb import load_ptb

Split = tuple[torch.Tensor, torch.Tensor]  # (inputs, targets)


@dataclass(frozen=True)
class DatasetRef:
    """What to load: recorded in a run's manifest so evaluation reloads exactly that data."""

    name: str  # "mnist" | "scalar"
    data_dir: str | None = None  # None: the offline demo data
    options: dict = field(default_factory=dict)  # e.g. {"downsample": 2, "demo_train": 5000}

    def to_json(self) -> dict:
        return {"name": self.name, "data_dir": self.data_dir, "options": dict(sorted(self.options.items()))}

    @classmethod
    def from_json(cls, obj: dict) -> "DatasetRef":
        return cls(obj["name"], obj.get("data_dir"), dict(obj.get("options") or {}))


@dataclass
class Dataset:
    ref: DatasetRef
    splits: dict[str, Split]
    num_classes: int | None
    description: str

    def digest(self) -> str:
        h = hashlib.sha256(json.dumps(self.ref.to_json(), sort_keys=True).encode())
        for name in sorted(self.splits):
            for t in self.splits[name]:
                h.update(name.encode())
                h.update(t.contiguous().numpy().tobytes())
        return h.hexdigest()


# ---------------------------------------------------------------- IDX files (MNIST's format)

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip). A malformed or truncated file raises BadInput."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise BadInput(f"cannot read IDX file {path}: {exc}", field="data") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise BadInput(f"{path} is not an IDX file (bad magic number)", field="data")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise BadInput(f"{path} is truncated (header)", field="data")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != expected:
        raise BadInput(f"{path} is truncated or has trailing bytes: {len(raw)} bytes, "
                       f"expected {expected} for shape {dims}", field="data")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an IDX file (gzip when the name ends in .gz). Used by tests and the demo export."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}
    array = np.ascontiguousarray(array)
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def _find(data_dir: Path, stem: str) -> Path:
    for candidate in (data_dir / stem, data_dir / f"{stem}.gz", data_dir / stem.replace("-idx", ".idx")):
        if candidate.is_file():
            return candidate
    raise BadInput(f"data folder {data_dir} has no MNIST file {stem} (or {stem}.gz); "
                   "`landscape download mnist --data DIR` fetches them", field="data")


def load_mnist_files(data_dir: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise BadInput(f"data folder {data_dir} does not exist", field="data")
    arrays = {}
    for prefix in ("train", "t10k"):
        images = read_idx(_find(data_dir, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(_find(data_dir, f"{prefix}-labels-idx1-ubyte"))
        if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1:
            raise BadInput(f"{data_dir}: {prefix} files do not have MNIST's shapes "
                           f"({images.shape}, {labels.shape})", field="data")
        if len(images) != len(labels):
            raise BadInput(f"{data_dir}: {len(images)} {prefix} images but {len(labels)} labels", field="data")
        if labels.max(initial=0) > 9:
            raise BadInput(f"{data_dir}: {prefix} labels outside 0-9", field="data")
        arrays[prefix] = (images, labels)
    n_train = len(arrays["train"][0])
    n_valid = 10_000 if n_train > 10_000 else max(1, n_train // 6)
    cut = n_train - n_valid
    return {
        "train": (arrays["train"][0][:cut], arrays["train"][1][:cut]),
        "valid": (arrays["train"][0][cut:], arrays["train"][1][cut:]),
        "test": arrays["t10k"],
    }


# ---------------------------------------------------------------- offline demo digits

_FONT = {  # 5x7 bitmap digits
    0: ["01110", "10001", "10011", "10101", "11001", "10001", "01110"],
    1: ["00100", "01100", "00100", "00100", "00100", "00100", "01110"],
    2: ["01110", "10001", "00001", "00010", "00100", "01000", "11111"],
    3: ["11111", "00010", "00100", "00010", "00001", "10001", "01110"],
    4: ["00010", "00110", "01010", "10010", "11111", "00010", "00010"],
    5: ["11111", "10000", "11110", "00001", "00001", "10001", "01110"],
    6: ["00110", "01000", "10000", "11110", "10001", "10001", "01110"],
    7: ["11111", "00001", "00010", "00100", "01000", "01000", "01000"],
    8: ["01110", "10001", "10001", "01110", "10001", "10001", "01110"],
    9: ["01110", "10001", "10001", "01111", "00001", "00010", "01100"],
}


def demo_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n MNIST-shaped uint8 images (n, 28, 28) and labels (n,), deterministic in seed."""
    rng = np.random.default_rng(seed)
    glyphs = np.array([[[float(c) for c in row] for row in _FONT[d]] for d in range(10)], dtype=np.float32)
    glyphs = np.pad(glyphs, ((0, 0), (1, 1), (1, 1)))  # zero border: sampling outside gives 0
    labels = rng.integers(0, 10, size=n)
    scale = rng.uniform(2.4, 3.3, size=n)
    angle = rng.uniform(-0.3, 0.3, size=n)
    shear = rng.uniform(-0.35, 0.35, size=n)
    shift = rng.uniform(-2.5, 2.5, size=(n, 2))
    rows, cols = np.meshgrid(np.arange(28) - 13.5, np.arange(28) - 13.5, indexing="ij")
    images = np.empty((n, 28, 28), dtype=np.uint8)
    for start in range(0, n, 4096):
        sl = slice(start, min(n, start + 4096))
        r = rows[None] - shift[sl, 0, None, None]
        c = cols[None] - shift[sl, 1, None, None]
        cos, sin = np.cos(angle[sl])[:, None, None], np.sin(angle[sl])[:, None, None]
        r, c = cos * r - sin * c, sin * r + cos * c
        c = c - shear[sl, None, None] * r
        # glyph coordinates: centre of the padded 9x7 glyph is (4, 3)
        gr = r / scale[sl, None, None] + 4.0
        gc = c / scale[sl, None, None] + 3.0
        r0, c0 = np.floor(gr).astype(int), np.floor(gc).astype(int)
        fr, fc = gr - r0, gc - c0
        out = np.zeros(r.shape, dtype=np.float32)
        g = glyphs[labels[sl]]
        idx = np.arange(g.shape[0])[:, None, None]
        for dr, wr in ((0, 1 - fr), (1, fr)):
            for dc, wc in ((0, 1 - fc), (1, fc)):
                rr, cc = r0 + dr, c0 + dc
                inside = (rr >= 0) & (rr < 9) & (cc >= 0) & (cc < 7)
                val = g[idx, np.clip(rr, 0, 8), np.clip(cc, 0, 6)] * inside
                out += val * wr * wc
        # thicken the strokes a little, as pen strokes are, then add sensor noise
        padded = np.pad(out, ((0, 0), (1, 1), (1, 1)))
        blur = sum(padded[:, 1 + a: 29 + a, 1 + b: 29 + b] for a in (-1, 0, 1) for b in (-1, 0, 1)) / 9.0
        img = np.clip(1.6 * np.maximum(out, blur) + rng.normal(0, 0.04, size=out.shape), 0, 1)
        img[img < 0.08] = 0.0  # MNIST backgrounds are exactly zero
        images[sl] = np.round(img * 255).astype(np.uint8)
    return images, labels.astype(np.uint8)


def _demo_mnist(options: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    sizes = {"train": options.get("demo_train", 5000), "valid": options.get("demo_valid", 1000),
             "test": options.get("demo_test", 1000)}
    seeds = {"train": 1, "valid": 2, "test": 3}  # fixed: every run of a preset sees the same data
    return {k: demo_digits(n, seeds[k]) for k, n in sizes.items()}


def _to_tensors(images: np.ndarray, labels: np.ndarray, downsample: int) -> Split:
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    if downsample > 1:
        x = torch.nn.functional.avg_pool2d(x[:, None], downsample)[:, 0]
    return x.contiguous(), torch.from_numpy(labels.astype(np.int64))


def load_dataset(ref: DatasetRef) -> Dataset:
    if ref.name == "scalar":
        # Figs 9, 10, 14: one example x = 1 with target y = 1, so J = (1 - w1 w2)^2.
        one = (torch.ones(1, 1), torch.ones(1, 1))
        return Dataset(ref, {"train": one, "valid": one, "test": one}, None,
                       "the single example x = 1, y = 1")
    if ref.name in _LOADERS:  # cifar10, ptb, mnist-mp: defined at the end of this module
        return _LOADERS[ref.name](ref)
    if ref.name != "mnist":
        raise BadInput(f"unknown dataset {ref.name!r}", field="data")
    downsample = int(ref.options.get("downsample", 1))
    if ref.data_dir is None:
        arrays = _demo_mnist(ref.options)
        description = "offline demo digits (MNIST-shaped, generated)"
    else:
        arrays = load_mnist_files(ref.data_dir)
        description = f"MNIST from {ref.data_dir}"
    splits = {k: _to_tensors(*v, downsample) for k, v in arrays.items()}
    return Dataset(ref, splits, 10, description)


# ================================================================ CIFAR-10, Penn Treebank, MP-DBM inputs
#
# CIFAR-10 (Krizhevsky 2009), binary version: data_batch_1.bin ... data_batch_5.bin and
# test_batch.bin, each record one label byte then 3072 pixel bytes (1024 red, 1024 green, 1024
# blue, rows of 32). Splits as pylearn2's cifar10_no_aug_valid.yaml: train = the first 40,000
# training images, valid = the last 10,000, test = test_batch.bin. Preprocessing (option
# `preprocess`): "scale" = pixels / 255; "gcn" = per-image global contrast normalisation
# (pylearn2's, sqrt_bias 10, use_std) on 0-255 values; "gcn-zca" = gcn then ZCA whitening fitted
# on the train split (filter_bias 0.1), as the yaml's pylearn2_gcn_whitened data.
#
# Without a data folder, `cifar10` is a CIFAR-shaped demo set: 32x32 colour images of ten kinds of
# synthetic patterns (disk, square, triangle, ring, cross, horizontal / vertical / diagonal
# stripes, checkerboard, two blobs) in random colours, sizes, positions and small rotations, on
# shaded backgrounds with noise, generated deterministically from a seed in a few seconds.
#
# Penn Treebank (Marcus et al. 1993) as preprocessed by Mikolov (ptb.train.txt, ptb.valid.txt,
# ptb.test.txt; 10,000 words with <unk>; the splits are the files). Every line ends in <eos>;
# the vocabulary is built from train, most frequent first (ties alphabetical), as Zaremba et al.'s
# reader does. A split's token stream is cut into consecutive sequences of `seq_len` tokens
# (inputs) with the next tokens as targets; the < seq_len tokens left at the end are dropped.
#
# Without a data folder, `ptb` is demo text: sentences from a fixed random hidden-Markov grammar
# (16 word classes with sparse transitions, Zipf-distributed pseudo-words, <unk> and N among
# them), generated from a seed; an LSTM can learn far more than word frequencies from it.
#
# `mnist-mp` is MNIST (or the demo digits) packed for the MP-DBM with the prediction subsets of
# every example drawn once from the recorded `mask_seed` (models/mpdbm.py).

CIFAR_RECORD = 1 + 3 * 32 * 32


def read_cifar_bin(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 binary batch: images (N, 3, 32, 32) uint8 and labels (N,) uint8."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read CIFAR-10 file {path}: {exc.strerror}", field="data") from None
    if not raw or len(raw) % CIFAR_RECORD:
        raise BadInput(f"{path} is truncated or not a CIFAR-10 binary batch: {len(raw)} bytes is not a "
                       f"whole number of {CIFAR_RECORD}-byte records", field="data")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, CIFAR_RECORD)
    labels = records[:, 0]
    if labels.max() > 9:
        raise BadInput(f"{path}: label {labels.max()} outside 0-9; not a CIFAR-10 binary batch", field="data")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


def write_cifar_bin(path: str | os.PathLike, images: np.ndarray, labels: np.ndarray) -> None:
    """Write a CIFAR-10 binary batch (tests, demo export)."""
    records = np.concatenate([labels.astype(np.uint8)[:, None], images.reshape(len(images), -1)], axis=1)
    Path(path).write_bytes(np.ascontiguousarray(records, dtype=np.uint8).tobytes())


def load_cifar10_files(data_dir: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise BadInput(f"data folder {data_dir} does not exist", field="data")
    folder = data_dir / "cifar-10-batches-bin" if (data_dir / "cifar-10-batches-bin").is_dir() else data_dir
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise BadInput(f"data folder {data_dir} has no CIFAR-10 file {missing[0]}; "
                       "`landscape download cifar10 --data DIR` fetches them", field="data")
    parts = [read_cifar_bin(folder / n) for n in names[:5]]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    n_valid = 10_000 if len(images) > 10_000 else max(1, len(images) // 5)
    cut = len(images) - n_valid
    return {"train": (images[:cut], labels[:cut]), "valid": (images[cut:], labels[cut:]),
            "test": read_cifar_bin(folder / "test_batch.bin")}


def demo_patterns(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n CIFAR-shaped uint8 images (n, 3, 32, 32) of ten synthetic pattern classes, and labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    coords = (np.arange(32) - 15.5) / 16.0
    rows, cols = np.meshgrid(coords, coords, indexing="ij")
    images = np.empty((n, 3, 32, 32), dtype=np.uint8)
    for start in range(0, n, 2048):
        sl = slice(start, min(n, start + 2048))
        m, lab = sl.stop - sl.start, labels[sl]
        size = rng.uniform(0.45, 0.8, m)[:, None, None]
        angle = rng.uniform(-0.3, 0.3, m)[:, None, None]
        shift = rng.uniform(-0.25, 0.25, (m, 2))
        r, c = rows[None] - shift[:, 0, None, None], cols[None] - shift[:, 1, None, None]
        u = (np.cos(angle) * c + np.sin(angle) * r) / size
        v = (-np.sin(angle) * c + np.cos(angle) * r) / size
        freq = rng.uniform(2.5, 4.0, m)[:, None, None] * np.pi
        phase = rng.uniform(0, 2 * np.pi, m)[:, None, None]
        radius = np.sqrt(u ** 2 + v ** 2)
        shapes = np.stack([
            radius < 1.0,                                                   # 0 disk
            np.maximum(np.abs(u), np.abs(v)) < 0.8,                         # 1 square
            (v > -0.8) & (v < 0.7) & (np.abs(u) < (v + 0.8) * 0.6),         # 2 triangle
            (radius > 0.55) & (radius < 1.0),                               # 3 ring
            ((np.abs(u) < 0.3) & (np.abs(v) < 1.0)) | ((np.abs(v) < 0.3) & (np.abs(u) < 1.0)),  # 4 cross
            np.sin(v * freq + phase) > 0,                                   # 5 horizontal stripes
            np.sin(u * freq + phase) > 0,                                   # 6 vertical stripes
            np.sin((u + v) * freq * 0.7 + phase) > 0,                       # 7 diagonal stripes
            np.sin(u * freq + phase) * np.sin(v * freq + phase) > 0,        # 8 checkerboard
            (np.sqrt((u - 0.55) ** 2 + v ** 2) < 0.4) | (np.sqrt((u + 0.55) ** 2 + v ** 2) < 0.4),  # 9 two blobs
        ], axis=1)
        mask = shapes[np.arange(m), lab].astype(np.float32)
        fg = rng.uniform(0, 1, (m, 3))
        bg = rng.uniform(0, 1, (m, 3))
        far = np.abs(fg - bg).sum(axis=1) < 0.6  # keep the pattern visible: push the colours apart
        fg[far] = 1.0 - bg[far]
        shade = 1 + rng.uniform(-0.3, 0.3, (m, 1, 1)) * rows[None] + rng.uniform(-0.3, 0.3, (m, 1, 1)) * cols[None]
        img = (mask[:, None] * fg[:, :, None, None] + (1 - mask[:, None]) * bg[:, :, None, None]) * shade[:, None]
        img += rng.normal(0, 0.06, img.shape)
        images[sl] = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
    return images, labels.astype(np.uint8)


def _demo_cifar(options: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    sizes = {"train": options.get("demo_train", 4000), "valid": options.get("demo_valid", 1000),
             "test": options.get("demo_test", 1000)}
    seeds = {"train": 11, "valid": 12, "test": 13}
    return {k: demo_patterns(n, seeds[k]) for k, n in sizes.items()}


def global_contrast_normalize(x: np.ndarray, sqrt_bias: float = 10.0, min_divisor: float = 1e-8) -> np.ndarray:
    """pylearn2's global_contrast_normalize(scale=1, subtract_mean=True, use_std=True)."""
    x = x.reshape(len(x), -1).astype(np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    norms = np.sqrt(sqrt_bias + x.var(axis=1, ddof=1, keepdims=True))
    norms[norms < min_divisor] = 1.0
    return x / norms


def zca_fit(x: np.ndarray, filter_bias: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """pylearn2's ZCA(filter_bias=.1): the mean and the symmetric whitening matrix
    U diag(1 / sqrt(lambda + filter_bias)) U^T of the covariance U diag(lambda) U^T of x (N, D)."""
    mean = x.mean(axis=0)
    centred = x - mean
    eigval, eigvec = np.linalg.eigh(centred.T @ centred / len(centred))
    return mean, (eigvec / np.sqrt(np.maximum(eigval, 0) + filter_bias)) @ eigvec.T


def _preprocess_cifar(arrays: dict, how: str) -> dict[str, Split]:
    if how not in ("scale", "gcn", "gcn-zca"):
        raise BadInput(f"unknown CIFAR-10 preprocessing {how!r}: scale, gcn or gcn-zca", field="data")
    flat = {k: (global_contrast_normalize(v[0].astype(np.float64)) if how != "scale"
                else v[0].reshape(len(v[0]), -1) / 255.0) for k, v in arrays.items()}
    if how == "gcn-zca":  # fitted on the train split only
        mean, whiten = zca_fit(flat["train"])
        flat = {k: (v - mean) @ whiten for k, v in flat.items()}
    return {k: (torch.from_numpy(flat[k].astype(np.float32).reshape(-1, 3, 32, 32)).contiguous(),
                torch.from_numpy(arrays[k][1].astype(np.int64))) for k in arrays}


def _load_cifar10(ref: DatasetRef) -> Dataset:
    if ref.data_dir is None:
        arrays, description = _demo_cifar(ref.options), "offline demo patterns (CIFAR-10-shaped, generated)"
    else:
        arrays, description = load_cifar10_files(ref.data_dir), f"CIFAR-10 from {ref.data_dir}"
    return Dataset(ref, _preprocess_cifar(arrays, ref.options.get("preprocess", "gcn")), 10, description)


# ---------------------------------------------------------------- Penn Treebank (models/ptb.py)

def _load_ptb(ref: DatasetRef) -> Dataset:
    return Dataset(ref, *load_ptb(ref.data_dir, ref.options))


# ---------------------------------------------------------------- MNIST for the MP-DBM

def _load_mnist_mp(ref: DatasetRef) -> Dataset:
    options = {k: v for k, v in ref.options.items() if k not in ("mask_seed", "drop_prob")}
    base = load_dataset(DatasetRef("mnist", ref.data_dir, options))
    seed, drop_prob = int(ref.options.get("mask_seed", 0)), float(ref.options.get("drop_prob", 0.5))
    splits = {}
    for i, name in enumerate(("train", "valid", "test")):
        x, y = base.splits[name]
        drop, drop_label = draw_masks(len(x), torch.Generator().manual_seed(seed * 1000 + i), drop_prob)
        splits[name] = (pack_inputs(x, y, drop, drop_label).contiguous(), y)
    return Dataset(ref, splits, 10, f"{base.description}, prediction subsets from mask seed {seed}")


_LOADERS = {"cifar10": _load_cifar10, "ptb": _load_ptb, "mnist-mp": _load_mnist_mp}
