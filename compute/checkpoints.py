"""Checkpoint files read lazily, tensors only: what `landscape import` reads (compute/importing.py).

A checkpoint is one file or one folder:
  *.safetensors                       memory-mapped (safetensors' safe_open): a tensor is read when asked for
  *.pt, *.pth, *.ckpt                 torch.load(weights_only=True, mmap=True): never unpickles anything
                                      but tensors and plain containers; wrapped state dicts
                                      ({"state_dict": ...} as Lightning writes, {"model": ...},
                                      {"model_state_dict": ...}) are unwrapped
  a Hugging Face folder               save_pretrained's or a Trainer's `checkpoint-500/`: model.safetensors,
                                      sharded model-00001-of-00002.safetensors + model.safetensors.index.json,
                                      pytorch_model.bin (or its sharded .bin + index); safetensors first
Links are followed only when their target stays inside the imported folder (`root`); a link out
of it, or an index naming a shard outside its folder, is refused in one line. Every failure to
read a file is one BadInput naming it.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
from safetensors import SafetensorError, safe_open

from models.errors import BadInput

FILE_SUFFIXES = (".safetensors", ".pt", ".pth", ".ckpt")
# a Hugging Face model folder's weights, in the order transformers itself prefers them
HF_WEIGHTS = ("model.safetensors.index.json", "model.safetensors", "pytorch_model.bin.index.json", "pytorch_model.bin")
WRAPPERS = ("state_dict", "model", "model_state_dict")


class Tensors(Mapping):
    """name -> tensor, each read only when it is asked for; shapes known without reading."""

    def __init__(self, entries: dict[str, tuple[tuple[int, ...], Callable[[], torch.Tensor]]]):
        self._entries = entries

    def __getitem__(self, name: str) -> torch.Tensor:
        return self._entries[name][1]()

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._entries[name][0]

    def renamed(self, names: dict[str, str]) -> "Tensors":
        """Only the tensors `names` maps (new name -> old name), under their new names."""
        return Tensors({new: self._entries[old] for new, old in names.items()})


@dataclass
class Checkpoint:
    tensors: Tensors
    global_step: int | None = None  # what a Lightning .ckpt says its step was
    mapped: bool = True  # its tensors are read from the file when asked for (a legacy torch file: held whole)


def inside(path: Path, root: Path, shown: str) -> Path:
    """`path` resolved; refused when it (a link) leads out of the imported folder `root`."""
    try:
        target = path.resolve()
        target.relative_to(root)
    except ValueError:
        raise BadInput(f"{shown} is a link to {str(target)[:200]}, outside the imported folder; links are "
                       "followed only when they stay inside it", field="dir") from None
    except OSError as exc:
        raise BadInput(f"{shown}: cannot be read ({exc.strerror or type(exc).__name__})", field="dir") from None
    return target


def hf_weights(folder: Path) -> Path | None:
    """The weights file a Hugging Face model folder holds (an index for a sharded one), if any."""
    for name in HF_WEIGHTS:
        if (folder / name).is_file():
            return folder / name
    return None


def open_checkpoint(path: Path, root: Path) -> Checkpoint:
    """The checkpoint at `path` (a file or a Hugging Face folder inside `root`), read lazily."""
    shown = path.name
    path = inside(path, root, shown)
    if path.is_dir():
        weights = hf_weights(path)
        if weights is None:
            raise BadInput(f"{shown}/ holds none of {', '.join(HF_WEIGHTS)}", field="dir")
        shown = f"{shown}/{weights.name}"
        weights = inside(weights, root, shown)
        if weights.name.endswith(".index.json"):
            return Checkpoint(_sharded(weights, root, shown))
        path = weights
    if path.suffix == ".safetensors":
        return Checkpoint(_safetensors(path, shown))
    return _torch_checkpoint(path, shown)


def _safetensors(path: Path, shown: str) -> Tensors:
    try:
        handle = safe_open(str(path), framework="pt")  # memory-mapped; kept open by the loaders
        entries = {k: (tuple(handle.get_slice(k).get_shape()), _reader(handle, k)) for k in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise BadInput(f"{shown}: refused ({_first_line(exc)})", field="dir") from None
    return Tensors(entries)


def _reader(handle, name: str) -> Callable[[], torch.Tensor]:
    return lambda: handle.get_tensor(name)


def _sharded(index: Path, root: Path, shown: str) -> Tensors:
    """A sharded checkpoint: the index's weight_map names, for every tensor, the shard holding it."""
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise TypeError("weight_map is not {name: shard file}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"{shown}: not a shard index ({_first_line(exc)})", field="dir") from None
    shards: dict[str, Tensors] = {}
    for shard in sorted(set(weight_map.values())):
        file = index.parent / shard
        if Path(shard).name != shard or not file.is_file():
            raise BadInput(f"{shown} names the shard {shard[:200]!r}, which is not a file of "
                           f"{index.parent.name}/", field="dir")
        file = inside(file, root, f"{index.parent.name}/{shard}")
        shards[shard] = (_safetensors(file, f"{index.parent.name}/{shard}") if file.suffix == ".safetensors"
                         else _torch_checkpoint(file, f"{index.parent.name}/{shard}").tensors)
    entries = {}
    for name, shard in weight_map.items():
        if name not in shards[shard]:
            raise BadInput(f"{shown}: shard {shard} does not hold {name}, as the index says", field="dir")
        entries[name] = shards[shard]._entries[name]
    return Tensors(entries)


def _torch_checkpoint(path: Path, shown: str) -> Checkpoint:
    try:
        try:
            state, mapped = torch.load(path, map_location="cpu", weights_only=True, mmap=True), True
        except RuntimeError as exc:  # a file in the legacy (non-zip) format cannot be memory-mapped
            if "mmap" not in str(exc):
                raise
            state, mapped = torch.load(path, map_location="cpu", weights_only=True), False
    except Exception as exc:  # every failure of torch.load, whatever the file holds, is one line
        reason = f"torch.load cannot read it as a checkpoint: {_first_line(exc)}"
        if isinstance(exc, pickle.UnpicklingError) or "weights_only" in str(exc):
            reason = "it holds objects that only unpickling arbitrary code could load; save a state_dict " \
                     "(model.state_dict()) or use safetensors"
        raise BadInput(f"{shown}: refused ({reason})", field="dir") from None
    global_step = state.get("global_step") if isinstance(state, dict) else None
    for wrapper in WRAPPERS:
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise BadInput(f"{shown}: not a state_dict of tensors", field="dir")
    return Checkpoint(Tensors({k: (tuple(v.shape), _held(v)) for k, v in state.items()}),
                      global_step if isinstance(global_step, int) and not isinstance(global_step, bool) else None,
                      mapped)


def _held(tensor: torch.Tensor) -> Callable[[], torch.Tensor]:
    return lambda: tensor


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
