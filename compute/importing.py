"""Import a folder of checkpoints of any PyTorch model as a run (`landscape import`).

    landscape import ckpts/ --model mynet:build --data mydata:splits --path ~/code/mynet
    run = import_run("ckpts/", "mynet:build", "mydata:splits", path="~/code/mynet")

The folder holds one training run's checkpoints (compute/checkpoints.py reads them, lazily and
tensors only): `*.safetensors`; `*.pt` / `*.pth` state dicts (also wrapped as {"state_dict": ...}
or {"model": ...}); Lightning `*.ckpt`; Hugging Face folders (save_pretrained's, a Trainer's
`checkpoint-500/`, sharded or not). A file that needs arbitrary unpickling is refused. The step of
a checkpoint is a Lightning file's `global_step`, else the last integer in its name
(`step_100.pt`, `epoch-3.safetensors`, `ckpt0007.pth`, `checkpoint-500/`); Lightning's
`last.ckpt` is skipped when another file has its step. The smallest step is θ_i.

Keys: a state dict may hold the module under a prefix (`model.` as a LightningModule holds it,
DataParallel's `module.`): `prefix` names it, or it is found when exactly one prefix makes the keys
match the model; with a prefix only the keys under it are read. Shared (tied) parameters are one
entry of θ (compute/params.py); a state dict may hold them under any of their names, or under
several (which must then be equal).

Keys a Hugging Face model declares ignorable (`_keys_to_ignore_on_load_unexpected`, e.g. the causal
masks older GPT-2 files hold) are ignored as `from_pretrained` ignores them.

Each checkpoint is evaluated on the data (the learning curve, so the Trajectory view works) and θ_f
is `final_step` or the checkpoint with the lowest validation cost. Each checkpoint is opened and
read once, checked and staged in the same pass, one at a time: the import never holds more than one
θ(t) (a Lightning file is opened twice: first for its `global_step` alone, then at its turn).
The first checkpoint is checked before the data is read, so a wrong model or prefix is refused at
once. A bad file, key or shape is one BadInput naming it, and the store is left unchanged: what was
staged is removed (compute/recorder.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from models.errors import BadInput
from models.user import Ref, build_model

from .batchnorm import BufferLayout
from .checkpoints import FILE_SUFFIXES, Tensors, hf_weights, inside, open_checkpoint
from .params import ParamLayout
from .recorder import Recorder
from .store import Run, Store

_LAST_INT = re.compile(r"(\d+)(?!.*\d)")
_MAX_PATH = 4096


def import_folder(folder: str | Path) -> Path:
    """The folder to import, checked: one line for a name no file system takes (too long, a NUL)."""
    text = str(folder)
    shown = repr(text) if len(text) <= 80 else repr(text[:60]) + f"… ({len(text)} characters)"
    if not text.strip() or len(text) > _MAX_PATH or "\x00" in text:
        raise BadInput(f"{shown} is not a folder of checkpoints", field="dir")
    try:
        path = Path(text).expanduser()
        if path.is_dir():
            return path
    except (OSError, ValueError, RuntimeError) as exc:  # e.g. ENAMETOOLONG on one component
        raise BadInput(f"{shown} is not a folder of checkpoints ({getattr(exc, 'strerror', None) or exc})",
                       field="dir") from None
    raise BadInput(f"{shown} is not a folder of checkpoints", field="dir")


def find_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """(step, file or Hugging Face folder) of every checkpoint in `folder`, by step. A Lightning
    file is opened for its `global_step` and let go at once: the import opens it again at its turn,
    so no file stays memory-mapped meanwhile (a live run rewriting last.ckpt under a map would kill
    us with SIGBUS)."""
    folder = import_folder(folder)
    root = folder.resolve()
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if (entry.suffix in FILE_SUFFIXES and entry.is_file()) or (entry.is_dir() and hf_weights(entry)):
            inside(entry, root, entry.name)  # a link out of the folder is refused, not followed
            found.append(entry)
    if not found:
        hint = " (it is one model folder: import the folder holding its checkpoints)" if hf_weights(folder) else ""
        raise BadInput(f"no checkpoints in {folder}{hint} (looked for {', '.join('*' + s for s in FILE_SUFFIXES)} "
                       f"and folders holding {' or '.join(('model.safetensors', 'pytorch_model.bin'))})", field="dir")
    steps: dict[int, Path] = {}
    for entry in found:
        step = _step_of(entry, root)
        if step in steps and "last.ckpt" in (entry.name, steps[step].name):
            if entry.name != "last.ckpt":  # Lightning's copy of the last one gives way
                steps[step] = entry
            continue
        if step in steps:
            raise BadInput(f"{entry.name} and {steps[step].name} both name step {step}", field="dir")
        steps[step] = entry
    return sorted(steps.items())


def _step_of(entry: Path, root: Path) -> int:
    if entry.suffix == ".ckpt":  # Lightning records its step
        global_step = open_checkpoint(entry, root).global_step  # the rest of the file let go here
        if global_step is not None:
            return global_step
    match = _LAST_INT.search(entry.stem if entry.is_file() else entry.name)
    if match is None:
        raise BadInput(f"{entry.name}: no step number in the name (e.g. step_100.pt, epoch-3.safetensors, "
                       "checkpoint-500/)", field="dir")
    return int(match.group(1))


def read_state_dict(file: Path, root: Path | None = None) -> Tensors:
    """The tensors of a checkpoint (a file or a Hugging Face folder), unwrapped and read lazily;
    never unpickles anything but tensors."""
    file = Path(file)
    return open_checkpoint(file, (root or file.parent).resolve()).tensors


def match_keys(state: Tensors, aliases: dict[str, tuple[str, ...]], buffers: BufferLayout, prefix: str | None,
               file: str) -> Tensors:
    """`state` with the prefix the module is held under taken off (see the module docstring)."""
    if prefix is not None:
        under = {k[len(prefix):]: k for k in state if k.startswith(prefix)}
        if not under:
            shown = repr(prefix) if len(prefix) <= 80 else repr(prefix[:60]) + "…"
            raise BadInput(f"{file}: --prefix {shown} matches no key (keys: {_few(sorted(state))})", field="prefix")
        return state.renamed(under)
    if _covers(set(state), aliases, buffers):
        return state
    known = {a for names in aliases.values() for a in names} | set(buffers.names)
    candidates = {k[:i + 1] for k in state for i, c in enumerate(k) if c == "." and k[i + 1:] in known}
    fitting = sorted(p for p in candidates if _covers({k[len(p):] for k in state if k.startswith(p)}, aliases, buffers))
    if len(fitting) > 1:
        raise BadInput(f"{file}: the model's keys are under several prefixes ({', '.join(fitting[:5])}); "
                       "say which with --prefix", field="prefix")
    if fitting:
        return state.renamed({k[len(fitting[0]):]: k for k in state if k.startswith(fitting[0])})
    return state  # split_state names what is missing


def _covers(keys: set[str], aliases: dict[str, tuple[str, ...]], buffers: BufferLayout) -> bool:
    return all(any(a in keys for a in names) for names in aliases.values()) and set(buffers.names) <= keys


def split_state(model: nn.Module, layout: ParamLayout, buffers: BufferLayout, state: Tensors | dict,
                file: str, aliases: dict[str, tuple[str, ...]] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(θ, float buffers) of a state dict, after checking its keys and shapes against `model`."""
    aliases = aliases or layout.aliases(model)
    shapes = dict(zip(layout.names, layout.shapes))
    optional = {n for n, b in model.named_buffers() if not b.is_floating_point()}  # e.g. num_batches_tracked
    held = {n: [a for a in names if a in state] for n, names in aliases.items()}
    missing = sorted(n for n, present in held.items() if not present) + sorted(set(buffers.names) - set(state))
    known = {a for names in aliases.values() for a in names} | set(buffers.names) | optional
    # keys a Hugging Face model says to ignore on loading (old GPT-2 files hold their causal masks)
    ignored = [re.compile(p) for p in getattr(model, "_keys_to_ignore_on_load_unexpected", None) or []]
    unexpected = sorted(k for k in set(state) - known if not any(p.search(k) for p in ignored))
    if missing or unexpected:
        parts = ([f"missing {_few(missing)}"] if missing else []) + ([f"unexpected {_few(unexpected)}"] if unexpected else [])
        raise BadInput(f"{file}: keys do not match the model ({'; '.join(parts)})", field="dir")
    expected = {**{held[n][0]: shapes[n] for n in layout.names}, **dict(zip(buffers.names, buffers.shapes))}
    expected.update({a: shapes[n] for n in layout.names for a in held[n][1:]})
    wrong = [f"{n} {_shape(state, n)} (model: {shape})" for n, shape in expected.items()
             if _shape(state, n) != tuple(shape)]
    if wrong:
        raise BadInput(f"{file}: shapes do not match the model: {_few(wrong)}", field="dir")
    theta = torch.empty(layout.numel)
    for n, (lo, hi) in layout.offsets().items():  # one tensor read at a time into θ
        value = state[held[n][0]]
        for other in held[n][1:]:  # a shared parameter saved under several names
            if not torch.equal(state[other], value):
                raise BadInput(f"{file}: {held[n][0]} and {other} are one shared parameter of the model but "
                               "differ in this checkpoint", field="dir")
        theta[lo:hi] = value.float().reshape(-1)
    return theta, buffers.flatten({n: state[n] for n in buffers.names})


