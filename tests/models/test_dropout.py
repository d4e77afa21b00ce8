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


# every zoo model, in both presets: the paper's dropout models, and no other
_ZOO_DROPOUT = {"maxout-mnist": True, "maxout-adv-mnist": True, "relu-dropout-mnist": True, "sigmoid-mnist": True,
                "conv-maxout-cifar10": True, "lstm-ptb": True, "relu-mnist": False, "deep-linear-mnist": False,
                "scalar-linear": False, "mpdbm-mnist": False}


def test_the_table_names_every_zoo_model():
    assert set(_ZOO_DROPOUT) == set(MODELS)


@pytest.mark.parametrize("preset", ["small", "paper"])
@pytest.mark.parametrize("model_id", sorted(_ZOO_DROPOUT))
def test_a_zoo_runs_dropout_comes_from_its_model(model_id, preset):
    expected = _ZOO_DROPOUT[model_id]
    assert source_of({"model": model_id, "preset": preset}).uses_dropout() is expected
    assert uses_dropout(MODELS[model_id].build(preset)) is expected


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


class _Attributes(nn.Module):
    def __init__(self, **attributes):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        for name, value in attributes.items():
            setattr(self, name, value)


@pytest.mark.parametrize("attributes, expected", [
    (dict(num_dropout_layers=2), False),  # a count, named with "dropout" inside
    (dict(dropout_after_epoch=5), False),  # a schedule
    (dict(dropout_after_epoch=1), False),  # the name, not the value, says it is no rate
    (dict(dropout=2.0), False),  # no rate above 1
    (dict(dropout=-0.1), False),
    (dict(dropout=1), True),
    (dict(hidden_dropout_prob=0.1), True),  # Hugging Face's names
    (dict(attention_probs_dropout_prob=0.1), True),
    (dict(attn_pdrop=0.1), True),
    (dict(resid_pdrop=0.1), True),
    (dict(embd_pdrop=0.1), True),
    (dict(attention_dropout=0.1), True),
    (dict(classifier_dropout_rate=0.2), True),
    (dict(embedding_dropout_p=0.2), True),
    (dict(attn_pdrop=0.0), False),
])
def test_a_rate_is_an_attribute_named_as_one_with_a_value_of_a_rate(attributes, expected):
    assert uses_dropout(_Attributes(**attributes)) is expected


def test_a_recurrent_layer_s_dropout_counts_only_between_layers():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: dropout with num_layers=1 does nothing
        one_layer = [nn.GRU(4, 4, dropout=0.5), nn.LSTM(4, 4, dropout=0.5), nn.RNN(4, 4, dropout=0.5)]
    assert not any(uses_dropout(m) for m in one_layer)
    assert all(uses_dropout(m) for m in (nn.GRU(4, 4, num_layers=2, dropout=0.5), nn.RNN(4, 4, num_layers=3, dropout=0.1)))
    assert uses_dropout(nn.Sequential(nn.GRU(4, 4, dropout=0.5), nn.Dropout(0.1)))  # a layer beside it still does
