"""Importing a user's own model (issue 11): a package under tests/userpkg written as a user would,
trained by plain loops that save checkpoints, imported, and checked against independent loops."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from compute.importing import find_checkpoints, import_run
from compute.store import Store
from models.errors import BadInput

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))  # the user's package, as `--path tests` puts it there

from userpkg import data as user_data, resnet, train as user_train, transformer  # noqa: E402


def _cost(model, x, y):
    """An independent evaluation: the user's model in eval mode, the mean cross-entropy."""
    model.eval()
    with torch.no_grad():
        out = model(x)
        return float(F.cross_entropy(out.flatten(0, -2), y.flatten(), reduction="none")
                     .reshape(len(y), -1).mean(dim=1).mean())


@pytest.fixture(scope="module")
def resnet_ckpts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resnet8")
    torch.manual_seed(0)
    return user_train.train_and_save(resnet.resnet8(), user_data.images(), folder)


@pytest.fixture
def empty_store(tmp_path):
    return Store(tmp_path / "home")


def _import(folder, store, **kw):
    kw.setdefault("model", "userpkg.resnet:resnet8")
    kw.setdefault("data", "userpkg.data:cifar_like")
    return import_run(folder, path=str(TESTS), store=store, **kw)


def test_steps_are_read_from_the_file_names(tmp_path):
    for name in ("step_100.pt", "epoch-3.safetensors", "ckpt0007.pth", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [(s, p.name) for s, p in find_checkpoints(tmp_path)] == [
        (3, "epoch-3.safetensors"), (7, "ckpt0007.pth"), (100, "step_100.pt")]


def test_resnet_import_records_every_checkpoint_with_its_exact_cost(resnet_ckpts, empty_store):
    run = _import(resnet_ckpts, empty_store)
    assert run.steps == [0, 2, 4, 6] and run.init_step == 0
    assert run.manifest["batchnorm"] is True and run.manifest["source"]["model"]["module"] == "userpkg.resnet"
    splits = user_data.cifar_like()
    for entry in run.manifest["steps"]:
        model = resnet.resnet8()
        model.load_state_dict(torch.load(resnet_ckpts / f"step_{entry['step']}.pt", weights_only=True))
        assert entry["cost"]["train"] == pytest.approx(_cost(model, *splits["train"]), abs=2e-6)
        assert entry["cost"]["valid"] == pytest.approx(_cost(model, *splits["valid"]), abs=2e-6)
    best = min(run.manifest["steps"], key=lambda e: e["cost"]["valid"])["step"]
    assert run.final_step == best
    assert run.buffers(run.final_step) is not None and run.theta(run.init_step).numel() == sum(
        p.numel() for p in resnet.resnet8().parameters())


def test_final_step_can_be_chosen(resnet_ckpts, empty_store):
    assert _import(resnet_ckpts, empty_store, final_step=4).final_step == 4


def test_wrapped_and_data_parallel_state_dicts_and_safetensors(tmp_path, empty_store):
    model = resnet.resnet8()
    state = model.state_dict()
    torch.save({"state_dict": state, "epoch": 0}, tmp_path / "ckpt0.pt")
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "ckpt1.pth")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "ckpt2.safetensors"))
    run = _import(tmp_path, empty_store)
    assert run.steps == [0, 1, 2]
    assert torch.equal(run.theta(0), run.theta(1)) and torch.equal(run.theta(1), run.theta(2))


def test_a_transformer_language_model_on_tokens(tmp_path, empty_store):
    data = user_data.tokens()
    folder = user_train.train_and_save(transformer.tiny_lm(), data, tmp_path / "lm", steps=4, every=2)
    run = _import(folder, empty_store, model="userpkg.transformer:tiny_lm", data="userpkg.data:tokens")
    assert run.manifest["batchnorm"] is False and run.steps == [0, 2, 4]
    model = transformer.tiny_lm()
    model.load_state_dict(torch.load(folder / "step_4.pt", weights_only=True))
    step4 = next(e for e in run.manifest["steps"] if e["step"] == 4)
    assert step4["cost"]["train"] == pytest.approx(_cost(model, *data["train"]), abs=2e-6)

    from compute.kinds.line import LineQuery, compute_line
    from compute.kinds import resolve

    line = compute_line(resolve(LineQuery.from_args(f"step:{run.id}:0", f"step:{run.id}:4", "-0.5:1.5", 3, "train"),
                                empty_store), empty_store)
    for alpha, cost in zip(line.alpha, line.cost["train"]):
        between = _interpolated_model(folder, alpha, 0, 4, factory=transformer.tiny_lm)
        assert cost == pytest.approx(_cost(between, *data["train"]), abs=1e-5)


def _store_files(store):
    return sorted(str(p.relative_to(store.home)) for p in store.home.rglob("*")) if store.home.exists() else []


class _Payload:
    def __reduce__(self):
        return (print, ("this ran while unpickling",))