def _shape(state: Tensors | dict, name: str) -> tuple[int, ...]:
    return state.shape(name) if isinstance(state, Tensors) else tuple(state[name].shape)


def _few(items: list[str]) -> str:
    items = [i if len(i) <= 120 else i[:117] + "..." for i in items]
    return ", ".join(items[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")


def import_run(folder: str | Path, model: str, data: str, loss: str = "cross-entropy", path: str | None = None,
               name: str | None = None, final_step: int | None = None, store: Store | None = None,
               progress: Callable[[int, int], None] | None = None, prefix: str | None = None,
               targets: str | None = None) -> Run:
    """Import the checkpoints in `folder` as a run of the user's model (see the module docstring)."""
    checkpoints = find_checkpoints(folder)
    steps = [s for s, _ in checkpoints]
    if final_step is not None and final_step not in steps:
        raise BadInput(f"--final {final_step}: no checkpoint has that step (steps: "
                       f"{', '.join(str(s) for s in steps[:10])}{', …' if len(steps) > 10 else ''})",
                       field="final")
    root = Path(folder).expanduser().resolve()
    net = build_model(Ref.parse(model, "model", path))
    layout, buffers = ParamLayout.of(net), BufferLayout.of(net)
    aliases = layout.aliases(net)

    def read(i: int) -> tuple[torch.Tensor, torch.Tensor]:  # (θ, float buffers) of checkpoint i
        file = checkpoints[i][1]
        return split_state(net, layout, buffers, match_keys(read_state_dict(file, root), aliases, buffers, prefix,
                                                            file.name), file.name, aliases)

    first = read(0)  # a wrong model or prefix is refused before the data is read
    with Recorder.of(net, model=model, data=data, loss=loss, path=path, name=name or root.name, store=store,
                      targets=targets) as rec:
        for i, (step, _) in enumerate(checkpoints):  # epochs are unknown: the step stands in
            theta, buffer = first if i == 0 else read(i)
            first = None  # one θ(t) at a time
            rec.record(step, float(step), theta=theta, buffers=buffer if buffers.names else None)
        return rec.finish(final_step, progress)
