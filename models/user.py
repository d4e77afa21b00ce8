"""A user's own model, data and loss, named by references instead of by a model id.

    --model mypkg.nets:resnet20     a callable returning the nn.Module, called with no arguments
    --data  mypkg.data:splits       a callable returning {"train": data, "valid": ..., "test": ...}, each split
                                    (inputs, targets) tensors or arrays, a Dataset, an IterableDataset, a
                                    DataLoader or a datasets.Dataset (models/batches.py: the reading rule)
    --targets KEY                   the targets' key in dict examples/batches (default "labels")
    --data  /data/cifar.npz         arrays x_train, y_train[, x_valid, y_valid, x_test, y_test]
    --loss  cross-entropy | mse | causal-lm | seq-classification | MOD:FN
                                    MOD:FN: (outputs, targets) -> per-example losses (B,)
            causal-lm: (B, T, V) logits of (B, T) labels, next-token cross-entropy, labels -100 not
            counted, J the mean over every counted token (Hugging Face's `model(ids, labels=).loss`);
            seq-classification: (B, C) logits of (B,) labels, cross-entropy and error rate
    --path  DIR                     put on sys.path before importing the modules

A run imported this way records the references (compute/importing.py), so any process that can
import the same modules (a worker on another machine too) rebuilds the same model. Resolving a
reference runs the user's code: it happens only for runs a user imported from the CLI or Python,
never because of a URL or a page.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import inspect
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .batches import TARGETS_KEY, SplitSource, TensorSource, as_source, stream_digest, tables_digest
from .errors import BadInput
from .objectives import CAUSAL_LM, OBJECTIVES, SEQ_CLASSIFICATION, Objective

SPLIT_NAMES = ("train", "valid", "test")
LOSS_KINDS = ("cross-entropy", "mse", "causal-lm", "seq-classification")
_REF = re.compile(r"^([A-Za-z_][\w.]*):([A-Za-z_][\w.]*)$")


@dataclass(frozen=True)
class Ref:
    """`module:function`, imported with `path` (a folder) first on sys.path."""

    module: str
    function: str
    path: str | None = None

    @classmethod
    def parse(cls, text: str, field: str, path: str | None = None) -> "Ref":
        match = _REF.match(str(text).strip())
        if match is None:
            raise BadInput(f"{text!r} is not MODULE:FUNCTION (e.g. mypkg.nets:resnet20)", field=field)
        if path is not None:
            folder = Path(path).expanduser()
            if not folder.is_dir():
                raise BadInput(f"--path {path!r} is not a folder", field="path")
            path = str(folder.resolve())
        return cls(match.group(1), match.group(2), path)

    def to_json(self) -> dict:
        return {"module": self.module, "function": self.function, "path": self.path}

    @classmethod
    def from_json(cls, obj: dict) -> "Ref":
        return cls(obj["module"], obj["function"], obj.get("path"))

    def __str__(self) -> str:
        return f"{self.module}:{self.function}"

    def resolve(self, field: str) -> Callable:
        """The callable itself; one clear BadInput naming the module when it cannot be had."""
        if self.path is not None and self.path not in sys.path:
            sys.path.insert(0, self.path)
        where = f" (from {self.path})" if self.path else ""
        try:
            with _user_code():
                module = importlib.import_module(self.module)
        except ModuleNotFoundError as exc:
            raise BadInput(f"cannot import module {self.module!r}{where}: {exc}; pass --path DIR "
                           "with the folder that holds it", field=field) from None
        except Exception as exc:  # the user's module itself failed while importing
            raise BadInput(f"importing module {self.module!r}{where} raised "
                           f"{type(exc).__name__}: {exc}", field=field) from None
        target: Any = module
        for part in self.function.split("."):
            target = getattr(target, part, None)
        if not callable(target):
            raise BadInput(f"module {self.module!r} has no callable {self.function!r}", field=field)
        return target

    def call(self, field: str, *args) -> Any:
        fn = self.resolve(field)
        try:
            with _user_code():
                return fn(*args)
        except BadInput:
            raise
        except Exception as exc:
            raise BadInput(f"{self} raised {type(exc).__name__}: {exc}", field=field) from None


def _user_code() -> contextlib.AbstractContextManager:
    """While the user's code runs, what it prints goes to stderr: stdout is Landscape's answer
    (a run id, `--format json`), which a print in a user's module must not spoil."""
    return contextlib.redirect_stdout(sys.stderr)


# ------------------------------------------------------------------------------ the model

def build_model(ref: Ref, seed: int | None = None) -> nn.Module:
    """The user's module, fresh; with a seed, drawn by its own initializer under that seed."""
    if seed is None:
        model = ref.call("model")
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = ref.call("model")
    if not isinstance(model, nn.Module):
        raise BadInput(f"{ref} returned {type(model).__name__}, not a torch.nn.Module", field="model")
    return model.float().eval()


