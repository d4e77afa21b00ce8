"""'Uses dropout' is one rule (models/dropout.py) for the zoo's runs and imported ones: it is what
lets a Monte-Carlo dropout line be asked of a run."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from torch import nn

from compute.recorder import Recorder
from compute.sources import source_of
from compute.store import Store
from models import MODELS
from models.dropout import uses_dropout
from models.user import Ref, build_model

# a user's package: the same net with its dropout applied functionally (a rate in an attribute, as
# the zoo does it), as a layer, and with none
_USER_NETS = textwrap.dedent('''
    import torch.nn.functional as F
    from torch import nn

    class Functional(nn.Module):
        def __init__(self, rate):
            super().__init__()
            self.fc, self.hidden_dropout = nn.Linear(4, 3), rate

        def forward(self, x):
            return self.fc(F.dropout(x, self.hidden_dropout, self.training))

    def functional():
        return Functional(0.3)

    def functional_off():
        return Functional(0.0)

    def layer():
        return nn.Sequential(nn.Dropout(0.5), nn.Linear(4, 3))
''')


@pytest.fixture(scope="module")
def user_code(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dropout_user")
    (folder / "dropout_nets.py").write_text(_USER_NETS)
    rng = np.random.default_rng(0)
    np.savez(folder / "data.npz", x_train=rng.normal(size=(8, 4)).astype(np.float32),
             y_train=rng.integers(0, 3, 8))
    return folder


@pytest.mark.parametrize("model_id, expected", [("relu-dropout-mnist", True), ("conv-maxout-cifar10", True),
                                                ("lstm-ptb", True), ("relu-mnist", False), ("mpdbm-mnist", False)])
def test_a_zoo_runs_dropout_comes_from_its_model(model_id, expected):
    manifest = {"model": model_id, "preset": "small"}
    assert source_of(manifest).uses_dropout() is expected
    assert uses_dropout(MODELS[model_id].build("small")) is expected


@pytest.mark.parametrize("factory, expected", [("functional", True), ("layer", True), ("functional_off", False)])
def test_an_imported_run_records_the_same_rule(user_code, tmp_path, factory, expected):
    net = build_model(Ref.parse(f"dropout_nets:{factory}", "model", str(user_code)))
    rec = Recorder.of(net, model=f"dropout_nets:{factory}", data=str(user_code / "data.npz"),
                      path=str(user_code), store=Store(tmp_path / "home"))
    with rec:
        rec.record(0, 0.0, model=net)
        run = rec.finish()
    assert run.manifest["dropout"] is expected
    assert source_of(run.manifest).uses_dropout() is expected


def test_the_rule_reads_torch_layers_and_rates_but_not_flags():
    assert uses_dropout(nn.LSTM(4, 4, num_layers=2, dropout=0.2))  # a rate torch applies itself
    assert uses_dropout(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1))
    assert not uses_dropout(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0))
    flagged = nn.Linear(2, 2)
    flagged.use_dropout = True  # a flag says nothing of a rate
    assert not uses_dropout(flagged)
