import json

import pytest
import torch

from models.errors import BadInput
from compute.params import ParamLayout
from compute.store import Store
from compute.recorder import Recorder
from compute.training import first_epoch_checkpoints
from models import get_model
from models.datasets import DatasetRef


def test_flatten_unflatten_round_trip():
    model = get_model("maxout-mnist").build("small", seed=3)
    layout = ParamLayout.of(model)
    theta = layout.flatten_model(model)
    assert theta.shape == (layout.numel,) == (sum(p.numel() for p in model.parameters()),)
    params = layout.unflatten(theta)
    for name, p in model.named_parameters():
        assert torch.equal(params[name], p)
    other = get_model("maxout-mnist").build("small", seed=4)
    layout.load_into(other, theta)
    assert torch.equal(layout.flatten_model(other), theta)
    assert ParamLayout.from_json(json.loads(json.dumps(layout.to_json()))) == layout
    batched = layout.unflatten(torch.stack([theta, 2 * theta]))
    assert torch.equal(batched["layers.0.weight"][1], 2 * params["layers.0.weight"])


def test_scalar_parameters_flatten():
    model = get_model("scalar-linear").build("small", seed=0)
    layout = ParamLayout.of(model)
    theta = layout.flatten_model(model)
    assert theta.shape == (2,)
    assert layout.unflatten(theta)["w1"].shape == ()


def _record(store, steps=(0, 1, 2), valid=(3.0, 1.0, 2.0)):
    model = get_model("scalar-linear").build("small", seed=0)
    rec = Recorder(store, model, model_id="scalar-linear", preset="small", seed=0, dataset=DatasetRef("scalar"))
    for step, v in zip(steps, valid):
        with torch.no_grad():
            model.w1.fill_(float(step))
        rec.record(step, float(step), model=model, costs={"train": v, "valid": v})
    return rec


def test_store_round_trip_and_final_by_validation(tmp_path):
    store = Store(tmp_path)
    run = _record(store).finish()
    assert run.final_step == 1  # the lowest validation cost
    again = store.load(run.id)
    assert again.steps == [0, 1, 2]
    assert float(again.theta(2)[0]) == 2.0
    assert store.load(run.id[:20]).id == run.id  # unique prefix
    assert [r.id for r in store.list_runs()] == [run.id]
    assert not [p for p in (tmp_path / "runs").iterdir() if p.name.startswith(".")]


def test_corrupted_checkpoint_is_refused(tmp_path):
    store = Store(tmp_path)
    run = _record(store).finish()
    path = run.path / run.manifest["steps"][1]["file"]
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BadInput, match="corrupted"):
        store.load(run.id).theta(1)
    path.write_bytes(bytes(data[:20]))  # truncated
    with pytest.raises(BadInput):
        store.load(run.id).theta(1)


def test_damaged_manifest_and_unknown_run(tmp_path):
    store = Store(tmp_path)
    run = _record(store).finish()
    with pytest.raises(BadInput, match="unknown run"):
        store.load("nope")
    (run.path / "manifest.json").write_text("{not json")
    with pytest.raises(BadInput, match="damaged"):
        store.load(run.id)


def test_aborted_recording_leaves_nothing(tmp_path):
    store = Store(tmp_path)
    with pytest.raises(RuntimeError):
        with _record(store):
            raise RuntimeError("training crashed")
    assert list((tmp_path / "runs").iterdir()) == []


def test_checkpoint_schedule_is_dense_at_the_start():
    steps = sorted(first_epoch_checkpoints(1000, 8))
    assert steps[0] <= 3 and len(steps) == 8 and steps[-1] < 1000
    gaps = [b - a for a, b in zip(steps, steps[1:])]
    assert gaps == sorted(gaps)


def test_training_lowers_cost_and_chooses_theta_f_by_validation(relu_run):
    steps = relu_run.manifest["steps"]
    assert steps[0]["step"] == 0
    valid = {s["step"]: s["cost"]["valid"] for s in steps}
    assert relu_run.final_step == min(valid, key=valid.get)
    assert valid[relu_run.final_step] < 0.5 * steps[0]["cost"]["valid"]
    assert steps[-1]["cost"]["train"] < steps[0]["cost"]["train"]
    assert len([s for s in steps if s["epoch"] < 1]) >= 5  # dense early checkpoints