BAD_IMPORTS = [
    ("missing dir", "is not a folder"),
    ("no checkpoints", "no checkpoints"),
    ("no step number", "no step number"),
    ("mismatched keys", "keys do not match"),
    ("mismatched shapes", "shapes do not match"),
    ("pickle payload", "refused"),
    ("factory raises", "raised RuntimeError"),
    ("wrong data shape", "same number"),
    ("unknown module", "cannot import module"),
]


def _bad_import(case: str, tmp_path: Path) -> tuple[Path, dict]:
    """A checkpoint folder and import arguments with one thing wrong, as `case` names it."""
    folder = tmp_path / "ckpts"
    folder.mkdir()
    state = resnet.resnet8().state_dict()
    kw = {}
    if case == "missing dir":
        folder = tmp_path / "nowhere"
    elif case == "no checkpoints":
        (folder / "README.txt").write_text("the checkpoints were elsewhere")
    elif case == "no step number":
        torch.save(state, folder / "final.pt")
    elif case == "mismatched keys":
        torch.save({k: v for k, v in state.items() if not k.startswith("head.")}, folder / "step_0.pt")
    elif case == "mismatched shapes":
        torch.save(dict(state, **{"head.bias": torch.zeros(3)}), folder / "step_0.pt")
    elif case == "pickle payload":
        with open(folder / "step_0.pt", "wb") as f:
            pickle.dump({"x": _Payload()}, f)
    else:
        torch.save(state, folder / "step_0.pt")
        kw = {"factory raises": dict(model="userpkg.resnet:broken"),
              "wrong data shape": dict(data="userpkg.data:wrong_shape"),
              "unknown module": dict(model="nosuchpkg.nets:net")}.get(case, {})
    return folder, kw


@pytest.mark.parametrize("case, message", BAD_IMPORTS)
def test_bad_imports_say_what_and_write_nothing(case, message, tmp_path, empty_store):
    folder, kw = _bad_import(case, tmp_path)
    before = _store_files(empty_store)
    with pytest.raises(BadInput) as info:
        _import(folder, empty_store, **kw)
    assert message in info.value.message, info.value.message
    assert "\n" not in info.value.message
    assert _store_files(empty_store) == before