# ------------------------------------------------------------------------------ the data

@dataclass(frozen=True)
class DataRef:
    """A data callable, or an .npz file with arrays x_train, y_train, ..."""

    callable: Ref | None = None
    npz: str | None = None
    targets: str = TARGETS_KEY  # the targets' key of dict examples and batches

    @classmethod
    def parse(cls, text: str, path: str | None = None, targets: str | None = None) -> "DataRef":
        text = str(text).strip()
        targets = TARGETS_KEY if targets is None else str(targets).strip()
        if not targets:
            raise BadInput("--targets: give the key of the targets in dict batches (e.g. labels)", field="targets")
        if text.endswith(".npz"):
            file = Path(text).expanduser()
            if not file.is_file():
                raise BadInput(f"no such file {text!r}", field="data")
            return cls(npz=str(file.resolve()), targets=targets)
        return cls(callable=Ref.parse(text, "data", path), targets=targets)

    def to_json(self) -> dict:
        extra = {} if self.targets == TARGETS_KEY else {"targets": self.targets}  # old manifests unchanged
        if self.npz is not None:
            return {"kind": "npz", "file": self.npz, **extra}
        return {"kind": "callable", **self.callable.to_json(), **extra}

    @classmethod
    def from_json(cls, obj: dict) -> "DataRef":
        targets = obj.get("targets", TARGETS_KEY)
        if obj["kind"] == "npz":
            return cls(npz=obj["file"], targets=targets)
        return cls(callable=Ref.from_json(obj), targets=targets)

    def __str__(self) -> str:
        return self.npz or str(self.callable)

    def load(self) -> dict[str, "tuple[torch.Tensor, torch.Tensor] | SplitSource"]:
        """The splits, checked: `train` and any of `valid`, `test`; (inputs, targets) pairs as
        tensors, anything else as a SplitSource (models/batches.py) read in batches."""
        raw = self._load_npz() if self.npz is not None else self.callable.call("data")
        return check_splits(raw, str(self), self.targets)

    def _load_npz(self) -> dict:
        try:
            with np.load(self.npz, allow_pickle=False) as arrays:  # never unpickle object arrays
                names = set(arrays.files)
                return {s: (arrays[f"x_{s}"], arrays[f"y_{s}"]) for s in SPLIT_NAMES
                        if f"x_{s}" in names and f"y_{s}" in names}
        except (OSError, ValueError) as exc:
            raise BadInput(f"cannot read {self.npz}: {exc}", field="data") from None


def _tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, np.ndarray) and value.dtype != object:
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        return None
    value = value.detach().cpu()
    if value.is_floating_point():
        return value.float()
    if value.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64):
        return value.long()
    return None


def check_splits(raw: Any, source: str, targets: str = TARGETS_KEY) -> dict[str, Any]:
    expected = ("{'train': data, 'valid': ..., 'test': ...}, each (inputs, targets) tensors or arrays, a Dataset, "
                "an IterableDataset, a DataLoader or a datasets.Dataset")
    if not isinstance(raw, dict) or "train" not in raw:
        raise BadInput(f"{source} gave {type(raw).__name__}{' without train' if isinstance(raw, dict) else ''}; "
                       f"expected {expected}", field="data")
    unknown = sorted(set(raw) - set(SPLIT_NAMES))
    if unknown:
        raise BadInput(f"{source}: unknown split(s) {unknown}; splits are {', '.join(SPLIT_NAMES)}", field="data")
    splits = {}
    for name in SPLIT_NAMES:
        if name not in raw:
            continue
        pair = raw[name]
        streamed = as_source(pair, f"{source}: split {name!r}", targets)
        if streamed is not None:
            splits[name] = streamed
            continue
        if len(pair) != 2:
            raise BadInput(f"{source}: split {name!r} is not an (inputs, targets) pair; expected {expected}",
                           field="data")
        x, y = _tensor(pair[0]), _tensor(pair[1])
        if x is None or y is None:
            raise BadInput(f"{source}: split {name!r} holds {type(pair[0]).__name__}/{type(pair[1]).__name__}, "
                           "not numeric tensors or arrays", field="data")
        if x.dim() == 0 or y.dim() == 0 or len(x) != len(y) or len(x) == 0:
            raise BadInput(f"{source}: split {name!r} has inputs of shape {tuple(x.shape)} and targets of "
                           f"shape {tuple(y.shape)}: both need the same number (> 0) of examples first",
                           field="data")
        splits[name] = (x, y)
    return splits


def shard_tables(splits: dict[str, Any]) -> dict[str, dict] | None:
    """{split: shard table} (models/batches.py `stream_digest`, one full pass over each) of data
    read in batches; None for (inputs, targets) tensors, digested whole as before."""
    if all(isinstance(v, tuple) for v in splits.values()):
        return None
    return {name: stream_digest(v if isinstance(v, SplitSource) else TensorSource(*v, name))
            for name, v in sorted(splits.items())}


