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

from compute.errors import BadInput

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
