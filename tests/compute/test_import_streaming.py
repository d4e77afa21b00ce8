"""Issue 20 §4, the store side: an import reads its checkpoints one at a time, its learning curve is
evaluated a group of points at a time, and the trajectory streams over the checkpoints; the results
are the bits of evaluating everything at once."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from compute.store import Store

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
