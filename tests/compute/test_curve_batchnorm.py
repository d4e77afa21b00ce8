"""A curve between two BatchNorm runs (issue 22): the statistics are re-estimated at every point of
both the curve and the straight line (bn=recompute, the original's protocol), as
compute/kinds/curve.py says. Two tiny imported resnet8 runs of tests/userpkg (seeds 0 and 1), checked
against the straight line's job and an independent per-point loop."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from compute.curves import coefficients
from compute.importing import import_run
from compute.kinds import resolve
from compute.kinds.curve import CurveQuery, load_curve, train_curve
from compute.kinds.line import LineQuery, compute_line
from compute.params import ParamLayout
from compute.store import Store
from tests.compute.test_import import _cost, _recomputed  # the independent eval-mode loop and BN re-estimation

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))  # the user's package, as `--path tests` puts it there

from userpkg import data as user_data, resnet, train as user_train  # noqa: E402

POINTS = 5  # t = 0, .25, .5, .75, 1


@pytest.fixture(scope="module")
def bn_curve(tmp_path_factory):
    """Two resnet8 runs (6 SGD steps each, seeds 0 and 1) imported into a store of their own, and a
    one-epoch Bézier bend between their final checkpoints, trained by the curve job's chunk."""
    work = tmp_path_factory.mktemp("bn-curve")
    store = Store(work / "home")
    runs = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        folder = user_train.train_and_save(resnet.resnet8(), user_data.images(), work / f"seed{seed}", seed=seed)
        runs.append(import_run(folder, "userpkg.resnet:resnet8", "userpkg.data:cifar_like", path=str(TESTS),
                               store=store, final_step=6))
    query = resolve(CurveQuery(f"final:{runs[0].id}", f"final:{runs[1].id}", "bezier", epochs=1, points=POINTS,
                               splits=("train", "valid")), store)
    return store, runs, query, train_curve(query, store)


def test_the_result_says_the_statistics_were_recomputed(bn_curve):
    _, runs, _, result = bn_curve
    assert all(run.manifest["batchnorm"] for run in runs)
    assert result.meta["bn"] == "recompute"
    assert result.t == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_the_endpoints_are_the_straight_lines_with_recomputed_statistics(bn_curve):
    store, runs, _, result = bn_curve
    line = compute_line(resolve(LineQuery(f"final:{runs[0].id}", f"final:{runs[1].id}", 0.0, 1.0, POINTS,
                                          ("train", "valid"), bn="recompute"), store), store)
    assert line.meta["bn"] == "recompute"
    for split in ("train", "valid"):
        curve, straight = result.cost[split], line.cost[split]
        # θ(0) = θ_A and θ(1) = θ_B exactly, statistics re-estimated there as the line's are: to the bit
        assert [curve[0], curve[-1]] == [straight[0], straight[-1]], split
        assert result.line_cost[split] == straight, split  # the job's own straight line is that line
        # not the runs' recorded costs, which were taken with the statistics SGD left (momentum 0.1)
        recorded = [next(e for e in run.manifest["steps"] if e["step"] == run.final_step)["cost"][split]
                    for run in runs]
        assert [curve[0], curve[-1]] != recorded, split


def test_interior_points_equal_an_independent_loop_with_reestimated_statistics(bn_curve):
    store, runs, query, result = bn_curve
    _, bend = load_curve(store, result.curve)
    basis = torch.stack([runs[0].theta(runs[0].final_step), bend, runs[1].theta(runs[1].final_step)]).double()
    splits = user_data.cifar_like()
    interior = [0, 0]
    for i, t in enumerate(result.t):
        if t in (0.0, 1.0):
            continue
        theta = (torch.as_tensor(coefficients(query.curve, [t])[0]) @ basis).float()  # θ(t), built here
        model = resnet.resnet8()
        model.load_state_dict(ParamLayout.of(model).unflatten(theta), strict=False)  # parameters; stats below
        model = _recomputed(model, splits["train"][0])  # train-mode pass over the training split, momentum off
        for s, split in enumerate(("train", "valid")):
            assert result.cost[split][i] == pytest.approx(_cost(model, *splits[split]), rel=1e-5, abs=1e-6), (t, split)
            interior[s] += 1
    assert interior == [3, 3]
    # the bend moved the curve off the straight line: the comparison above is not of the line again
    assert not np.array_equal(result.cost["train"], result.line_cost["train"])
