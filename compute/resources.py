"""What a process keeps in memory across requests: loaded runs and evaluators (their data on
the device), least recently used first out. A worker's second chunk of a job reloads nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import torch

from models.errors import BadInput

from .batchnorm import BufferLayout
from .evaluator import Evaluator
from .signing import verify
from .sources import source_of
from .store import Run
from .validate import SPLITS

_DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16, "float16": torch.float16}


class LRU:
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


_evaluators = LRU(4)
_thetas = LRU(64)


def evaluator_for(run: Run, dtype: str = "float32") -> Evaluator:
    """The evaluator of a run's model on its recorded data: tensors on the device once, any other
    split streamed in batches, its lengths checked now and its shards' digests on first read."""
    verify(run.manifest)  # every use, not once per cached model: a forged copy of a good run is refused too
    key = (run.model_id, run.preset, repr(run.manifest["dataset"]), repr(run.manifest.get("source")),
           run.manifest.get("data_digest"), dtype)

    def make() -> Evaluator:
        source = source_of(run.manifest)
        splits, digest, description = source.load()
        recorded = run.manifest.get("data_digest")
        if recorded and digest != recorded:
            raise BadInput(f"the data of run {run.id} ({description}) is not the data it was "
                           "trained on (digest mismatch)", field="data")
        return Evaluator(source.build(None), source.objective(), {s: splits[s] for s in SPLITS if s in splits},
                         dtype=_DTYPES[dtype])

    return _evaluators.get(key, make)


def theta_of(run: Run, step: int) -> torch.Tensor:
    return _thetas.get((run.id, step), lambda: run.theta(step))


def remembered_theta(key: tuple, make) -> torch.Tensor:
    """A derived theta kept beside the checkpoints (e.g. an aligned one), made once per process."""
    return _thetas.get(key, make)


def random_theta(run: Run, seed: int, scale: float) -> torch.Tensor:
    """The architecture's own initializer drawn with `seed`, times `scale`."""
    model = source_of(run.manifest).build(seed)
    return run.layout.flatten_model(model) * scale


def buffer_basis(run: Run, steps: list[int | None], random_seed: int | None = None) -> torch.Tensor | None:
    """The buffers (BatchNorm statistics) that go with each basis vector of an evaluation: a
    checkpoint's own for a step, none (zeros) for a direction (None), and for a random endpoint
    (step "random") those of the freshly built model. None for a model without buffers."""
    layout = BufferLayout.from_json(run.manifest.get("buffers"))
    if not layout.names:
        return None
    rows = []
    for step in steps:
        if step is None:
            rows.append(torch.zeros(layout.numel))
        elif step == "random":
            rows.append(layout.flatten_model(source_of(run.manifest).build(random_seed)))
        else:
            rows.append(_thetas.get((run.id, step, "buffers"), lambda: run.buffers(step)))
    return torch.stack(rows)


def clear() -> None:
    _evaluators.clear()
    _thetas.clear()

