"""Every model id with its presets. `paper` presets follow appendix A's sources; `small` presets
train on a 2-core CPU in under a minute on the offline demo data and keep the model's character.
"""

from __future__ import annotations

from compute.errors import BadInput

from .mlp import MLP, ScalarLinear
from .spec import ModelSpec, Preset, TrainConfig

_DEMO = {"demo_train": 5000, "demo_valid": 1000, "demo_test": 1000}

# pylearn2 scripts/papers/maxout/mnist_pi.yaml (Goodfellow et al. 2013c): two maxout layers of
# 240 units x 5 pieces, irange .005, max_col_norm 1.9365, input dropout include .8 / hidden .5,
# SGD lr .1, batch 100, momentum .5 -> .7 saturating at epoch 250, lr decay 1.000004 per batch
# (about 0.998 per epoch), early stopping on valid misclassification.
_MAXOUT_PAPER = Preset(
    "paper",
    dict(in_features=784, hidden=[240, 240], out_features=10, activation="maxout", pieces=5,
         dropout_input=0.2, dropout_hidden=0.5, init="uniform", init_scale=0.005),
    {}, TrainConfig(lr=0.1, lr_decay=0.998, momentum=0.5, final_momentum=0.7, momentum_saturate=250,
                    batch_size=100, max_epochs=1000, patience=100, max_col_norm=1.9365),
    "pylearn2 scripts/papers/maxout/mnist_pi.yaml (Goodfellow et al. 2013c)")

# pylearn2 scripts/papers/dropout/mnist_valid.yaml (Srivastava 2013 reference): rectified linear
# MLP; we use 784-1200-1200-10 with input dropout .2 / hidden .5 (Hinton et al. 2012's MNIST
# dropout net). The file itself could not be read from here; hidden sizes and init are our
# reading of it, not verified line by line.
_RELU_PAPER_ARCH = dict(in_features=784, hidden=[1200, 1200], out_features=10, activation="relu",
                        dropout_input=0.2, dropout_hidden=0.5, init="normal", init_scale=0.01)
_RELU_PAPER_TRAIN = TrainConfig(lr=0.1, lr_decay=0.99, momentum=0.5, final_momentum=0.99,
                                momentum_saturate=500, batch_size=100, max_epochs=1000, patience=100,
                                max_col_norm=3.0)
_SMALL_TRAIN = TrainConfig(lr=0.05, momentum=0.5, final_momentum=0.9, momentum_saturate=5,
                           batch_size=50, max_epochs=12, patience=4)


def _mnist_mlp(activation: str, dropout: bool, **small) -> dict[str, Preset]:
    paper_arch = dict(_RELU_PAPER_ARCH, activation=activation)
    if not dropout:
        paper_arch.update(dropout_input=0.0, dropout_hidden=0.0)
    small_arch = dict(in_features=784, hidden=[100, 100], out_features=10, activation=activation,
                      dropout_input=0.2 if dropout else 0.0, dropout_hidden=0.5 if dropout else 0.0,
                      init="normal", init_scale=0.05)
    small_arch.update(small)
    return {
        "small": Preset("small", small_arch, _DEMO, _SMALL_TRAIN, "Landscape small preset"),
        "paper": Preset("paper", paper_arch, {}, _RELU_PAPER_TRAIN,
                        "pylearn2 scripts/papers/dropout/mnist_valid.yaml (Srivastava 2013)"),
    }


MODELS: dict[str, ModelSpec] = {}


def _register(spec: ModelSpec) -> None:
    MODELS[spec.id] = spec


_register(ModelSpec(
    "maxout-mnist", "maxout MLP with dropout on MNIST (section 3, Fig. 1 bottom)", "mnist",
    "cross-entropy", MLP, {
        "small": Preset("small", dict(in_features=784, hidden=[64, 64], out_features=10,
                                      activation="maxout", pieces=3, dropout_input=0.2, dropout_hidden=0.5,
                                      init="uniform", init_scale=0.05),
                        _DEMO, TrainConfig(lr=0.05, momentum=0.5, final_momentum=0.7, momentum_saturate=5,
                                           batch_size=50, max_epochs=12, patience=4, max_col_norm=1.9365),
                        "Landscape small preset"),
        "paper": _MAXOUT_PAPER}))
_register(ModelSpec("relu-mnist", "ReLU MLP without dropout on MNIST (Figs 2 right, 4, 5)", "mnist",
                    "cross-entropy", MLP, _mnist_mlp("relu", dropout=False)))
_register(ModelSpec("relu-dropout-mnist", "ReLU MLP with dropout on MNIST (section 3)", "mnist",
                    "cross-entropy", MLP, _mnist_mlp("relu", dropout=True)))
_register(ModelSpec("sigmoid-mnist", "sigmoid MLP with dropout on MNIST (Fig. 2 left)", "mnist",
                    "cross-entropy", MLP, _mnist_mlp("sigmoid", dropout=True, init_scale=0.1)))
_register(ModelSpec(
    "deep-linear-mnist",
    "deep linear network: ten factors, MSE to one-hot targets on MNIST (section 5, Fig. 15)",
    "mnist", "mse-one-hot", MLP, {
        # small: 2x2 mean-pooled 14x14 inputs, so the nine square factors are 196x196.
        "small": Preset("small", dict(in_features=196, hidden=[196] * 9, out_features=10,
                                      activation="linear", bias=False, init="orthogonal-scaled",
                                      init_scale=0.8),
                        dict(_DEMO, downsample=2),
                        TrainConfig(lr=0.02, momentum=0.5, final_momentum=0.9, momentum_saturate=5,
                                    batch_size=50, max_epochs=12, patience=4),
                        "Landscape small preset"),
        "paper": Preset("paper", dict(in_features=784, hidden=[784] * 9, out_features=10,
                                      activation="linear", bias=False, init="orthogonal-scaled",
                                      init_scale=0.8),
                        {}, TrainConfig(lr=0.01, momentum=0.9, batch_size=100, max_epochs=100, patience=10),
                        "Goodfellow, Vinyals & Saxe 2015, Fig. 15; Saxe et al. 2013"),
    }))
_register(ModelSpec(
    "scalar-linear", "depth-2 scalar linear regression y = w1 w2 x fit to y = 1 at x = 1 (Figs 9, 10, 14)",
    "scalar", "squared-error", ScalarLinear, {
        "small": Preset("small", dict(init_scale=0.1), {},
                        TrainConfig(lr=0.1, momentum=0.0, batch_size=1, max_epochs=60, patience=60,
                                    checkpoints_first_epoch=0),
                        "Goodfellow, Vinyals & Saxe 2015, section 5"),
        "paper": Preset("paper", dict(init_scale=0.01), {},
                        TrainConfig(lr=0.05, momentum=0.0, batch_size=1, max_epochs=300, patience=300,
                                    checkpoints_first_epoch=0),
                        "Goodfellow, Vinyals & Saxe 2015, section 5"),
    }))


def get_model(model_id: str) -> ModelSpec:
    try:
        return MODELS[model_id]
    except KeyError:
        raise BadInput(f"unknown model {model_id!r}; known: {', '.join(sorted(MODELS))}",
                       field="model") from None
