"""Issue 20 §2: `--loss MOD:FN` whose second parameter is named `batch` takes (outputs, batch),
the batch as read (a dict of dict batches, a tuple (inputs..., targets) otherwise)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from compute.evaluator import EvalOptions, Evaluator
from compute.importing import import_run
from compute.kinds.line import LineQuery, compute_line
from compute.params import ParamLayout
from compute.store import Store
from models.user import LossRef, takes_batch

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))

from userpkg import batch_loss, data as user_data, resnet, streams  # noqa: E402


def test_the_rule_is_a_second_parameter_named_batch():
    assert takes_batch(batch_loss.masked_nll) and takes_batch(lambda out, batch, extra=None: out)
    assert not takes_batch(batch_loss.masked_nll_of_targets) and not takes_batch(lambda batch, out: out)
    assert not takes_batch(print)


def test_a_dict_batch_import_with_a_loss_of_outputs_and_batch(tmp_path):
    folder = tmp_path / "ckpts"
    folder.mkdir()
    for step, seed in ((0, 0), (4, 1)):
        torch.manual_seed(seed)
        torch.save(streams.hf_style_lm().state_dict(), folder / f"step_{step}.pt")
    store = Store(tmp_path / "home")
    batch_loss.SEEN.clear()
    runs = {loss: import_run(folder, "userpkg.streams:hf_style_lm", "userpkg.streams:dict_token_splits",
                             loss=f"userpkg.batch_loss:{loss}", path=str(TESTS), name=loss, store=store,
                             final_step=4)  # not the lowest validation cost: step 0's may be lower
            for loss in ("masked_nll", "masked_nll_of_targets")}
    assert batch_loss.SEEN and all(keys == ["attention_mask", "input_ids", "labels"] for keys in batch_loss.SEEN)
    by_batch, by_targets = (r.manifest["steps"] for r in runs.values())
    assert [s["cost"] for s in by_batch] == [s["cost"] for s in by_targets]  # the mask is all ones: same bits
    lines = [compute_line(LineQuery.from_args(f"init:{r.id}", f"final:{r.id}", "-0.5:1.5", 5, "train,valid",
                                              derivatives=True), store) for r in runs.values()]
    for split in ("train", "valid"):
        assert np.array_equal(lines[0].cost[split], lines[1].cost[split])
        assert np.all(np.isfinite(lines[0].cost[split])) and lines[0].cost[split][0] != lines[0].cost[split][-1]
        # exact derivatives take the batch as read too (streamed dict batches, double backward)
        for name in ("dcost", "d2cost"):
            by_batch_d, by_targets_d = (np.asarray(getattr(line, name)[split]) for line in lines)
            assert np.all(np.isfinite(by_batch_d)) and np.any(by_batch_d != 0)
            np.testing.assert_allclose(by_batch_d, by_targets_d, rtol=1e-6, atol=1e-9)


def test_tensor_data_gives_the_tuple_and_takes_the_general_path():
    torch.manual_seed(0)
    data = user_data.images(n_train=64, n_valid=16)
    flat = {s: (x.flatten(1), y) for s, (x, y) in data.items()}
    theta0 = ParamLayout.of(resnet.mlp()).flatten_model(resnet.mlp())
    theta1 = theta0 + 0.1 * torch.randn_like(theta0)
    costs = {}
    batch_loss.SEEN.clear()
    for name in ("cross_entropy_of_tuple", "cross_entropy_of_targets"):
        objective = LossRef.parse(f"userpkg.batch_loss:{name}", str(TESTS)).objective()
        ev = Evaluator(resnet.mlp(), objective, flat, device="cpu")
        costs[name] = ev.line(theta0, theta1, np.linspace(0, 1, 4), ["train"]).splits["train"].cost
    assert batch_loss.SEEN and all(seen == ("tuple", (flat["train"][0].shape[1],)) for seen in batch_loss.SEEN)
    np.testing.assert_allclose(costs["cross_entropy_of_tuple"], costs["cross_entropy_of_targets"], rtol=1e-6)
    derivatives = {}
    for name in ("cross_entropy_of_tuple", "cross_entropy_of_targets"):  # double backward takes the tuple too
        objective = LossRef.parse(f"userpkg.batch_loss:{name}", str(TESTS)).objective()
        derivatives[name] = Evaluator(resnet.mlp(), objective, flat, device="cpu").line(
            theta0, theta1, [0.0, 1.0], ["train"], options=EvalOptions(derivatives=True)).splits["train"]
    by_tuple, by_targets = derivatives.values()
    assert np.all(by_tuple.d2cost != 0)
    np.testing.assert_allclose(by_tuple.dcost, by_targets.dcost, rtol=1e-6)
    np.testing.assert_allclose(by_tuple.d2cost, by_targets.d2cost, rtol=1e-6)
