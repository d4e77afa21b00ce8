"""Where a run's model, objective and data come from: the one place that reads a manifest's
answer to that, for built-in runs (a model id and preset of the zoo, a dataset reference) and
imported ones (the user's references, models/user.py) alike. Every other module asks here.

Here, before any reference is read, the run's signature is verified (compute/signing.py): a run
naming user code that this installation did not sign is refused in one line, its code never run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from models import get_model
from models.datasets import DatasetRef, load_dataset
from models.errors import BadInput
from models.objectives import Objective
from models.batches import SplitSource, TensorSource, tables_digest
from models.user import DataRef, LossRef, Ref, build_model, data_digest

from .signing import verify

Splits = dict[str, tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class RunSource:
    label: str  # what the model is, for messages
    build: Callable[[int | None], nn.Module]  # seed (its own initializer) or None -> a fresh module
    objective: Callable[[], Objective]
    load: Callable[[], tuple[Splits, str, str]]  # -> (splits, digest, description)
    uses_dropout: Callable[[], bool]  # the model applies dropout in training (a Monte-Carlo line is possible)
    imported: bool


def source_of(manifest: dict) -> RunSource:
    verify(manifest)  # first: nothing of an unsigned or forged run's references is resolved
    source = manifest.get("source")
    if source is None:
        return _builtin(manifest)
    if source.get("kind") != "user":
        raise BadInput(f"run {manifest.get('run_id')}: unknown source {source.get('kind')!r}", field="run")
    model, data, loss = Ref.from_json(source["model"]), DataRef.from_json(source["data"]), LossRef.from_json(source["loss"])

    def load() -> tuple[Splits, str, str]:
        splits = data.load()
        tables = manifest.get("data_shards")
        if tables is None:  # (inputs, targets) tensors: digested whole, now
            return splits, data_digest(splits), f"the data of {data}"
        # read in batches: the lengths are checked now, each shard's digest when this process first
        # reads it (models/batches.py SplitSource.shard)
        if sorted(splits) != sorted(tables):
            raise BadInput(f"the data of {data} now has splits {sorted(splits)}; the run was imported with "
                           f"{sorted(tables)}", field="data")
        for name, table in tables.items():
            if not isinstance(splits[name], SplitSource):
                splits[name] = TensorSource(*splits[name], f"{data}: split {name!r}")
            splits[name].expect(table)
        return splits, tables_digest(tables), f"the data of {data}"

    # recorded on import: listing runs must not have to build (run) the user's model
    return RunSource(str(model), lambda seed: build_model(model, seed), loss.objective, load,
                     lambda: bool(manifest.get("dropout")), True)


def _builtin(manifest: dict) -> RunSource:
    try:
        spec = get_model(manifest["model"])
    except BadInput:
        raise BadInput(f"run {manifest.get('run_id')}: model {manifest['model']!r} is not in this version",
                       field="run") from None
    preset = manifest["preset"]
    if preset not in spec.presets:
        raise BadInput(f"run {manifest.get('run_id')}: {spec.id} has no preset {preset!r} in this version",
                       field="run")

    def load() -> tuple[Splits, str, str]:
        data = load_dataset(DatasetRef.from_json(manifest["dataset"]))
        return data.splits, data.digest(), data.description

    return RunSource(f"{spec.id}/{preset}", lambda seed: spec.build(preset, seed), lambda: spec.objective, load,
                     lambda: spec.uses_dropout(preset), False)
