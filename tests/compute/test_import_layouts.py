"""Issue 20 §2-3: the checkpoints people have, in their real file formats, made by the tests
themselves: tied weights (nanoGPT, GPT-2), Hugging Face save_pretrained / Trainer folders (sharded
too), plain torch.save(state_dict()), Lightning .ckpt with the `model.` prefix; each imported through
`landscape import`, a line computed, and the causal-lm J checked against the model's own loss."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file, save_model

from compute.store import Store
from models.errors import BadInput

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing is ever downloaded
TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))

from userpkg import gpt  # noqa: E402

pytest.importorskip("transformers")


def _cli_import(folder, home, monkeypatch, capsys, *extra, model="userpkg.gpt:tiny_gpt2_logits",
                data="userpkg.gpt:one_batch", loss="causal-lm"):
    """`landscape import` as a user types it; the run it made."""
    from app.cli import main

    monkeypatch.setenv("LANDSCAPE_HOME", str(home))
    code = main(["import", str(folder), "--model", model, "--data", data, "--loss", loss, "--path", str(TESTS),
                 *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return Store(home).load(captured.out.strip().splitlines()[-1])


def _cli_refusal(folder, home, monkeypatch, capsys, *extra, model="userpkg.gpt:tiny_gpt2_logits",
                 data="userpkg.gpt:one_batch"):
    from app.cli import main

    monkeypatch.setenv("LANDSCAPE_HOME", str(home))
    code = main(["import", str(folder), "--model", model, "--data", data, "--loss", "causal-lm",
                 "--path", str(TESTS), *extra])
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("landscape: error:"), captured.err
    assert not (home / "runs").exists() or not list((home / "runs").iterdir()), "the store was changed"
    return lines[0]


def _line(run, store, points=3):
    from compute.kinds.line import LineQuery, compute_line
    from compute.kinds import resolve

    return compute_line(resolve(LineQuery.from_args(f"init:{run.id}", f"final:{run.id}", "0:1", points, "train"),
                                store), store)


def _lm_cost(model, ids, labels):
    """The independent loss: Hugging Face's mean next-token cross-entropy over the counted tokens."""
    model.eval()
    with torch.no_grad():
        out = model(ids)
        logits = out if isinstance(out, torch.Tensor) else out.logits
        return float(F.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=-100))


def _train_states(factory, data, steps=(0, 2, 4)):
    """state_dict() copies of one model at a few steps of a plain training loop."""
    torch.manual_seed(0)
    model, states = factory(), {}
    for step, m in gpt.train_lm(model, data, steps=max(steps)):
        if step in steps:
            states[step] = {k: v.detach().clone() for k, v in m.state_dict().items()}
    return states


def _tied_equal(model):
    return model.lm_head.weight is model.transformer.wte.weight if hasattr(model, "lm_head") else \
        model.head.weight is model.emb.weight


@pytest.fixture(scope="module")
def gpt2_states():
    return _train_states(gpt.tiny_gpt2_logits, gpt.one_batch())


