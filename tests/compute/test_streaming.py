"""Issue 20 §1, §4: any data a PyTorch user has (Datasets, IterableDatasets, DataLoaders, dict
batches), read by one rule, streamed through the one evaluator, with exact totals; in-memory
tensors give main's values to the bit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from compute.evaluator import EvalOptions, Evaluator
from compute.streaming import combine_shards
from compute.importing import import_run
from compute.params import ParamLayout
from compute.store import Store
from models.batches import Batch, DATASET_BATCH, as_source, model_outputs, read_batch, stream_digest
from models.errors import BadInput
from models.objectives import CAUSAL_LM, OBJECTIVES, Objective

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))

from streaming_cases import GOLDEN, ORIGINAL, golden_cases, machine  # noqa: E402
from userpkg import resnet, streams, train as user_train, transformer  # noqa: E402

CE = OBJECTIVES["cross-entropy"]


def test_tensor_data_gives_mains_values():
    """Line fast path (with derivatives), first-layer reuse, BatchNorm folding, bn=recompute: the
    values main computed before streaming existed (streaming_cases.py) to float32 rounding, and bit
    for bit on a machine whose values the file records (the last bits follow the CPU's kernels)."""
    golden = json.loads(GOLDEN.read_text())
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # as when the golden values were made: the fast path's blocks follow the threads
    try:
        now = golden_cases()
    finally:
        torch.set_num_threads(threads)
    assert now.keys() == golden[ORIGINAL].keys()
    for case, fields in golden[ORIGINAL].items():
        assert now[case].keys() == fields.keys()
        for field, hexes in fields.items():
            before, after = (np.array([float.fromhex(h) for h in v]) for v in (hexes, now[case][field]))
            scale = np.abs(before).max()
            assert np.all(np.abs(after - before) <= 1e-6 * scale), (case, field, after - before)
    if machine() in golden:
        assert now == golden[machine()]


def _mlp_thetas():
    torch.manual_seed(0)
    m0 = resnet.mlp()
    torch.manual_seed(1)
    m1 = resnet.mlp()
    layout = ParamLayout.of(m0)
    return layout.flatten_model(m0), layout.flatten_model(m1) * 2.0


@pytest.fixture(scope="module")
def tensor_line():
    t0, t1 = _mlp_thetas()
    alphas = np.linspace(-0.5, 1.5, 7)
    ev = Evaluator(resnet.mlp(), CE, streams.tensor_twins(), device="cpu")
    return t0, t1, alphas, ev.line(t0, t1, alphas, ["train", "valid"])


@pytest.mark.parametrize("kind", ["dataset_splits", "loader_splits", "iterable_splits"])
def test_every_kind_of_split_gives_the_cost_of_its_tensors(kind, tensor_line):
    """A map-style Dataset, a shuffling DataLoader (read in order), an IterableDataset and a
    DataLoader over one: the same J as the same examples held as tensors (an nn.Sequential ReLU
    MLP: the line fast path on streamed batches), to float rounding."""
    t0, t1, alphas, expected = tensor_line
    splits = {s: as_source(v, s) for s, v in getattr(streams, kind)().items()}
    for source in splits.values():
        source.expect(stream_digest(source))  # the counts an import records
    ev = Evaluator(resnet.mlp(), CE, splits, device="cpu")
    assert ev.streamed
    got = ev.line(t0, t1, alphas, ["train", "valid"])
    for s in ("train", "valid"):
        np.testing.assert_allclose(got.splits[s].cost, expected.splits[s].cost, rtol=1e-6, atol=0)
        np.testing.assert_allclose(got.splits[s].error, expected.splits[s].error, rtol=0, atol=1e-12)


def test_streamed_batches_are_cut_to_the_memory_budget_and_stay_exact(tensor_line):
    """A tiny budget: every batch is cut into small chunks, the totals are the same."""
    t0, t1, alphas, expected = tensor_line
    splits = {s: as_source(v, s) for s, v in streams.dataset_splits().items()}
    ev = Evaluator(resnet.mlp(), CE, splits, device="cpu", memory_budget=20_000)
    got = ev.evaluate_points(torch.stack([t0, t1]), ["valid"])
    ref = Evaluator(resnet.mlp(), CE, streams.tensor_twins(), device="cpu").evaluate_points(
        torch.stack([t0, t1]), ["valid"])
    np.testing.assert_allclose(got.splits["valid"].cost, ref.splits["valid"].cost, rtol=1e-6)


def test_shard_sums_combine_in_order_to_the_same_bits():
    """Per-shard float64 sums combined in shard order: the total is the same bits whether the
    shards were summed in one call or cut into parts."""
    g = torch.Generator().manual_seed(3)
    parts = {k: torch.rand(4, 2, 3, generator=g, dtype=torch.float64) * 10 ** k for k in range(6)}
    whole = combine_shards(parts)
    cut = combine_shards({**{k: parts[k] for k in (3, 4, 5)}, **{k: parts[k] for k in (0, 1, 2)}})
    assert torch.equal(whole, cut)
    assert torch.equal(combine_shards({0: parts[0]}), parts[0])


def test_the_reading_rule():
    b = read_batch({"input_ids": torch.zeros(4, 3, dtype=torch.int32), "attention_mask": np.ones((4, 3)),
                    "labels": torch.arange(4)}, "here")
    assert b.args == () and sorted(b.kwargs) == ["attention_mask", "input_ids"] and b.size == 4
    assert b.kwargs["input_ids"].dtype == torch.int64 and b.kwargs["attention_mask"].dtype == torch.float32
    b = read_batch((torch.zeros(2, 5), torch.ones(2, 1), torch.tensor([1, 0])), "here")
    assert len(b.args) == 2 and b.targets.tolist() == [1, 0] and not b.kwargs
    with pytest.raises(BadInput, match=r"keys 'pixels': Tensor, no targets key 'labels'"):
        read_batch({"pixels": torch.zeros(2, 3)}, "split 'train' batch 0")
    with pytest.raises(BadInput, match="a str"):
        read_batch("text", "here")
    with pytest.raises(BadInput, match=r"first \(batch\) dimension"):
        read_batch((torch.zeros(3, 2), torch.zeros(2)), "here")


def test_model_outputs_reads_what_forwards_return():
    t = torch.ones(2, 3)
    assert model_outputs(t) is t
    assert model_outputs((t, None)) is t and model_outputs([t]) is t
    assert model_outputs({"loss": None, "logits": t}) is t and model_outputs({"out": t}) is t

    class Output(dict):  # a ModelOutput is an OrderedDict with attributes
        logits = None
    assert model_outputs(Output(logits=t)) is t
    with pytest.raises(BadInput, match="returned a str"):
        model_outputs("no")


def test_dict_batches_go_to_the_model_as_keywords_and_token_counts_normalise():
    """A Hugging-Face-style model (keyword inputs, a dict with logits) on a DataLoader of dict
    batches: the cost is that of a plain loop over the same tokens. With `counts`, J is the sum
    over counted positions / their number, not the mean of per-example means."""
    torch.manual_seed(0)
    model = streams.hf_style_lm().eval()
    theta = ParamLayout.of(model).flatten_model(model)
    (x, y), (xv, yv) = streams.dict_token_tensors()
    with torch.no_grad():
        logits = model.inner(xv)
    nll = F.cross_entropy(logits.flatten(0, 1), yv.flatten(), reduction="none").view(yv.shape)
    counted = (yv % 3 != 0)  # an objective that counts two tokens in three
    token_mean = float((nll * counted).sum() / counted.sum())

    def per_example(out, target):
        v = F.cross_entropy(out.flatten(0, -2), target.flatten(), reduction="none").view(target.shape)
        return (v * (target % 3 != 0)).sum(dim=-1)

    counts = Objective("counted", per_example, None, "", counts=lambda out, target: (target % 3 != 0).sum(dim=-1))
    splits = {s: as_source(v, s) for s, v in streams.dict_token_splits().items()}
    from models.user import LossRef

    for objective, expected in ((LossRef("cross-entropy").objective(), float(nll.double().mean())),
                                (counts, token_mean)):
        ev = Evaluator(streams.hf_style_lm(), objective, splits, device="cpu")
        got = ev.evaluate_points(theta[None], ["valid"]).splits["valid"].cost[0]
        assert got == pytest.approx(expected, rel=1e-6)


def test_outputs_the_objective_cannot_take_name_their_shape():
    from torch.utils.data import TensorDataset

    data = TensorDataset(torch.randn(20, 3, 8, 8), torch.zeros(20, 3, dtype=torch.long))
    ev = Evaluator(resnet.mlp(), CE, {"train": as_source(data, "train")}, device="cpu")
    theta = ParamLayout.of(ev.model).flatten_model(ev.model)
    with pytest.raises(BadInput, match=r"cannot take the model's outputs of shape \(20, 10\) with targets of shape "
                                       r"\(20, 3\)"):
        ev.evaluate_points(theta[None], ["train"])


def test_a_model_that_fails_on_a_batch_says_what_it_was_given():
    ev = Evaluator(transformer.tiny_lm(), CE, {"train": as_source(streams.Images(20), "train")}, device="cpu")
    theta = ParamLayout.of(ev.model).flatten_model(ev.model)
    with pytest.raises(BadInput, match=r"the model raised RuntimeError .* on inputs arg0 \(\d+, 3, 8, 8\) float32"):
        ev.evaluate_points(theta[None], ["train"])


def test_batchnorm_recompute_streams_the_training_batches():
    """bn=recompute on a streamed split: the statistics from the data's own batches; they equal
    a train-mode pass over the same batches with momentum off."""
    torch.manual_seed(0)
    net = resnet.resnet8()
    layout = ParamLayout.of(net)
    from compute.batchnorm import BufferLayout
    buffers = BufferLayout.of(net)
    theta = layout.flatten_model(net)
    splits = {"train": as_source(streams.Images(DATASET_BATCH + 44), "train")}
    ev = Evaluator(resnet.resnet8(), CE, splits, device="cpu")
    basis = buffers.flatten_model(net)[None]
    got = ev.evaluate(theta[None], np.ones((1, 1)), ["train"], buffer_basis=basis,
                      options=EvalOptions(bn="recompute")).splits["train"]
    ref = resnet.resnet8()
    layout.load_into(ref, theta)
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    data = splits["train"]
    ref.train()
    with torch.no_grad():
        for b in data.batches():
            ref(*b.args)
        ref.eval()
        costs = [F.cross_entropy(ref(*b.args), b.targets, reduction="none") for b in data.batches()]
    assert got.cost[0] == pytest.approx(float(torch.cat(costs).double().mean()), rel=1e-5)


# ------------------------------------------------------------------------------ import, end to end

@pytest.fixture(scope="module")
def mlp_ckpts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlp")
    torch.manual_seed(0)
    return user_train.train_and_save(resnet.mlp(), streams.tensor_twins(), folder, steps=4, every=2)


def _import(folder, store, data, **kw):
    return import_run(folder, "userpkg.resnet:mlp", data, path=str(TESTS), store=store, **kw)


def test_import_of_a_dataloader_records_shards_and_its_line_equals_the_tensors(mlp_ckpts, tmp_path, monkeypatch):
    from compute import resources
    from compute.kinds.line import LineQuery, compute_line

    store = Store(tmp_path / "home")
    monkeypatch.setenv("LANDSCAPE_HOME", str(tmp_path / "home"))
    streamed = _import(mlp_ckpts, store, "userpkg.streams:loader_splits", name="loader")
    tensors = _import(mlp_ckpts, store, "userpkg.streams:tensor_twins", name="tensors")
    tables = streamed.manifest["data_shards"]
    assert tables["train"]["examples"] == streams.N_TRAIN and tables["train"]["batch_size"] == 64
    assert len(tables["train"]["digests"]) == tables["train"]["batches"] // tables["train"]["shard_batches"] + 1
    assert streamed.manifest["data_digest"].startswith("stream-") and "data_shards" not in tensors.manifest
    for a, b in zip(streamed.manifest["steps"], tensors.manifest["steps"]):  # the learning curve, streamed
        assert a["cost"]["train"] == pytest.approx(b["cost"]["train"], rel=1e-6)
    lines = [compute_line(LineQuery.from_args(f"init:{r.id}", f"final:{r.id}", points=5), store)
             for r in (streamed, tensors)]
    np.testing.assert_allclose(lines[0].cost["train"], lines[1].cost["train"], rtol=1e-6)
    resources.clear()


def test_data_that_changed_since_import_is_refused(mlp_ckpts, tmp_path, monkeypatch):
    from compute import resources
    from compute.kinds.line import LineQuery, compute_line

    store = Store(tmp_path / "home")
    run = _import(mlp_ckpts, store, "userpkg.streams:changing_length", name="changing")
    query = LineQuery.from_args(f"init:{run.id}", f"final:{run.id}", points=3)
    resources.clear()
    monkeypatch.setitem(streams._LENGTH, "n", streams.N_TRAIN - 1)
    with pytest.raises(BadInput, match=f"has {streams.N_TRAIN - 1} examples; the run was imported with "
                                       f"{streams.N_TRAIN}"):
        compute_line(query, store)
    resources.clear()
    monkeypatch.setitem(streams._LENGTH, "n", streams.N_TRAIN)
    original = streams.Images.__getitem__  # the same length, other examples
    monkeypatch.setattr(streams.Images, "__getitem__", lambda self, i: (original(self, i)[0] + 1, original(self, i)[1]))
    with pytest.raises(BadInput, match="shard 0 .* not the data the run was imported with"):
        compute_line(query, store)
    resources.clear()


@pytest.mark.parametrize("data, message", [
    ("userpkg.streams:empty_split", "yields no batches"),
    ("userpkg.streams:bad_structure", r"keys 'pixels': Tensor, 'target': Tensor, no targets key 'labels'"),
])
def test_bad_data_is_one_message_and_nothing_is_written(data, message, mlp_ckpts, tmp_path):
    store = Store(tmp_path / "home")
    with pytest.raises(BadInput, match=message):
        _import(mlp_ckpts, store, data)
    assert store.list_runs() == []


def test_targets_names_another_key_and_dict_keys_are_keywords(mlp_ckpts, tmp_path):
    run = import_run(mlp_ckpts, "userpkg.streams:keyword_mlp", "userpkg.streams:bad_structure", path=str(TESTS),
                     store=Store(tmp_path / "home"), targets="target", name="other_key")
    plain = _import(mlp_ckpts, Store(tmp_path / "home"), "userpkg.streams:dataset_splits", name="plain")
    assert run.manifest["source"]["data"]["targets"] == "target"
    assert [s["cost"]["train"] for s in run.manifest["steps"]] == pytest.approx(
        [s["cost"]["train"] for s in plain.manifest["steps"]], rel=1e-6)


def test_cli_refuses_bad_data_with_one_line_and_exit_2(mlp_ckpts, tmp_path, monkeypatch, capsys):
    from app.cli import main

    monkeypatch.setenv("LANDSCAPE_HOME", str(tmp_path / "home"))
    code = main(["import", str(mlp_ckpts), "--model", "userpkg.resnet:mlp", "--data", "userpkg.streams:empty_split",
                 "--path", str(TESTS)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "yields no batches" in err[0]


def test_a_hugging_face_dataset_of_dict_rows(tensor_line):
    """A `datasets.Dataset` (only when that package is installed: not a dependency)."""
    datasets = pytest.importorskip("datasets")
    t0, t1, alphas, expected = tensor_line
    x, y = streams.tensor_twins()["valid"]
    ds = datasets.Dataset.from_dict({"pixels": x.numpy(), "labels": y.numpy()})
    ev = Evaluator(streams.keyword_mlp(), CE, {"valid": as_source(ds, "valid")}, device="cpu")
    got = ev.line(t0, t1, alphas, ["valid"]).splits["valid"].cost
    np.testing.assert_allclose(got, expected.splits["valid"].cost, rtol=1e-6)


@pytest.mark.parametrize("loader", ["dict batches", "tensor batches"])
def test_derivatives_on_streamed_data_are_those_of_the_same_tensors(loader):
    """Off the line fast path, exact derivatives (double backward, compute/derivatives.py) read
    streamed data through the evaluator's one reader — dict batches passed as keywords, a
    DataLoader's batches joined to its chunks — and give what the same data held as tensors gives;
    so do the Hessian-vector products of the curvature."""
    from compute.derivatives import SplitHessian, hessian_vector_products

    objective = CAUSAL_LM  # counts: J divides by the counted tokens
    tensors = dict(zip(("train", "valid"), streams.dict_token_tensors()))
    streamed = ({s: as_source(v, s) for s, v in streams.dict_token_splits().items()} if loader == "dict batches"
                else {s: as_source(DataLoader(TensorDataset(*v), batch_size=5), s) for s, v in tensors.items()})
    evs = [Evaluator(streams.hf_style_lm(), objective, data, device="cpu") for data in (tensors, streamed)]
    assert not evs[0].streamed and evs[1].streamed
    torch.manual_seed(3)
    theta = ParamLayout.of(evs[0].model).flatten_model(streams.hf_style_lm())
    other = theta + 0.05 * torch.randn_like(theta)
    alphas = np.array([-0.5, 0.25, 1.0])
    lines = [ev.line(theta, other, alphas, ["train", "valid"], options=EvalOptions(derivatives=True)) for ev in evs]
    for s in ("train", "valid"):
        held, read = lines[0].splits[s], lines[1].splits[s]
        assert np.all(np.abs(np.diff(held.cost)) > 1e-4) and np.all(np.abs(held.d2cost) > 0)
        for field in ("cost", "dcost", "d2cost"):
            np.testing.assert_allclose(getattr(read, field), getattr(held, field), rtol=1e-5, atol=1e-7)
    vectors = torch.randn(2, len(theta), dtype=torch.float64)
    products = [hessian_vector_products(ev, theta, vectors, ["valid"])["valid"] for ev in evs]
    np.testing.assert_allclose(products[1].numpy(), products[0].numpy(), rtol=1e-5, atol=1e-8)
    kept = SplitHessian(evs[1], theta, "valid")
    np.testing.assert_allclose(kept(vectors).numpy(), products[1].numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(kept(vectors).numpy(), products[1].numpy(), rtol=1e-12, atol=1e-14)  # kept graphs


def test_consecutive_shards_of_an_iterable_are_one_pass():
    """An IterableDataset can only be read from its start: reading its shards one after another
    goes on where the last one stopped instead of starting again (S/2 passes for S shards)."""
    from torch.utils.data import IterableDataset

    from compute.streaming import stream_pieces
    from models.batches import SHARD_EXAMPLES

    n, yielded = 3 * SHARD_EXAMPLES + 5, []

    class Counted(IterableDataset):
        def __iter__(self):
            for i in range(n):
                yielded.append(i)
                yield torch.full((2,), float(i)), torch.tensor(i % 3)

    source = as_source(Counted(), "train")
    source.expect(stream_digest(source))  # the import's pass
    yielded.clear()
    pieces = list(stream_pieces([source], np.array([0, n]), lambda b: b))
    assert source.num_shards == 4 and len(yielded) == n  # one pass
    rows = torch.cat([p.batch.targets for p in pieces])
    assert torch.equal(rows, torch.arange(n) % 3)
