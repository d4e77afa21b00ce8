"""Issue 20 §4, the store side: an import reads its checkpoints one at a time, its learning curve is
evaluated a group of points at a time, and the trajectory streams over the checkpoints; the results
are the bits of evaluating everything at once."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from compute.store import Store
from models.errors import BadInput

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))

from userpkg import data as user_data, resnet, train as user_train  # noqa: E402


def test_streamed_learning_curve_and_trajectory_are_the_bits_of_all_at_once(tmp_path):
    from compute import resources
    from compute.evaluator import Evaluator
    from compute.importing import import_run
    from compute.kinds.trajectory import line_frame
    from models.user import LossRef

    torch.manual_seed(0)
    folder = user_train.train_and_save(resnet.resnet8(), user_data.images(), tmp_path / "ckpts", steps=6, every=2)
    run = import_run(folder, "userpkg.resnet:resnet8", "userpkg.data:cifar_like", path=str(TESTS),
                     store=Store(tmp_path / "home"))
    steps = [s for s, _ in run.thetas()]
    thetas = torch.stack([t for _, t in run.thetas()])  # the old way: every θ(t) at once
    buffers = torch.stack([run.buffers(s) for s in steps])
    at_once = Evaluator(resnet.resnet8().eval(), LossRef("cross-entropy").objective(), user_data.cifar_like(),
                        device="cpu").evaluate_points(thetas, ["train", "valid"], buffer_basis=buffers)
    for i, entry in enumerate(run.manifest["steps"]):
        assert entry["cost"]["train"] == float(at_once.splits["train"].cost[i])
        assert entry["cost"]["valid"] == float(at_once.splits["valid"].cost[i])
        assert entry["error"]["valid"] == float(at_once.splits["valid"].error[i])

    resources._thetas.clear()
    frame = line_frame(run)
    cached = [k for k in resources._thetas.items if k[0] == run.id]
    assert sorted(k[1] for k in cached) == sorted({run.init_step, run.final_step}), cached  # not every θ(t)
    theta_i, theta_f = thetas[0].double(), thetas[steps.index(run.final_step)].double()
    u = (theta_f - theta_i) / torch.linalg.vector_norm(theta_f - theta_i)
    along = np.array([float((t.double() - theta_i) @ u) for t in thetas])
    assert np.array_equal(frame.alpha_distance, along)
    assert np.array_equal(frame.theta_norm, np.array([float(torch.linalg.vector_norm(t.double())) for t in thetas]))


_TINY_NET = '''
from torch import nn

def net():
    return nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
'''


def test_the_import_opens_each_checkpoint_once_at_its_turn(tmp_path, monkeypatch):
    """Every layout read through one open per checkpoint at its turn: its keys, shapes and tied copies
    checked and its θ(t) staged in the same pass. A Lightning .ckpt is opened once more before, for
    its global_step alone, and let go (not kept mapped until its turn)."""
    from safetensors.torch import save_file

    from compute import checkpoints
    from compute.importing import import_run

    (tmp_path / "tinynet.py").write_text(_TINY_NET)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x_train=rng.normal(size=(16, 4)).astype(np.float32),
             y_train=rng.integers(0, 2, 16), x_valid=rng.normal(size=(8, 4)).astype(np.float32),
             y_valid=rng.integers(0, 2, 8))
    torch.manual_seed(0)
    states = {step: {k: v + 0.1 * step for k, v in torch.nn.Sequential(
        torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2)).state_dict().items()} for step in (0, 1, 2)}
    layouts = {name: tmp_path / name for name in ("safetensors", "pt", "hf", "ckpt")}
    for folder in layouts.values():
        folder.mkdir()
    for step, state in states.items():
        save_file(state, str(layouts["safetensors"] / f"step_{step}.safetensors"))
        torch.save(state, layouts["pt"] / f"step_{step}.pt")
        (layouts["hf"] / f"checkpoint-{step}").mkdir()
        save_file(state, str(layouts["hf"] / f"checkpoint-{step}" / "model.safetensors"))
        torch.save({"global_step": step, "state_dict": {f"model.{k}": v for k, v in state.items()}},
                   layouts["ckpt"] / f"epoch={step}.ckpt")

    opened: list[str] = []
    real_safe_open, real_load = checkpoints.safe_open, torch.load

    def counting_safe_open(path, *args, **kwargs):
        opened.append(str(path))
        return real_safe_open(path, *args, **kwargs)

    def counting_load(path, *args, **kwargs):
        opened.append(str(path))
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(checkpoints, "safe_open", counting_safe_open)
    monkeypatch.setattr(torch, "load", counting_load)
    for name, folder in layouts.items():
        opened.clear()
        run = import_run(folder, "tinynet:net", str(tmp_path / "data.npz"), path=str(tmp_path),
                         store=Store(tmp_path / "home"), name=name)
        assert run.steps == [0, 1, 2]
        reads = [p for p in opened if p.startswith(str(folder))]
        opens = 2 if name == "ckpt" else 1
        assert len(set(reads)) == 3 and all(reads.count(p) == opens for p in reads), (name, reads)

    # read and staged in one pass: a bad last checkpoint is refused after the others were staged,
    # and the store is left as it was
    broken = tmp_path / "broken"
    broken.mkdir()
    for step, state in states.items():
        save_file({k: v for k, v in state.items() if step < 2 or k != "2.bias"}, str(broken / f"step_{step}.safetensors"))
    before = sorted(p.name for p in (tmp_path / "home" / "runs").iterdir())
    with pytest.raises(BadInput, match=r"step_2.safetensors: keys do not match the model \(missing 2.bias\)"):
        import_run(broken, "tinynet:net", str(tmp_path / "data.npz"), path=str(tmp_path), store=Store(tmp_path / "home"))
    assert sorted(p.name for p in (tmp_path / "home" / "runs").iterdir()) == before

    # the same with Lightning files: the last one is opened again at its turn, and refused then
    lightning = tmp_path / "broken_lightning"
    lightning.mkdir()
    for step, state in states.items():
        kept = {f"model.{k}": v for k, v in state.items() if step < 2 or k != "2.bias"}
        torch.save({"global_step": step, "state_dict": kept}, lightning / f"epoch={step}.ckpt")
    with pytest.raises(BadInput, match=r"epoch=2.ckpt: keys do not match the model \(missing 2.bias\)"):
        import_run(lightning, "tinynet:net", str(tmp_path / "data.npz"), path=str(tmp_path),
                   store=Store(tmp_path / "home"), prefix="model.")
    assert sorted(p.name for p in (tmp_path / "home" / "runs").iterdir()) == before


def test_a_lightning_file_rewritten_after_the_scan_is_read_as_it_is_at_its_turn(tmp_path, monkeypatch):
    """A live run rewrites last.ckpt while we import: the scan does not keep the file mapped, so at its
    turn the import reads the file that is there then (a map of the old one could SIGBUS on a file
    rewritten in place)."""
    from compute import importing

    (tmp_path / "tinynet.py").write_text(_TINY_NET)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x_train=rng.normal(size=(16, 4)).astype(np.float32),
             y_train=rng.integers(0, 2, 16), x_valid=rng.normal(size=(8, 4)).astype(np.float32),
             y_valid=rng.integers(0, 2, 8))
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    folder = tmp_path / "live"
    folder.mkdir()
    for step in (0, 1):
        state = {f"model.{k}": v + 0.1 * step for k, v in net.state_dict().items()}
        torch.save({"global_step": step, "state_dict": state}, folder / ("last.ckpt" if step else "epoch=0.ckpt"))
    rewritten = {f"model.{k}": v + 7.0 for k, v in net.state_dict().items()}
    real_build = importing.build_model

    def build_while_the_run_saves(ref):  # after the scan, before any checkpoint is read
        tmp = folder / ".last.ckpt.tmp"
        torch.save({"global_step": 1, "state_dict": rewritten}, tmp)
        os.replace(tmp, folder / "last.ckpt")
        return real_build(ref)

    monkeypatch.setattr(importing, "build_model", build_while_the_run_saves)
    run = importing.import_run(folder, "tinynet:net", str(tmp_path / "data.npz"), path=str(tmp_path),
                               store=Store(tmp_path / "home"))
    assert run.steps == [0, 1]
    theta = run.theta(1)
    expected = torch.cat([v.flatten() for v in rewritten.values()])
    assert torch.equal(theta.to(expected.dtype), expected)