def data_digest(splits: dict[str, Any], tables: dict[str, dict] | None = None) -> str:
    """sha256 of tensor splits' bytes (as ever); for data read in batches, of their shard tables."""
    if tables is not None or not all(isinstance(v, tuple) for v in splits.values()):
        return tables_digest(tables if tables is not None else shard_tables(splits))
    h = hashlib.sha256()
    for name in sorted(splits):
        for t in splits[name]:
            h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
            h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------------------ the loss

def _per_example(values: torch.Tensor) -> torch.Tensor:
    """(B, ...) -> (B,): the mean over an example's positions (tokens of a sequence, pixels)."""
    return values.reshape(values.shape[0], -1).mean(dim=1) if values.dim() > 1 else values


def _cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # (B, C) with (B,) classes, or (B, ..., C) with (B, ...) tokens: mean over the positions
    return _per_example(OBJECTIVES["cross-entropy"].per_example(output, target))


def _errors(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return _per_example((output.max(dim=-1).indices != target).to(output.dtype))


def _mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return _per_example((output - target.reshape(output.shape).to(output.dtype)) ** 2)


@dataclass(frozen=True)
class LossRef:
    kind: str  # one of LOSS_KINDS | callable
    callable: Ref | None = None

    @classmethod
    def parse(cls, text: str, path: str | None = None) -> "LossRef":
        text = str(text).strip()
        if text in LOSS_KINDS:
            return cls(text)
        if ":" not in text:
            raise BadInput(f"{text!r} is not a loss: {', '.join(LOSS_KINDS)} or MODULE:FUNCTION", field="loss")
        return cls("callable", Ref.parse(text, "loss", path))

    def to_json(self) -> dict:
        return {"kind": self.kind, **(self.callable.to_json() if self.callable else {})}

    @classmethod
    def from_json(cls, obj: dict) -> "LossRef":
        return cls(obj["kind"], Ref.from_json(obj) if obj["kind"] == "callable" else None)

    def __str__(self) -> str:
        return str(self.callable) if self.callable else self.kind

    def objective(self) -> Objective:
        if self.kind == "cross-entropy":
            return Objective("cross-entropy", _cross_entropy, _errors,
                             "mean negative log-likelihood of the target class (mean over positions)")
        if self.kind == "mse":
            return Objective("mse", _mse, None, "mean squared error over an example's outputs")
        if self.kind == "causal-lm":
            return _shape_checked(CAUSAL_LM, 3, "(B, T, V) logits of (B, T) labels")
        if self.kind == "seq-classification":
            return _shape_checked(SEQ_CLASSIFICATION, 2, "(B, C) logits of (B,) labels")
        fn = self.callable.resolve("loss")
        return Objective(str(self.callable), _checked_loss(fn, str(self.callable)), None,
                         f"the user's loss {self.callable}, mean over examples", takes_batch=takes_batch(fn))


def takes_batch(fn: Callable) -> bool:
    """The rule for a user's loss: called as fn(outputs, batch) when its second parameter is named
    `batch` (the batch as read: the dict, or the tuple (inputs..., targets)); else fn(outputs, targets)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: the (outputs, targets) form
        return False
    return len(params) >= 2 and params[1].name == "batch"


def _checked_loss(fn: Callable, name: str) -> Callable:
    def per_example(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        try:
            values = fn(output, target)
        except Exception as exc:
            raise BadInput(f"loss {name} raised {type(exc).__name__}: {exc}", field="loss") from None
        if not isinstance(values, torch.Tensor) or tuple(values.shape) != (output.shape[0],):
            shape = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
            raise BadInput(f"loss {name} returned {shape}; it must return one loss per example, "
                           f"shape ({output.shape[0]},)", field="loss")
        return values
    return per_example


def _shape_checked(objective: Objective, dims: int, expected: str) -> Objective:
    """`objective` refusing, in one line naming the shapes, outputs and targets it cannot take."""
    def check(output: torch.Tensor, target: torch.Tensor) -> None:
        if output.dim() != dims or tuple(target.shape) != tuple(output.shape[:-1]) or target.is_floating_point():
            raise BadInput(f"--loss {objective.name} takes {expected}; the model gave outputs of shape "
                           f"{tuple(output.shape)} for targets of shape {tuple(target.shape)} ({target.dtype})",
                           field="loss")

    def wrap(fn: Callable | None) -> Callable | None:
        if fn is None:
            return None

        def checked(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            check(output, target)
            return fn(output, target)
        return checked

    return replace(objective, per_example=wrap(objective.per_example), errors=wrap(objective.errors),
                   counts=wrap(objective.counts))