def test_gpt2_save_pretrained_trainer_folders_and_causal_lm_equal_to_the_models_own_loss(
        gpt2_states, tmp_path, monkeypatch, capsys):
    ckpts = tmp_path / "out"
    for step, state in gpt2_states.items():  # what a Trainer leaves: checkpoint-N/ with its own extra files
        model = gpt.tiny_gpt2()
        model.load_state_dict(state)
        assert _tied_equal(model)
        model.save_pretrained(ckpts / f"checkpoint-{step}")
        torch.save({"lr": torch.tensor(0.01)}, ckpts / f"checkpoint-{step}" / "optimizer.pt")
        (ckpts / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert "lm_head.weight" not in json.dumps(sorted(os.listdir(ckpts / "checkpoint-0")))
    run = _cli_import(ckpts, tmp_path / "home", monkeypatch, capsys, "--final", "4")
    assert run.steps == [0, 2, 4] and run.final_step == 4
    assert [entry["name"] for entry in run.manifest["layout"]].count("transformer.wte.weight") == 1
    assert "lm_head.weight" not in [entry["name"] for entry in run.manifest["layout"]]
    ids, labels = gpt.one_batch()["train"]
    assert (labels == -100).any()
    for entry in run.manifest["steps"]:
        hf = gpt.tiny_gpt2()
        hf.load_state_dict(gpt2_states[entry["step"]])
        hf.eval()
        with torch.no_grad():
            own = float(hf(input_ids=ids, labels=labels).loss)  # Hugging Face's own loss on the one batch
        assert entry["cost"]["train"] == pytest.approx(own, abs=1e-6)
    store = Store(tmp_path / "home")
    line = _line(run, store)
    assert line.cost["train"][0] == pytest.approx(run.manifest["steps"][0]["cost"]["train"], abs=1e-6)
    assert line.cost["train"][-1] == pytest.approx(run.manifest["steps"][-1]["cost"]["train"], abs=1e-6)
    middle = gpt.tiny_gpt2()  # θ(1/2) loaded under both tied names: the line keeps them tied
    middle.load_state_dict({k: (gpt2_states[0][k] + gpt2_states[4][k]) / 2 for k in gpt2_states[0]})
    assert line.cost["train"][1] == pytest.approx(_lm_cost(middle, ids, labels), abs=1e-5)


def test_gpt2_plain_state_dicts_with_both_tied_names_and_a_sharded_folder(gpt2_states, tmp_path, monkeypatch,
                                                                         capsys):
    plain = tmp_path / "plain"
    plain.mkdir()
    for step, state in gpt2_states.items():
        assert "lm_head.weight" in state and "transformer.wte.weight" in state
        torch.save(state, plain / f"step_{step}.pt")
    a = _cli_import(plain, tmp_path / "home", monkeypatch, capsys)
    sharded = tmp_path / "sharded"
    for step, state in gpt2_states.items():  # sharded by hand, as save_pretrained(max_shard_size=...) does
        folder = sharded / f"step-{step}"
        folder.mkdir(parents=True)
        names = sorted(k for k in state if k != "lm_head.weight")
        halves = {"model-00001-of-00002.safetensors": names[:len(names) // 2],
                  "model-00002-of-00002.safetensors": names[len(names) // 2:]}
        for shard, keys in halves.items():
            save_file({k: state[k].contiguous() for k in keys}, str(folder / shard))
        (folder / "model.safetensors.index.json").write_text(json.dumps(
            {"metadata": {}, "weight_map": {k: shard for shard, keys in halves.items() for k in keys}}))
    b = _cli_import(sharded, tmp_path / "home", monkeypatch, capsys)
    assert a.steps == b.steps == [0, 2, 4]
    for step in a.steps:
        assert torch.equal(a.theta(step), b.theta(step))
    assert [e["cost"] for e in a.manifest["steps"]] == [e["cost"] for e in b.manifest["steps"]]
    bins = tmp_path / "bins"  # pytorch_model.bin in each folder, with the causal masks older files hold
    for step, state in gpt2_states.items():
        (bins / f"checkpoint-{step}").mkdir(parents=True)
        masks = {f"transformer.h.{i}.attn.bias": torch.ones(1, 1, 32, 32).tril() for i in range(2)}
        torch.save(dict(state, **masks), bins / f"checkpoint-{step}" / "pytorch_model.bin")
    c = _cli_import(bins, tmp_path / "home", monkeypatch, capsys)
    assert all(torch.equal(a.theta(s), c.theta(s)) for s in a.steps)

    os.remove(sharded / "step-2" / "model-00002-of-00002.safetensors")
    line = _cli_refusal(sharded, tmp_path / "home2", monkeypatch, capsys)
    assert "model-00002-of-00002.safetensors" in line and "step-2" in line


def test_a_factory_loading_a_local_folder(gpt2_states, tmp_path, monkeypatch, capsys):
    base = gpt.tiny_gpt2()
    base.load_state_dict(gpt2_states[0])
    base.save_pretrained(tmp_path / "base")
    monkeypatch.setenv("USERPKG_GPT2_DIR", str(tmp_path / "base"))
    ckpts = tmp_path / "ckpts"
    ckpts.mkdir()
    for step in (2, 4):
        torch.save(gpt2_states[step], ckpts / f"step_{step}.pt")
    run = _cli_import(ckpts, tmp_path / "home", monkeypatch, capsys, model="userpkg.gpt:local_gpt2")
    assert run.steps == [2, 4]
    hf = gpt.tiny_gpt2()
    hf.load_state_dict(gpt2_states[4])
    hf.eval()
    ids, labels = gpt.one_batch()["train"]
    with torch.no_grad():
        assert run.manifest["steps"][-1]["cost"]["train"] == pytest.approx(
            float(hf(input_ids=ids, labels=labels).loss), abs=1e-6)


@pytest.fixture(scope="module")
def nano_states():
    return _train_states(gpt.nano_gpt, gpt.sequences())


def test_nanogpt_tied_weights_under_either_name_or_both(nano_states, tmp_path):
    from compute.importing import import_run

    model = gpt.nano_gpt()
    assert _tied_equal(model) and len(model.state_dict()) == len(list(model.named_parameters())) + 1
    layouts = {"both": tmp_path / "both", "safetensors": tmp_path / "st", "head only": tmp_path / "head"}
    for folder in layouts.values():
        folder.mkdir()
    for step, state in nano_states.items():
        torch.save(state, layouts["both"] / f"step_{step}.pt")
        model.load_state_dict(state)
        save_model(model, str(layouts["safetensors"] / f"step_{step}.safetensors"))  # keeps one of the names
        torch.save({k: v for k, v in state.items() if k != "emb.weight"}, layouts["head only"] / f"step_{step}.pt")
    runs = {kind: import_run(folder, "userpkg.gpt:nano_gpt", "userpkg.gpt:sequences", "causal-lm", str(TESTS),
                             store=Store(tmp_path / "home")) for kind, folder in layouts.items()}
    for step in (0, 2, 4):
        assert torch.equal(runs["both"].theta(step), runs["safetensors"].theta(step))
        assert torch.equal(runs["both"].theta(step), runs["head only"].theta(step))
    run = runs["both"]
    data = gpt.sequences()
    line = _line(run, Store(tmp_path / "home"), points=5)
    s0, s1 = nano_states[run.init_step], nano_states[run.final_step]
    for alpha, cost in zip(line.alpha, line.cost["train"]):
        between = gpt.nano_gpt()  # the interpolated tensor loaded under both names
        between.load_state_dict({k: (1 - alpha) * s0[k] + alpha * s1[k] for k in s0})
        assert cost == pytest.approx(_lm_cost(between, *data["train"]), abs=1e-5)

    untied = dict(nano_states[0], **{"head.weight": nano_states[0]["head.weight"] + 1})
    (tmp_path / "untied").mkdir()
    torch.save(untied, tmp_path / "untied" / "step_0.pt")
    with pytest.raises(BadInput, match="one shared parameter") as info:
        import_run(tmp_path / "untied", "userpkg.gpt:nano_gpt", "userpkg.gpt:sequences", "causal-lm", str(TESTS),
                   store=Store(tmp_path / "home3"))
    assert "\n" not in info.value.message


def test_the_recorder_records_a_tied_model(tmp_path):
    from compute.recorder import Recorder

    model = gpt.nano_gpt()
    rec = Recorder.of(model, model="userpkg.gpt:nano_gpt", data="userpkg.gpt:sequences", loss="causal-lm",
                      path=str(TESTS), store=Store(tmp_path / "home"))
    for step, m in gpt.train_lm(model, gpt.sequences(), steps=2):
        rec.record(step, step / 10, model=m)
    run = rec.finish()
    assert run.steps == [0, 1, 2] and run.theta(2).numel() == sum(p.numel() for p in model.parameters())
    assert run.manifest["steps"][-1]["cost"]["train"] == pytest.approx(_lm_cost(model, *gpt.sequences()["train"]),
                                                                       abs=1e-5)


def _lightning(folder, states, prefix="model."):
    folder.mkdir()
    for epoch, (step, state) in enumerate(sorted(states.items())):
        torch.save({"epoch": epoch, "global_step": step, "pytorch-lightning_version": "2.4.0",
                    "state_dict": {prefix + k: v for k, v in state.items()},
                    "optimizer_states": [{"state": {0: {"exp_avg": torch.zeros(3)}}, "param_groups": [{"lr": 0.01}]}]},
                   folder / f"epoch={epoch}-v{epoch + 7}.ckpt")  # the step is global_step, not the name's
    torch.save(torch.load(folder / f"epoch={len(states) - 1}-v{len(states) + 6}.ckpt", weights_only=True),
               folder / "last.ckpt")


def test_lightning_ckpt_with_model_prefix(nano_states, tmp_path, monkeypatch, capsys):
    _lightning(tmp_path / "lightning", nano_states)
    kw = dict(model="userpkg.gpt:nano_gpt", data="userpkg.gpt:sequences")
    found = _cli_import(tmp_path / "lightning", tmp_path / "home", monkeypatch, capsys, **kw)
    named = _cli_import(tmp_path / "lightning", tmp_path / "home", monkeypatch, capsys, "--prefix", "model.",
                        "--name", "named", **kw)
    assert found.steps == named.steps == [0, 2, 4]
    model = gpt.nano_gpt()
    model.load_state_dict(nano_states[4])
    assert torch.equal(found.theta(4), torch.cat([p.detach().reshape(-1) for p in model.parameters()]))
    assert torch.equal(found.theta(2), named.theta(2))
    line = _cli_refusal(tmp_path / "lightning", tmp_path / "home2", monkeypatch, capsys, "--prefix", "net.", **kw)
    assert "--prefix 'net.' matches no key" in line

    from compute.kinds.line import LineQuery, compute_line
    from compute.kinds import resolve

    monkeypatch.setenv("LANDSCAPE_HOME", str(tmp_path / "home"))  # its signing key too (compute/signing.py)
    store = Store(tmp_path / "home")
    # derivatives of a token-level objective divide by the counted tokens, as J does: dJ/dalpha at the
    # middle point against a central difference of J itself
    h = 1e-3
    query = resolve(LineQuery.from_args(f"init:{found.id}", f"final:{found.id}", f"{0.5 - h}:{0.5 + h}", 3,
                                        "train", derivatives=True), store)
    result = compute_line(query, store)
    cost = result.cost["train"]
    slope = result.dcost["train"]
    assert abs(slope[1] - (cost[2] - cost[0]) / (2 * h)) <= 2e-2 * max(1.0, abs(slope[1]))


def test_ambiguous_prefixes_and_links_are_one_line(nano_states, tmp_path, monkeypatch, capsys):
    kw = dict(model="userpkg.gpt:nano_gpt", data="userpkg.gpt:sequences")
    twice = tmp_path / "twice"
    twice.mkdir()
    state = nano_states[0]
    torch.save({**{f"model.{k}": v for k, v in state.items()}, **{f"ema.{k}": v for k, v in state.items()}},
               twice / "step_0.pt")
    assert "say which with --prefix" in _cli_refusal(twice, tmp_path / "h1", monkeypatch, capsys, **kw)

    inside = tmp_path / "inside"
    (inside / "raw").mkdir(parents=True)
    for step in (0, 2):
        torch.save(nano_states[step], inside / "raw" / f"s{step}.bin")
        (inside / f"step_{step}.pt").symlink_to(inside / "raw" / f"s{step}.bin")  # a link within: followed
    assert _cli_import(inside, tmp_path / "h2", monkeypatch, capsys, **kw).steps == [0, 2]
    outside = tmp_path / "outside"
    outside.mkdir()
    torch.save(nano_states[0], outside / "step_0.pt")
    (outside / "step_2.pt").symlink_to(inside / "raw" / "s2.bin")  # a link out of the folder: refused
    line = _cli_refusal(outside, tmp_path / "h3", monkeypatch, capsys, **kw)
    assert "step_2.pt is a link" in line and "outside the imported folder" in line


def test_seq_classification_and_shapes_the_objective_cannot_take():
    from models.user import LossRef

    objective = LossRef.parse("seq-classification").objective()
    logits, labels = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]]), torch.tensor([0, 0, 0])
    assert torch.allclose(objective.per_example(logits, labels), F.cross_entropy(logits, labels, reduction="none"))
    assert objective.errors(logits, labels).tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(BadInput, match=r"takes \(B, C\) logits of \(B,\) labels.*\(3, 2, 2\)"):
        objective.per_example(torch.zeros(3, 2, 2), labels)
    lm = LossRef.parse("causal-lm").objective()
    with pytest.raises(BadInput, match=r"\(B, T, V\).*shape \(3, 2\)"):
        lm.per_example(logits, labels)
    ids = torch.tensor([[1, 2, 3, 4]])
    out = torch.randn(1, 4, 5)
    targets = torch.tensor([[1, 2, -100, 4]])
    assert lm.counts(out, targets).tolist() == [2]
    expected = F.cross_entropy(out[0, :-1], torch.tensor([2, -100, 4]), ignore_index=-100, reduction="sum")
    assert float(lm.per_example(out, targets)[0]) == pytest.approx(float(expected), abs=1e-6)
    assert ids.shape == targets.shape


def test_causal_lm_is_the_mean_over_every_counted_token_however_the_split_is_cut():
    from compute.evaluator import Evaluator
    from compute.params import ParamLayout
    from models.user import LossRef

    torch.manual_seed(0)
    model, data = gpt.nano_gpt().eval(), gpt.sequences()
    theta = ParamLayout.of(model).flatten_model(model)[None]
    objective = LossRef.parse("causal-lm").objective()
    whole = Evaluator(model, objective, data, device="cpu").evaluate_points(theta, ["train", "valid"])
    cut = Evaluator(model, objective, data, device="cpu", memory_budget=1)  # one sequence per chunk
    assert cut.chunk_size(theta, cut.tensors(["train"])[0], 0) == 1
    pieces = cut.evaluate_points(theta, ["train", "valid"])
    for split in ("train", "valid"):
        ids, labels = data[split]
        expected = _lm_cost(model, ids, labels)  # sequences with fewer counted tokens weigh less
        assert float(whole.splits[split].cost[0]) == pytest.approx(expected, rel=1e-6)
        assert float(pieces.splits[split].cost[0]) == pytest.approx(expected, rel=1e-6)
        assert float(whole.splits[split].extra["perplexity"][0]) == np.exp(float(whole.splits[split].cost[0]))
        per_sequence = np.mean([_lm_cost(model, ids[i:i + 1], labels[i:i + 1]) for i in range(len(ids))])
        assert abs(per_sequence - expected) > 1e-4  # the mean over sequences would be another number
