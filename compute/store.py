"""Runs on disk under $LANDSCAPE_HOME/runs (default ~/.landscape/runs).

A run is one folder:
  manifest.json                 model id, preset, hyper-parameters, seed, dataset, parameter
                                layout, recorded steps, learning curve, the step chosen as theta_f,
                                and the SHA-256 of every tensor file
  step_00000000.safetensors ... one flat theta per recorded step (tensors only)
The run id ends with a digest of all of that, so a cache key that names a run names its content.
A run is written into a temporary folder and renamed into place: it is either whole or absent.
Loading checks the manifest against the run id's digest (an edited manifest, say a changed
`final_step`, is refused rather than served under the old cache keys), that its steps are a
non-empty list holding `final_step`, and that every step file is a plain name inside the run's
folder; it reads tensors with safetensors (never pickle) and checks each file's digest. A run
that fails any of this is *damaged*: `Store.damaged()` lists it with the reason, and it never
takes the other runs down.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterable, Iterator

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from models.errors import BadInput
from .params import ParamLayout
from . import signing
from .settings import setting

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def landscape_home() -> Path:
    return Path(setting("LANDSCAPE_HOME")).expanduser()


def run_matches(ref: str, ids: Iterable[str]) -> list[str]:
    """The run ids a reference names, the one rule of the store, the CLI, the page and the API: the
    id itself; else the ids it is a prefix of up to a '-' (`relu-mnist-small-s1` names seed 1's
    run, never `...-s10-...`); else the ids it is any prefix of (a digest cut short, as with git).
    One id found: that run; several: ambiguous."""
    ids = [i for i in ids if not i.startswith(".")]
    if ref in ids:
        return [ref]
    return [i for i in ids if i.startswith(ref + "-")] or [i for i in ids if i.startswith(ref)]


def unknown_run(ref: str, candidates: list[str], field: str = "run") -> BadInput:
    """The one message for a run reference that names no single run: the candidates when it is
    an ambiguous prefix (the CLI, the page and the API say the same)."""
    if candidates:
        shown = ", ".join(sorted(candidates)[:8]) + (", …" if len(candidates) > 8 else "")
        return BadInput(f"run {ref!r} is ambiguous: {len(candidates)} runs start with it ({shown})", field=field)
    return BadInput(f"unknown run {ref!r}; `landscape runs` lists them", field=field)


def step_file(step: int) -> str:
    return f"step_{step:08d}.safetensors"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass
class Run:
    path: Path
    manifest: dict

    @property
    def id(self) -> str:
        return self.manifest["run_id"]

    @property
    def model_id(self) -> str:
        return self.manifest["model"]

    @property
    def preset(self) -> str:
        return self.manifest["preset"]

    @property
    def family(self) -> str:
        """Runs of one family share architecture and data, so their θ can be joined by a line:
        a zoo model and preset, or the user's model factory for an imported run."""
        source = self.manifest.get("source")
        model = f"{source['model']['module']}:{source['model']['function']}" if source else self.model_id
        return f"{model}/{self.preset}"

    @cached_property
    def layout(self) -> ParamLayout:
        return ParamLayout.from_json(self.manifest["layout"])

    @property
    def steps(self) -> list[int]:
        return [s["step"] for s in self.manifest["steps"]]

    @property
    def init_step(self) -> int:
        return self.steps[0]

    @property
    def final_step(self) -> int:
        return self.manifest["final_step"]

    def theta(self, step: int) -> torch.Tensor:
        """Flat theta recorded at `step`, checked against the manifest's digest."""
        return self._tensor(step, "theta")

    def buffers(self, step: int) -> torch.Tensor | None:
        """The model's float buffers at `step` (BatchNorm statistics), None for a model without."""
        if not self.manifest.get("buffers"):
            return None
        return self._tensor(step, "buffers")

    def _tensor(self, step: int, name: str) -> torch.Tensor:
        """One tensor of a step's file (memory-mapped: the other one is not read)."""
        entry = next((s for s in self.manifest["steps"] if s["step"] == step), None)
        if entry is None:
            raise BadInput(f"run {self.id} has no checkpoint at step {step}; recorded steps: "
                           f"{_summarise(self.steps)}", field="endpoint")
        path = self.path / entry["file"]
        try:
            digest = sha256_file(path)
        except OSError as exc:
            raise BadInput(f"run {self.id}: cannot read {entry['file']}: {exc.strerror}", field="run") from None
        if digest != entry["sha256"]:
            raise BadInput(f"run {self.id}: checkpoint {entry['file']} is corrupted or was modified "
                           "(digest mismatch); refusing to load it", field="run")
        try:
            with safe_open(str(path), framework="pt") as tensors:
                names = set(tensors.keys())
                if self.manifest.get("buffers") and "buffers" not in names:
                    raise BadInput(f"run {self.id}: checkpoint {entry['file']} lacks the model's buffers",
                                   field="run")
                shape = tuple(tensors.get_slice("theta").get_shape())
                if shape != (self.layout.numel,):
                    raise BadInput(f"run {self.id}: checkpoint {entry['file']} has shape {shape}, "
                                   f"expected ({self.layout.numel},)", field="run")
                return tensors.get_tensor(name)
        except (SafetensorError, KeyError, OSError) as exc:
            raise BadInput(f"run {self.id}: checkpoint {entry['file']} is unreadable: {exc}", field="run") from None

    def thetas(self, steps: list[int] | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        """(step, θ) of each recorded step (or of `steps`), read one at a time: a long run never
        sits in memory whole."""
        for step in steps or self.steps:
            yield step, self.theta(step)


def content_id(manifest: dict) -> str:
    """The run id its manifest's content gives: model-preset-sSEED-<digest of the rest>."""
    core = {k: v for k, v in manifest.items() if k not in ("run_id", "created", "signature")}  # signing.py
    digest = hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()
    return f"{manifest['model']}-{manifest['preset']}-s{manifest['seed']}-{digest[:10]}"


def _check_manifest(manifest: dict) -> None:
    """ValueError saying what is wrong with a manifest that parsed (see the module docstring)."""
    if content_id(manifest) != manifest["run_id"]:
        raise ValueError("its content does not match the run id's digest: it was edited")
    steps = manifest["steps"]
    if not isinstance(steps, list) or not steps:
        raise ValueError("it records no steps")
    for entry in steps:
        name = entry["file"]
        if not isinstance(name, str) or Path(name).name != name or name.startswith(".") or "\\" in name:
            raise ValueError(f"step file {name!r} is not a file of the run's folder")
    if manifest["final_step"] not in [s["step"] for s in steps]:
        raise ValueError(f"final_step {manifest['final_step']} is not among its steps")


def _summarise(steps: list[int]) -> str:
    return ", ".join(map(str, steps)) if len(steps) <= 12 else (
        ", ".join(map(str, steps[:6])) + ", ..., " + ", ".join(map(str, steps[-3:])))


class Store:
    def __init__(self, home: str | os.PathLike | None = None):
        self.home = Path(home) if home is not None else landscape_home()
        self.runs_dir = self.home / "runs"

    def list_runs(self) -> list[Run]:
        return self.scan()[0]

    def damaged(self) -> list[tuple[str, str]]:
        """(folder name, what is wrong) of every run that cannot be loaded."""
        return self.scan()[1]

    def scan(self) -> tuple[list[Run], list[tuple[str, str]]]:
        """The runs that load, and the damaged ones with the reason."""
        if not self.runs_dir.is_dir():
            return [], []
        runs, damaged = [], []
        for path in sorted(self.runs_dir.iterdir()):
            if path.name.startswith(".") or not (path / MANIFEST).is_file():
                continue
            try:
                runs.append(self.load(path.name))
            except BadInput as exc:
                damaged.append((path.name, exc.message))
        return runs, damaged

    def load(self, run_id: str) -> Run:
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise BadInput(f"malformed run id {run_id!r}", field="run")
        path = self.runs_dir / run_id
        if not (path / MANIFEST).is_file():
            known = [p.name for p in self.runs_dir.iterdir()] if self.runs_dir.is_dir() else []
            matches = run_matches(run_id, known)
            if len(matches) == 1:
                return self.load(matches[0])
            raise unknown_run(run_id, matches)
        try:
            manifest = json.loads((path / MANIFEST).read_text())
            if manifest.get("format_version") != FORMAT_VERSION or manifest.get("run_id") != path.name:
                raise ValueError("format or id mismatch")
            for key in ("model", "preset", "layout", "steps", "final_step", "dataset"):
                manifest[key]
            _check_manifest(manifest)
        except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
            raise BadInput(f"run {path.name}: manifest is damaged ({exc})", field="run") from None
        return Run(path, manifest)

    def stage(self) -> Path:
        """A private folder for a run being recorded; `commit` moves it into place."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.runs_dir))

    @staticmethod
    def save_checkpoint(staging: Path, step: int, theta: torch.Tensor, buffers: torch.Tensor | None = None) -> dict:
        """theta(step), and the model's float buffers at that step (BatchNorm statistics) if it has any."""
        name = step_file(step)
        tmp = staging / f".{name}.part"
        tensors = {"theta": theta.detach().float().contiguous().cpu()}
        if buffers is not None:
            tensors["buffers"] = buffers.detach().float().contiguous().cpu()
        save_file(tensors, str(tmp))
        os.replace(tmp, staging / name)
        return {"step": step, "file": name, "sha256": sha256_file(staging / name)}

    def commit(self, staging: Path, manifest: dict) -> Run:
        """Name the staged run by its content digest and move it into place atomically."""
        try:
            manifest["format_version"] = FORMAT_VERSION
            run_id = content_id(manifest)
            manifest["run_id"] = run_id
            signing.sign(manifest)  # an imported run's references: see compute/signing.py
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
            final = self.runs_dir / run_id
            signing.drop_unverified(final)  # the same run imported by an earlier version: replaced
            if final.exists():  # the same content was recorded before
                shutil.rmtree(staging)
            else:
                os.replace(staging, final)
        except BaseException:
            self.abort(staging)
            raise
        return self.load(run_id)

    def resign(self, ref: str) -> Run:
        """Sign the run `ref` with this machine's key, as it is: for a run the user inspected and trusts
        (`landscape runs --resign RUN`); its content digest is checked first, as on every load."""
        run = self.load(ref)
        manifest = dict(run.manifest)
        manifest.pop("signature", None)
        if not signing.has_user_references(manifest):
            raise BadInput(f"run {run.id} is a built-in run: it names no user code and needs no signature", field="run")
        signing.sign(manifest)
        atomic_write_text(run.path / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
        return self.load(run.id)

    @staticmethod
    def abort(staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)
