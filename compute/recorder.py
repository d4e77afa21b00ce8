"""Record any PyTorch training loop as a run: the Recorder.

Your own model, in four lines (the references are how any process rebuilds it, see models/user.py):

    from compute.recorder import Recorder
    rec = Recorder.of(model, model="mynet:build", data="mydata:splits", path="~/code/mynet")
    rec.record(step, epoch, model=model)      # in your loop, whenever you like
    run = rec.finish()                        # the learning curve evaluated, theta_f by validation cost

A built-in model is recorded the same way by compute/training.py, with its model id and preset:

    rec = Recorder(store, model, model_id="relu-mnist", preset="small", seed=0, dataset=ref)
    rec.record(step=0, epoch=0.0, model=model, costs={"train": ..., "valid": ...})

Checkpoints (θ and the model's float buffers, e.g. BatchNorm statistics) go to a staging folder
as they are recorded (a long run never sits in memory) and the run appears in the store only when
`finish` succeeds; an exception aborts it cleanly. Steps recorded without their costs are
evaluated exactly, on the whole splits, at `finish`.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file
from torch import nn

from models.datasets import DatasetRef
from models.errors import BadInput
from models.dropout import uses_dropout
from models.user import DataRef, LossRef, Ref, build_model, data_digest, shard_tables

from .batchnorm import BufferLayout, has_batchnorm
from .params import ParamLayout
from .store import Run, Store

Progress = Callable[[int, int], None]
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]*$")  # an imported run's name: it starts the run id


class Recorder:
    def __init__(self, store: Store, model: nn.Module, *, model_id: str, preset: str, seed: int,
                 dataset: DatasetRef | dict, data_digest: str | None = None, hyperparameters: dict | None = None,
                 arch: dict | None = None, extra: dict | None = None):
        self.store = store
        self.layout = ParamLayout.of(model)
        self.buffer_layout = BufferLayout.of(model)
        self.staging: Path | None = store.stage()
        self.steps: list[dict] = []
        self.meta = dict(model=model_id, preset=preset, seed=seed,
                         dataset=dataset.to_json() if isinstance(dataset, DatasetRef) else dataset,
                         data_digest=data_digest, hyperparameters=hyperparameters or {}, arch=arch or {},
                         layout=self.layout.to_json(), **(extra or {}))
        if self.buffer_layout.names:
            self.meta["buffers"] = self.buffer_layout.to_json()
        self._evaluate: Callable | None = None  # user runs: the learning curve is measured at finish

    @classmethod
    def of(cls, module: nn.Module, *, model: str, data: str, loss: str = "cross-entropy", path: str | None = None,
           name: str | None = None, store: Store | None = None, targets: str | None = None) -> "Recorder":
        """A Recorder of the user's own `module`, built by the factory `model` ("MOD:FN"), evaluated on
        `data` ("MOD:FN" or FILE.npz; `targets`: the targets' key of dict batches) with `loss`; the
        references are checked now, before training (data read in batches: one full pass, its digest)."""
        model_ref, data_ref = Ref.parse(model, "model", path), DataRef.parse(data, path, targets)
        loss_ref = LossRef.parse(loss, path)
        name = name or model_ref.function
        if not NAME.match(name) or len(name) > 64:
            raise BadInput(f"name {name!r}: use letters, digits, '_' and '.' (at most 64)", field="name")
        rebuilt = build_model(model_ref)
        if ParamLayout.of(rebuilt) != ParamLayout.of(module) or BufferLayout.of(rebuilt) != BufferLayout.of(module):
            raise BadInput(f"{model_ref} builds a model whose parameters differ from the one recorded", field="model")
        splits = data_ref.load()
        tables = shard_tables(splits)  # None for tensors
        objective = loss_ref.objective()
        source = {"kind": "user", "model": model_ref.to_json(), "data": data_ref.to_json(), "loss": loss_ref.to_json()}
        extra = dict(batchnorm=has_batchnorm(rebuilt), dropout=uses_dropout(rebuilt), source=source)
        if tables is not None:
            extra["data_shards"] = tables
        rec = cls(store or Store(), rebuilt, model_id=name, preset="imported", seed=0,
                  dataset={"name": "imported", "data": data_ref.to_json()}, data_digest=data_digest(splits, tables),
                  extra=extra)

        def evaluate(progress: Progress | None) -> None:
            from .evaluator import Evaluator, offset_progress  # here: it pulls in the line fast path's compiled loops

            names = [s for s in ("train", "valid") if s in splits]
            todo = [e for e in rec.steps if any(s not in e["cost"] for s in names)]
            if not todo:
                return
            evaluator = Evaluator(rebuilt, objective, splits, device="cpu")
            # a group of points at a time (whole groups of the evaluator's own: the same bits as all at
            # once), read from the staged checkpoints: the learning curve never holds every θ(t), and as
            # many θ as a quarter of the memory budget holds share one pass over (streamed) data
            per_call = evaluator.points_per_call
            fits = evaluator.memory_budget // 4 // max(1, 4 * rec.layout.numel) // per_call * per_call
            group = max(per_call, fits)
            for g0 in range(0, len(todo), group):
                entries = todo[g0:g0 + group]
                thetas, buffers = zip(*(_tensors(rec.staging, e) for e in entries))
                evaluation = evaluator.evaluate_points(
                    torch.stack(thetas), names, offset_progress(progress, g0 // group, -(-len(todo) // group)),
                    buffer_basis=torch.stack(buffers) if rec.buffer_layout.names else None)
                for i, entry in enumerate(entries):
                    for s in names:
                        metrics = evaluation.splits[s]
                        entry["cost"][s] = float(metrics.cost[i])
                        if metrics.error is not None:
                            entry["error"][s] = float(metrics.error[i])

        rec._evaluate = evaluate
        return rec

    def record(self, step: int, epoch: float, model: nn.Module | None = None, theta: torch.Tensor | None = None,
               costs: dict[str, float] | None = None, errors: dict[str, float] | None = None,
               buffers: torch.Tensor | None = None) -> None:
        """Record theta(step) (from `model`, or a flat `theta` and `buffers`) with its exact costs if known."""
        if self.staging is None:
            raise RuntimeError("this Recorder has finished")
        if self.steps and step <= self.steps[-1]["step"]:
            raise ValueError(f"steps must increase: {step} after {self.steps[-1]['step']}")
        if model is not None:
            theta = self.layout.flatten_model(model)
            buffers = self.buffer_layout.flatten_model(model)
        if self.buffer_layout.names and buffers is None:
            raise ValueError("this model has buffers (e.g. BatchNorm statistics): pass model= or buffers=")
        entry = self.store.save_checkpoint(self.staging, step, theta,
                                          buffers if self.buffer_layout.names else None)
        entry.update(epoch=round(float(epoch), 6), cost=dict(costs or {}), error=dict(errors or {}))
        self.steps.append(entry)

    def finish(self, final_step: int | None = None, progress: Progress | None = None) -> Run:
        """Commit the run. theta_f: `final_step`, else the lowest recorded validation cost."""
        if self.staging is None:
            raise RuntimeError("this Recorder has finished")
        if not self.steps:
            raise BadInput("nothing was recorded", field="steps")
        try:
            if self._evaluate is not None:
                self._evaluate(progress)
            if final_step is None:  # early stopping: the lowest validation cost (train without one)
                split = "valid" if any("valid" in s["cost"] for s in self.steps) else "train"
                measured = [s for s in self.steps if split in s["cost"]]
                final_step = (min(measured, key=lambda s: s["cost"][split]) if measured else self.steps[-1])["step"]
            if final_step not in {s["step"] for s in self.steps}:
                raise BadInput(f"final step {final_step} was not recorded (steps: "
                               f"{', '.join(str(s['step']) for s in self.steps[:10])}"
                               f"{', …' if len(self.steps) > 10 else ''})", field="final")
        except BaseException:
            self.abort()
            raise
        manifest = dict(self.meta, steps=self.steps, final_step=final_step,
                        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        staging, self.staging = self.staging, None
        return self.store.commit(staging, manifest)

    def abort(self) -> None:
        if self.staging is not None:
            self.store.abort(self.staging)
            self.staging = None

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


def _tensors(staging: Path, entry: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
    tensors = load_file(str(staging / entry["file"]))
    return tensors["theta"], tensors.get("buffers")
