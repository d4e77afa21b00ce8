"""What a process keeps in memory across requests: loaded runs and evaluators (their data on
the device), least recently used first out. A worker's second chunk of a job reloads nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import torch

from models import get_model
from models.datasets import DatasetRef, load_dataset

from models.errors import BadInput
from .evaluator import Evaluator
from .validate import SPLITS
from .store import Run

_DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}


class _LRU:
    def __init__(self, size: int):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key, make):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = make()
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


_evaluators = _LRU(4)
_thetas = _LRU(64)


def evaluator_for(run: Run, dtype: str = "float32") -> Evaluator:
    """The evaluator of a run's model on its recorded data (all splits on the device once)."""
    key = (run.model_id, run.preset, repr(run.manifest["dataset"]), run.manifest.get("data_digest"), dtype)

    def make() -> Evaluator:
        spec = get_model(run.model_id)
        ref = DatasetRef.from_json(run.manifest["dataset"])
        data = load_dataset(ref)
        digest = run.manifest.get("data_digest")
        if digest and data.digest() != digest:
            raise BadInput(f"the data of run {run.id} ({data.description}) is not the data it was "
                           "trained on (digest mismatch)", field="data")
        model = spec.build(run.preset)
        return Evaluator(model, spec.objective, {s: data.splits[s] for s in SPLITS if s in data.splits},
                         dtype=_DTYPES[dtype])

    return _evaluators.get(key, make)


def theta_of(run: Run, step: int) -> torch.Tensor:
    return _thetas.get((run.id, step), lambda: run.theta(step))


def random_theta(run: Run, seed: int, scale: float) -> torch.Tensor:
    """The architecture's own initializer drawn with `seed`, times `scale`."""
    spec = get_model(run.model_id)
    model = spec.build(run.preset, seed)
    return run.layout.flatten_model(model) * scale


def clear() -> None:
    _evaluators.clear()
    _thetas.clear()