@pytest.mark.parametrize("case, message", BAD_IMPORTS)
def test_bad_imports_on_the_command_line_exit_2_with_one_line(case, message, tmp_path, monkeypatch, capsys):
    from app.cli import main

    folder, kw = _bad_import(case, tmp_path)
    home = tmp_path / "home"
    monkeypatch.setenv("LANDSCAPE_HOME", str(home))
    argv = ["import", str(folder), "--model", kw.get("model", "userpkg.resnet:resnet8"),
            "--data", kw.get("data", "userpkg.data:cifar_like"), "--path", str(TESTS)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("landscape: error:") and message in lines[0], captured.err
    assert captured.out == ""
    runs = home / "runs"
    assert not runs.exists() or not [p for p in runs.iterdir()], "the store was changed"


def _interpolated_model(folder, alpha, step0, step1, factory=resnet.resnet8):
    """The independent per-point loop: the model with the state dict (1-α) s0 + α s1 loaded."""
    s0 = torch.load(folder / f"step_{step0}.pt", weights_only=True)
    s1 = torch.load(folder / f"step_{step1}.pt", weights_only=True)
    model = factory()
    model.load_state_dict({k: ((1 - alpha) * v + alpha * s1[k]) if v.is_floating_point() else v
                           for k, v in s0.items()})
    return model


def _recomputed(model, x_train):
    """BatchNorm statistics re-estimated as the `recompute` policy defines them."""
    from compute.batchnorm import RECOMPUTE_BATCH

    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        for xb in torch.tensor_split(x_train, -(-len(x_train) // RECOMPUTE_BATCH)):
            model(xb)
    return model.eval()


@pytest.mark.parametrize("bn", ["interpolate", "recompute"])
def test_lines_of_an_imported_resnet_match_a_per_point_loop(bn, resnet_ckpts, empty_store):
    from compute.kinds.line import LineQuery, compute_line
    from compute.kinds import resolve

    run = _import(resnet_ckpts, empty_store, final_step=6)  # a few steps: the best may be step 0
    query = resolve(LineQuery.from_args(f"init:{run.id}", f"final:{run.id}", "-0.5:1.5", 5, "train,valid",
                                        bn=bn), empty_store)
    assert query.bn == bn and (bn == "interpolate") == ("bn" not in query.to_json())
    line = compute_line(query, empty_store)
    assert line.meta["bn"] == bn
    splits = user_data.cifar_like()
    for alpha, train_cost, valid_cost in zip(line.alpha, line.cost["train"], line.cost["valid"]):
        model = _interpolated_model(resnet_ckpts, alpha, run.init_step, run.final_step)
        if bn == "recompute":
            model = _recomputed(model, splits["train"][0])
        assert train_cost == pytest.approx(_cost(model, *splits["train"]), abs=1e-5)
        assert valid_cost == pytest.approx(_cost(model, *splits["valid"]), abs=1e-5)


def test_the_two_policies_differ_and_are_two_cache_keys(resnet_ckpts, empty_store):
    from compute.kinds.line import LineQuery, compute_line
    from compute.kinds import resolve

    run = _import(resnet_ckpts, empty_store, final_step=6)
    a, b = (resolve(LineQuery.from_args(f"random:3", f"final:{run.id}", "0:1", 3, "train", bn=bn), empty_store)
            for bn in ("interpolate", "recompute"))
    assert a.key() != b.key()
    assert compute_line(a, empty_store).cost["train"][0] != compute_line(b, empty_store).cost["train"][0]


def test_a_model_without_batchnorm_refuses_another_policy(relu_run, store):
    """One rule for page, API and CLI alike: a BatchNorm policy other than the default is refused for
    a model without BatchNorm (the CLI used to reset it silently)."""
    from compute.kinds.line import LineQuery
    from compute.kinds import resolve

    assert resolve(LineQuery.from_args(f"init:{relu_run.id}", f"final:{relu_run.id}", bn="interpolate"), store)
    with pytest.raises(BadInput, match="has no BatchNorm: the policy bn=recompute does not apply") as refused:
        resolve(LineQuery.from_args(f"init:{relu_run.id}", f"final:{relu_run.id}", bn="recompute"), store)
    assert refused.value.field == "bn"


def test_a_training_loop_recorded_with_the_recorder(empty_store):
    """The four lines of docs/importing.md in a user's own loop (tests/userpkg/train.py)."""
    from compute.recorder import Recorder

    model = resnet.resnet8()
    rec = Recorder.of(model, model="userpkg.resnet:resnet8", data="userpkg.data:cifar_like", path=str(TESTS),
                      store=empty_store)
    run = user_train.train_with_recorder(model, user_data.images(), rec)
    assert run.id.startswith("resnet8-imported-") and run.steps == [0, 2, 4, 6]
    final = resnet.resnet8()
    final.load_state_dict(model.state_dict())
    last = run.manifest["steps"][-1]
    assert last["cost"]["train"] == pytest.approx(_cost(final, *user_data.images()["train"]), abs=2e-6)
    assert torch.equal(run.buffers(6), torch.cat([b.reshape(-1) for n, b in model.state_dict().items()
                                                  if b.is_floating_point() and "running" in n]))


def test_the_recorder_refuses_a_factory_of_another_model(empty_store):
    from compute.recorder import Recorder

    with pytest.raises(BadInput, match="differ"):
        Recorder.of(resnet.resnet8(), model="userpkg.resnet:resnet20", data="userpkg.data:cifar_like",
                    path=str(TESTS), store=empty_store)
    assert _store_files(empty_store) in ([], ["runs"])


def test_an_imported_relu_mlp_takes_the_line_fast_path(tmp_path, empty_store, monkeypatch):
    from compute import linefast
    from compute.kinds.line import LineQuery, compute_line
    from compute.kinds import resolve

    assert linefast.piecewise_linear_mlp(resnet.mlp()) == ("relu", ["1", "3", "5"])
    folder = user_train.train_and_save(resnet.mlp(), user_data.images(), tmp_path / "mlp", steps=4, every=4)
    run = _import(folder, empty_store, model="userpkg.resnet:mlp", final_step=4)
    query = resolve(LineQuery.from_args(f"init:{run.id}", f"final:{run.id}", "-1:2", 40, "train"), empty_store)
    calls = []
    outputs = linefast.LinePath.outputs
    monkeypatch.setattr(linefast.LinePath, "outputs", lambda self, x, *rest, **named: calls.append(len(x)) or outputs(self, x, *rest, **named))
    fast = compute_line(query, empty_store)
    assert calls, "the line did not take the fast path"
    x, y = user_data.cifar_like()["train"]
    for alpha, cost in list(zip(fast.alpha, fast.cost["train"]))[::13]:
        model = _interpolated_model(folder, alpha, run.init_step, run.final_step, factory=resnet.mlp)
        assert cost == pytest.approx(_cost(model, x, y), abs=1e-5)


def test_the_command_line_import_prints_the_run_id_last(resnet_ckpts, tmp_path, monkeypatch, capsys):
    from app.cli import main

    monkeypatch.setenv("LANDSCAPE_HOME", str(tmp_path / "home"))
    assert main(["import", str(resnet_ckpts), "--model", "userpkg.resnet:resnet8", "--data", "userpkg.data:cifar_like",
                 "--path", str(TESTS), "--name", "r8", "--final", "4"]) == 0
    run_id = capsys.readouterr().out.strip().splitlines()[-1]
    run = Store(tmp_path / "home").load(run_id)
    assert run_id.startswith("r8-imported-s0-") and run.final_step == 4 and run.steps == [0, 2, 4, 6]
