"""Import a folder of checkpoints of any PyTorch model as a run (`landscape import`).

    landscape import ckpts/ --model mynet:build --data mydata:splits --path ~/code/mynet
    run = import_run("ckpts/", "mynet:build", "mydata:splits", path="~/code/mynet")

The folder holds one training run's checkpoints: `*.safetensors`, or `*.pt` / `*.pth` state
dicts (also wrapped as {"state_dict": ...} or {"model": ...}; a DataParallel `module.` prefix is
stripped). `.pt` files are read with torch.load(weights_only=True) only: a file that needs
arbitrary unpickling is refused. The step of a file is the last integer in its name
(`step_100.pt`, `epoch-3.safetensors`, `ckpt0007.pth`); the smallest step is θ_i. Each checkpoint
is evaluated on the data (the learning curve, so the Trajectory view works) and θ_f is `final_step`
or the checkpoint with the lowest validation cost. Everything is checked before anything is
written: a bad file, key or shape is one BadInput naming it, and the store is left unchanged.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from models.errors import BadInput
from models.user import Ref, build_model

from .batchnorm import BufferLayout
from .params import ParamLayout
from .recorder import Recorder
from .store import Run, Store

SUFFIXES = (".safetensors", ".pt", ".pth")
_LAST_INT = re.compile(r"(\d+)(?!.*\d)")


def find_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """(step, file) of every checkpoint in `folder`, by step."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise BadInput(f"{str(folder)!r} is not a folder of checkpoints", field="dir")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SUFFIXES)
    if not files:
        raise BadInput(f"no checkpoints in {folder} (looked for {', '.join('*' + s for s in SUFFIXES)})", field="dir")
    steps: dict[int, Path] = {}
    for file in files:
        match = _LAST_INT.search(file.stem)
        if match is None:
            raise BadInput(f"{file.name}: no step number in the file name (e.g. step_100.pt, "
                           "epoch-3.safetensors)", field="dir")
        step = int(match.group(1))
        if step in steps:
            raise BadInput(f"{file.name} and {steps[step].name} both name step {step}", field="dir")
        steps[step] = file
    return sorted(steps.items())


def read_state_dict(file: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, unwrapped; never unpickles anything but tensors."""
    try:
        if file.suffix == ".safetensors":
            state = load_file(str(file))
        else:
            state = torch.load(file, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError, SafetensorError, OSError, EOFError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, pickle.UnpicklingError) or "weights_only" in str(exc):
            reason = "it holds objects that only unpickling arbitrary code could load; save a state_dict " \
                     "(model.state_dict()) or use safetensors"
        raise BadInput(f"{file.name}: refused ({reason})", field="dir") from None
    for wrapper in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BadInput(f"{file.name}: not a state_dict of tensors", field="dir")
    if state and all(k.startswith("module.") for k in state):  # saved from DataParallel
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def split_state(model: nn.Module, layout: ParamLayout, buffers: BufferLayout, state: dict[str, torch.Tensor],
                file: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(θ, float buffers) of a state dict, after checking its keys and shapes against `model`."""
    expected = {**dict(zip(layout.names, layout.shapes)), **dict(zip(buffers.names, buffers.shapes))}
    optional = {n for n, b in model.named_buffers() if not b.is_floating_point()}  # e.g. num_batches_tracked
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected) - optional)
    if missing or unexpected:
        parts = ([f"missing {_few(missing)}"] if missing else []) + ([f"unexpected {_few(unexpected)}"] if unexpected else [])
        raise BadInput(f"{file}: keys do not match the model ({'; '.join(parts)})", field="dir")
    wrong = [f"{n} {tuple(state[n].shape)} (model: {shape})" for n, shape in expected.items()
             if tuple(state[n].shape) != tuple(shape)]
    if wrong:
        raise BadInput(f"{file}: shapes do not match the model: {_few(wrong)}", field="dir")
    theta = layout.flatten({n: state[n].float() for n in layout.names})
    return theta, buffers.flatten(state)


def _few(items: list[str]) -> str:
    return ", ".join(items[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")


def import_run(folder: str | Path, model: str, data: str, loss: str = "cross-entropy", path: str | None = None,
               name: str | None = None, final_step: int | None = None, store: Store | None = None,
               progress: Callable[[int, int], None] | None = None, targets: str | None = None) -> Run:
    """Import the checkpoints in `folder` as a run of the user's model (see the module docstring)."""
    checkpoints = find_checkpoints(folder)
    net = build_model(Ref.parse(model, "model", path))
    layout, buffers = ParamLayout.of(net), BufferLayout.of(net)
    states = [(step, *split_state(net, layout, buffers, read_state_dict(file), file.name)) for step, file in checkpoints]
    if final_step is not None and final_step not in {s for s, _, _ in states}:
        raise BadInput(f"--final {final_step}: no checkpoint has that step (steps: "
                       f"{', '.join(str(s) for s, _, _ in states[:10])}{', …' if len(states) > 10 else ''})",
                       field="final")
    name = name or Path(folder).expanduser().resolve().name
    with Recorder.of(net, model=model, data=data, loss=loss, path=path, name=name, store=store,
                      targets=targets) as rec:
        for step, theta, buffer in states:  # epochs are unknown: the step stands in
            rec.record(step, float(step), theta=theta, buffers=buffer if buffers.names else None)
        return rec.finish(final_step, progress)
