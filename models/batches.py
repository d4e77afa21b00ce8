"""A split's data as batches, whatever the user has: the one reading rule, the sources, shards.

A split is given as (inputs, targets) tensors or arrays, a map-style `torch.utils.data.Dataset`,
an `IterableDataset`, a `DataLoader`, or a Hugging Face `datasets.Dataset`. Each becomes a
`SplitSource` whose `batches()` yields `Batch`es in a fixed order. The rule that reads an example
or a batch (`read_batch`):

  - a dict: the targets are `targets_key` (default "labels", `import --targets KEY`), every other
    key is a keyword input of the model: model(**inputs);
  - a tuple or list: the last element is the target, the others are positional inputs.

Order and batching are fixed by the data, never by workers or threads:
  - tensors: DATASET_BATCH examples a batch, in order (the evaluator keeps its fast slicing);
  - a map-style Dataset or Hugging Face Dataset: examples 0..n-1 in order, DATASET_BATCH a batch,
    collated by torch's default_collate;
  - an IterableDataset: its examples as it yields them, DATASET_BATCH a batch;
  - a DataLoader: its batches as its collate function makes them, in order. A shuffling or
    drop_last loader over a map-style dataset is re-read in order (sequential sampler, the same
    batch_size and collate_fn, nothing dropped), always with num_workers=0 (a Celery pool process
    cannot start DataLoader workers).
A *shard* is `shard_batches` consecutive batches (at least SHARD_EXAMPLES examples): the unit whose
float64 partial sums the evaluator keeps, and whose sha256 the run records (`stream_digest`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import numpy as np
import torch
from torch.utils.data import (DataLoader, Dataset, IterableDataset, RandomSampler, SequentialSampler,
                              default_collate)

from .errors import BadInput

TARGETS_KEY = "labels"
DATASET_BATCH = 256  # examples a batch read from a Dataset / IterableDataset / tensors: part of the definition
SHARD_EXAMPLES = 4096  # a shard holds at least this many examples (whole batches)


@dataclass
class Batch:
    """One batch as the model takes it: model(*args, **kwargs), scored against `targets`."""

    args: tuple
    kwargs: dict
    targets: torch.Tensor
    size: int
    targets_key: str | None = None  # read from a dict with the targets under this key; None: a tuple

    @property
    def single(self) -> torch.Tensor | None:
        """The one positional input of a batch without keyword inputs (the fast paths take it)."""
        return self.args[0] if len(self.args) == 1 and not self.kwargs else None

    def tensors(self) -> list[tuple[str, torch.Tensor]]:
        return ([(f"arg{i}", t) for i, t in enumerate(self.args)] + sorted(self.kwargs.items())
                + [("targets", self.targets)])

    def map(self, fn) -> "Batch":
        return Batch(tuple(fn(t) for t in self.args), {k: fn(v) for k, v in self.kwargs.items()},
                     fn(self.targets), self.size, self.targets_key)

    def rows(self, lo: int, hi: int) -> "Batch":
        return Batch(tuple(t[lo:hi] for t in self.args), {k: v[lo:hi] for k, v in self.kwargs.items()},
                     self.targets[lo:hi], min(hi, self.size) - lo, self.targets_key)

    def as_read(self, copies: int = 1) -> dict | tuple:
        """The batch as the user's data gave it (the dict, or the tuple (inputs..., targets)), its
        rows repeated `copies` times: what a loss of (outputs, batch) takes for `copies` points."""
        def repeat(t: torch.Tensor) -> torch.Tensor:
            return t if copies == 1 else t.repeat(copies, *([1] * (t.dim() - 1)))
        if self.targets_key is None:
            return tuple(repeat(t) for t in (*self.args, self.targets))
        return {**{k: repeat(v) for k, v in self.kwargs.items()}, self.targets_key: repeat(self.targets)}

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, rows: slice) -> "Batch":  # rows, as a tensor's x[lo:hi]
        lo, hi, _ = rows.indices(self.size)
        return self.rows(lo, hi)

    def shapes(self) -> tuple:
        return tuple((name, tuple(t.shape[1:]), str(t.dtype)) for name, t in self.tensors())


def batch_as_read(x: torch.Tensor | Batch, y: torch.Tensor, copies: int = 1) -> dict | tuple:
    """What a loss of (outputs, batch) takes for a chunk of `copies` points: the chunk as read,
    from its Batch x, or from a single input tensor x and its targets y (a tuple (x, y))."""
    return (x if isinstance(x, Batch) else Batch((x,), {}, y, len(y))).as_read(copies)


def _as_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, np.ndarray) and value.dtype != object:
        value = torch.from_numpy(np.ascontiguousarray(value))
    elif isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float)) for v in value):
        value = torch.tensor(value)
    if not isinstance(value, torch.Tensor):
        return None
    value = value.detach()
    if value.is_floating_point():
        return value.float()
    if value.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64):
        return value.long()
    return value if value.dtype == torch.bool else None


def _describe(obj: Any) -> str:
    if isinstance(obj, Mapping):
        return "a dict with keys " + ", ".join(f"{k!r}: {type(v).__name__}" for k, v in obj.items())
    if isinstance(obj, (tuple, list)):
        return f"a {type(obj).__name__} of " + ", ".join(type(v).__name__ for v in obj)
    return f"a {type(obj).__name__}"


def read_batch(obj: Any, where: str, targets_key: str = TARGETS_KEY) -> Batch:
    """A collated batch by the rule of the module docstring; BadInput naming what was found."""
    rule = (f"expected a dict with {targets_key!r} (the targets; other keys: the model's keyword inputs) "
            "or a tuple (inputs..., targets)")
    if isinstance(obj, Mapping):
        if targets_key not in obj:
            raise BadInput(f"{where}: {_describe(obj)}, no targets key {targets_key!r}; {rule} "
                           "(import --targets KEY names another key)", field="data")
        raw_args, raw_kwargs, raw_targets = (), {k: v for k, v in obj.items() if k != targets_key}, obj[targets_key]
    elif isinstance(obj, (tuple, list)) and len(obj) >= 2:
        raw_args, raw_kwargs, raw_targets = tuple(obj[:-1]), {}, obj[-1]
    else:
        raise BadInput(f"{where}: {_describe(obj)}; {rule}", field="data")
    args = tuple(_as_tensor(v) for v in raw_args)
    kwargs = {k: _as_tensor(v) for k, v in raw_kwargs.items()}
    targets = _as_tensor(raw_targets)
    if targets is None or any(t is None for t in args) or any(t is None for t in kwargs.values()):
        raise BadInput(f"{where}: {_describe(obj)}: every input and the targets must be numeric tensors or arrays",
                       field="data")
    size = len(targets) if targets.dim() else 0
    wrong = [f"{n} {tuple(t.shape)}" for n, t in Batch(args, kwargs, targets, size).tensors()
             if t.dim() == 0 or len(t) != size]
    if size == 0 or wrong:
        raise BadInput(f"{where}: the inputs and targets must share a first (batch) dimension > 0; found "
                       f"{', '.join(wrong) or 'an empty batch'} for targets {tuple(targets.shape)}", field="data")
    return Batch(args, kwargs, targets, size, targets_key if isinstance(obj, Mapping) else None)


# ------------------------------------------------------------------------------ sources

@dataclass
class SplitSource:
    """A split read as batches in a fixed order. Subclasses give `_raw_batches(first)`."""

    where: str
    targets_key: str = TARGETS_KEY
    length: int | None = None  # examples, when known before reading (len of a Dataset)
    batch_size: int = DATASET_BATCH
    expected: dict | None = field(default=None, repr=False)  # the recorded shard table (`expect`)
    verified: set = field(default_factory=set, repr=False)  # shards whose digest matched, this process

    kind = "source"

    def _raw_batches(self, first: int) -> Iterator[Any]:
        raise NotImplementedError

    def batches(self, first: int = 0) -> Iterator[Batch]:
        """The batches from batch number `first` on, read by the rule."""
        for i, raw in enumerate(self._raw_batches(first)):
            yield read_batch(raw, f"{self.where} batch {first + i}", self.targets_key)

    @property
    def shard_batches(self) -> int:
        """Batches a shard: as recorded at import (the partition is the data's), else from SHARD_EXAMPLES."""
        if self.expected is not None:
            return self.expected["shard_batches"]
        return max(1, -(-SHARD_EXAMPLES // self.batch_size))

    def expect(self, table: dict) -> None:
        """Check later reads against the shard table recorded at import (`stream_digest`): the
        length now, each shard's digest the first time this process reads it."""
        if table["batch_size"] != self.batch_size:
            raise BadInput(f"{self.where} now reads batches of {self.batch_size}; the run was imported with "
                           f"{table['batch_size']} (the data changed)", field="data")
        self.expected = table
        if self.length is not None:
            self._check_length(self.length)

    def _check_length(self, n: int) -> None:
        if self.expected is not None and n != self.expected["examples"]:
            raise BadInput(f"{self.where} has {n} examples; the run was imported with "
                           f"{self.expected['examples']} (the data changed)", field="data")

    @property
    def num_examples(self) -> int:
        if self.expected is not None:
            return self.expected["examples"]
        if self.length is None:
            raise BadInput(f"{self.where}: the number of examples is not known before a full pass", field="data")
        return self.length

    @property
    def num_batches(self) -> int:
        if self.expected is not None:
            return self.expected["batches"]
        return -(-self.num_examples // self.batch_size)

    @property
    def num_shards(self) -> int:
        return -(-self.num_batches // self.shard_batches)

    def shard(self, index: int, reading: Iterator[Batch] | None = None) -> Iterator[Batch]:
        """The batches of shard `index`, digested and checked against the recorded table on the
        first read in this process. `reading`: this source's batches from the shard's first one on
        (where the previous shard's reading stopped), so that consecutive shards are one pass
        (an iterable is read from its start for every new reading)."""
        k = self.shard_batches
        check = self.expected is not None and index not in self.verified
        digest = hashlib.sha256()
        count = 0
        for batch in itertools.islice(self.batches(index * k) if reading is None else reading, k):
            if check:
                _update(digest, batch)
            count += 1
            yield batch
        if count == 0:
            raise BadInput(f"{self.where}: shard {index} yields no batches", field="data")
        if check:
            if digest.hexdigest() != self.expected["digests"][index]:
                raise BadInput(f"{self.where}: shard {index} (batches {index * k}..{index * k + count - 1}) is not "
                               "the data the run was imported with (digest mismatch)", field="data")
            self.verified.add(index)


class TensorSource(SplitSource):
    kind = "tensors"

    def __init__(self, x: torch.Tensor, y: torch.Tensor, where: str):
        super().__init__(where, length=len(x))
        self.x, self.y = x, y

    def _raw_batches(self, first: int) -> Iterator[Any]:
        for lo in range(first * self.batch_size, len(self.x), self.batch_size):
            yield self.x[lo:lo + self.batch_size], self.y[lo:lo + self.batch_size]


class DatasetSource(SplitSource):
    kind = "dataset"

    def __init__(self, dataset: Dataset, where: str, targets_key: str, collate=default_collate,
                 batch_size: int = DATASET_BATCH):
        super().__init__(where, targets_key, length=len(dataset), batch_size=batch_size)
        self.dataset, self.collate = dataset, collate

    def _raw_batches(self, first: int) -> Iterator[Any]:
        n = len(self.dataset)
        self._check_length(n)
        for lo in range(first * self.batch_size, n, self.batch_size):
            yield self.collate([self.dataset[i] for i in range(lo, min(n, lo + self.batch_size))])


class HuggingFaceSource(DatasetSource):
    kind = "datasets.Dataset"

    def _raw_batches(self, first: int) -> Iterator[Any]:
        n = len(self.dataset)
        for lo in range(first * self.batch_size, n, self.batch_size):
            yield dict(self.dataset[lo:min(n, lo + self.batch_size)])  # a dict of columns, as torch tensors


class IterableSource(SplitSource):
    """An IterableDataset (or an in-order DataLoader over one): read from the start, batches
    before `first` skipped; its length is known after the full pass made at import."""

    kind = "iterable"

    def __init__(self, iterable, where: str, targets_key: str, batched: bool, batch_size: int = DATASET_BATCH):
        super().__init__(where, targets_key, batch_size=batch_size)
        self.iterable, self.batched = iterable, batched

    def _raw_batches(self, first: int) -> Iterator[Any]:
        def grouped():
            if self.batched:
                yield from self.iterable
                return
            group = []
            for example in self.iterable:
                group.append(example)
                if len(group) == self.batch_size:
                    yield default_collate(group)
                    group = []
            if group:
                yield default_collate(group)
        for i, raw in enumerate(grouped()):
            if i >= first:
                yield raw


class LoaderSource(DatasetSource):
    """A DataLoader over a map-style dataset: its own batch_size and collate_fn, in order."""

    kind = "DataLoader"


def as_source(value: Any, where: str, targets_key: str = TARGETS_KEY) -> SplitSource | None:
    """The source of a split given as anything but an (inputs, targets) pair; None for a pair."""
    if isinstance(value, (tuple, list)):
        return None
    if isinstance(value, DataLoader):
        if isinstance(value.dataset, IterableDataset):
            loader = DataLoader(value.dataset, batch_size=value.batch_size, collate_fn=value.collate_fn)
            return IterableSource(loader if value.batch_size is not None else value.dataset, where, targets_key,
                                  batched=value.batch_size is not None, batch_size=value.batch_size or 1)
        if value.batch_size is None or not isinstance(value.sampler, (RandomSampler, SequentialSampler)):
            raise BadInput(f"{where}: a DataLoader with a custom sampler or batch_sampler (it may pick a subset); "
                           "give its dataset, or a DataLoader with a batch_size over the whole dataset", field="data")
        return LoaderSource(value.dataset, where, targets_key, value.collate_fn, value.batch_size)
    if type(value).__module__.split(".")[0] == "datasets" and hasattr(value, "with_format"):
        return HuggingFaceSource(value.with_format("torch"), where, targets_key)
    if isinstance(value, IterableDataset):
        return IterableSource(value, where, targets_key, batched=False)
    if isinstance(value, Dataset) or (hasattr(value, "__getitem__") and hasattr(value, "__len__")
                                      and not isinstance(value, (str, bytes, Mapping, np.ndarray, torch.Tensor))):
        return DatasetSource(value, where, targets_key)
    raise BadInput(f"{where} is {_describe(value)}; expected (inputs, targets) tensors or arrays, a Dataset, an "
                   "IterableDataset, a DataLoader or a datasets.Dataset", field="data")


# ------------------------------------------------------------------------------ digests

def _update(digest, batch: Batch) -> None:
    for name, t in batch.tensors():
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.contiguous().cpu().numpy().tobytes() if t.dtype != torch.bool
                      else t.contiguous().cpu().to(torch.uint8).numpy().tobytes())


def stream_digest(source: SplitSource) -> dict:
    """One full pass: the split's shard table {examples, batches, batch_size, shard_batches,
    digests: sha256 of every shard's batches}; BadInput for a split that yields no batches."""
    k, examples, batches, digests, digest = source.shard_batches, 0, 0, [], hashlib.sha256()
    shapes = None
    for batch in source.batches(0):
        if shapes is None:
            shapes = batch.shapes()
        if examples != batches * source.batch_size:
            raise BadInput(f"{source.where}: batch {batches - 1} holds fewer than {source.batch_size} examples but "
                           "is not the last; every batch but the last must be full", field="data")
        _update(digest, batch)
        examples += batch.size
        batches += 1
        if batches % k == 0:
            digests.append(digest.hexdigest())
            digest = hashlib.sha256()
    if batches == 0:
        raise BadInput(f"{source.where} yields no batches", field="data")
    if batches % k:
        digests.append(digest.hexdigest())
    if source.length is not None and examples != source.length:
        raise BadInput(f"{source.where}: len() says {source.length} examples, reading it gave {examples}",
                       field="data")
    return {"kind": source.kind, "examples": examples, "batches": batches, "batch_size": source.batch_size,
            "shard_batches": k, "digests": digests}


def tables_digest(tables: dict[str, dict]) -> str:
    """The run's data digest from its splits' shard tables."""
    return "stream-" + hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()


def describe_inputs(args: tuple, kwargs: dict) -> str:
    """`arg0 (B, 3, 32, 32) float32, input_ids (B, T) int64`: what a model was given."""
    named = [(f"arg{i}", t) for i, t in enumerate(args)] + sorted(kwargs.items())
    return ", ".join(f"{n} {tuple(t.shape)} {str(t.dtype).replace('torch.', '')}" if isinstance(t, torch.Tensor)
                     else f"{n} {type(t).__name__}" for n, t in named)


def split_size(split: Any) -> int:
    return split.num_examples if isinstance(split, SplitSource) else len(split[0])


def first_batch(split: Any) -> Batch:
    """The first example of a split, as a batch of one."""
    if isinstance(split, SplitSource):
        return next(iter(split.batches(0))).rows(0, 1)
    return Batch((split[0][:1],), {}, split[1][:1], 1)


def model_outputs(result: Any) -> torch.Tensor:
    """What the objective scores from a forward's return: a tensor; a tuple/list's first element;
    a dict's or a Hugging Face ModelOutput's `logits`, else its first tensor."""
    if isinstance(result, torch.Tensor):
        return result
    if isinstance(result, Mapping):
        if isinstance(result.get("logits"), torch.Tensor):
            return result["logits"]
        result = list(result.values())
    elif hasattr(result, "logits") and isinstance(result.logits, torch.Tensor):
        return result.logits
    if isinstance(result, (tuple, list)):
        for value in result:
            if isinstance(value, torch.Tensor):
                return value
    raise BadInput(f"the model returned {_describe(result)}: expected a tensor, a tuple/list whose first element "
                   "is the outputs, a dict or a ModelOutput with `logits`", field="model")
