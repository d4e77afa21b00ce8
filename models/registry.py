"""Every model id with its presets. `paper` presets follow appendix A's sources; `small` presets
train on a 2-core CPU in under a minute on the offline demo data and keep the model's character.
"""

from __future__ import annotations

from models.errors import BadInput

from .conv import ConvMaxout
from .lstm import LSTMLanguageModel, stream_batches
from .mlp import MLP, ScalarLinear
from .mpdbm import MPDBM, resample_masks
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


# maxout small (also the base of maxout-adv small): max_col_norm as in mnist_pi.yaml keeps it stable.
_MAXOUT_SMALL = Preset(
    "small", dict(in_features=784, hidden=[64, 64], out_features=10, activation="maxout", pieces=3,
                  dropout_input=0.2, dropout_hidden=0.5, init="uniform", init_scale=0.05),
    _DEMO, TrainConfig(lr=0.05, momentum=0.5, final_momentum=0.7, momentum_saturate=5,
                       batch_size=50, max_epochs=12, patience=4, max_col_norm=1.9365),
    "Landscape small preset")

MODELS: dict[str, ModelSpec] = {}


def _register(spec: ModelSpec) -> None:
    MODELS[spec.id] = spec


_register(ModelSpec(
    "maxout-mnist", "maxout MLP with dropout on MNIST (section 3, Fig. 1 bottom)", "mnist",
    "cross-entropy", MLP, {
        "small": _MAXOUT_SMALL,
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


# ---------------------------------------------------------------- section 4's advanced networks

# Goodfellow, Shlens & Szegedy 2014, "Explaining and harnessing adversarial examples", section 6:
# the mnist_pi.yaml maxout network above with 1600 units per layer (it needed more capacity),
# trained on 1/2 J(x) + 1/2 J(x + .25 sign(grad_x J)). There is no public configuration; the
# remaining hyper-parameters are mnist_pi.yaml's, as appendix A says.
_register(ModelSpec(
    "maxout-adv-mnist", "maxout MLP with dropout and adversarial training on MNIST (Fig. 1 top, Figs 18, 19)",
    "mnist", "adversarial-cross-entropy", MLP, {
        "small": _MAXOUT_SMALL,
        "paper": Preset("paper", dict(_MAXOUT_PAPER.arch, hidden=[1600, 1600]), {}, _MAXOUT_PAPER.train,
                        "Goodfellow, Shlens & Szegedy 2014, section 6, on pylearn2 mnist_pi.yaml"),
    }))

# pylearn2 scripts/papers/maxout/cifar10_no_aug_valid.yaml (Goodfellow et al. 2013c, CIFAR-10
# without augmentation): conv maxout 96x2 (8x8 kernels, pad 4, pool 4 stride 2), 192x2 (8x8, pad 3,
# pool 4/2), 192x2 (5x5, pad 3, pool 2/2), maxout 500x5, softmax; irange .005 everywhere; max
# kernel norms .9 / 1.9365 / 1.9365, max col norms 1.9 (h3) and 1.9365 (softmax); W_lr_scale and
# b_lr_scale .05 on the conv layers; dropout: input include .8 (on h0), .5 elsewhere; SGD lr .17,
# batch 128, momentum .5 -> .6 saturating at epoch 250, lr decaying linearly to .01x at epoch 500,
# early stopping on valid misclassification with N = 100; GCN + ZCA-whitened data; train = the
# first 40,000 training images, valid = the last 10,000.
_register(ModelSpec(
    "conv-maxout-cifar10", "convolutional maxout network on CIFAR-10, no augmentation (section 4, Fig. 6)",
    "cifar10", "cross-entropy", ConvMaxout, {
        "small": Preset("small", dict(channels=(16, 32, 32), pieces=(2, 2, 2), kernels=(5, 3, 3), pads=(2, 1, 1),
                                      pools=(3, 3, 2), pool_strides=(2, 2, 2), fc_units=64, fc_pieces=3,
                                      dropout_input=0.0, dropout_hidden=0.25, init_scale=0.05),
                        {"demo_train": 3000, "demo_valid": 1000, "demo_test": 1000, "preprocess": "gcn"},
                        TrainConfig(lr=0.03, momentum=0.5, final_momentum=0.8, momentum_saturate=4,
                                    batch_size=50, max_epochs=8, patience=3, max_col_norm=1.9365,
                                    checkpoints_first_epoch=5),
                        "Landscape small preset"),
        "paper": Preset("paper", dict(), {"preprocess": "gcn-zca"},
                        TrainConfig(lr=0.17, lr_decay=0.01, lr_linear_saturate=500, momentum=0.5,
                                    final_momentum=0.6, momentum_saturate=250, batch_size=128,
                                    max_epochs=1000, patience=100,
                                    max_norms={"convs.0.": 0.9, "convs.1.": 1.9365, "convs.2.": 1.9365,
                                               "fc.": 1.9, "out.": 1.9365},
                                    lr_scales={"convs.": 0.05}),
                        "pylearn2 scripts/papers/maxout/cifar10_no_aug_valid.yaml (Goodfellow et al. 2013c)"),
    }))

# pylearn2 scripts/papers/mpdbm/mpdbm.yaml (Goodfellow, Mirza, Courville & Bengio 2013a): hidden
# layers of 2087 and 3200 binary units and a 10-way softmax; 14 mean-field iterations with
# SuperWeightDoubling; sparse_init 15 (h1) and 23 (labels), irange .0064 (h2); init biases -.71 and
# -.39; max col norms 1.81 / 2.67 / 5.18; MultiPrediction(drop_prob .5, supervised); SGD lr 15.15,
# batch 100, momentum .5 -> .733 saturating at epoch 2, lr decaying linearly to .0204x at epoch 868;
# early stopping on valid error with N = 100; train = the first 50,000 MNIST images, valid = the
# last 10,000. The visible biases start at logit(.1307), MNIST's mean intensity, where the yaml sets
# them per pixel from the data (bias_from_marginals).
_MPDBM_NORMS = {"w1": 1.809978, "w2": 2.666304, "w3": 5.175683}
_register(ModelSpec(
    "mpdbm-mnist", "multi-prediction deep Boltzmann machine on MNIST (section 4, Figs 7, 20, 22)",
    "mnist-mp", "multi-prediction", MPDBM, {
        "small": Preset("small", dict(hidden=(200, 200), steps=5, visible_bias=-1.895),
                        dict(_DEMO, mask_seed=0, drop_prob=0.5),
                        TrainConfig(lr=5.0, momentum=0.5, final_momentum=0.7, momentum_saturate=2,
                                    batch_size=50, max_epochs=10, patience=4, max_norms=_MPDBM_NORMS),
                        "Landscape small preset"),
        "paper": Preset("paper", dict(hidden=(2087, 3200), steps=14, visible_bias=-1.895),
                        dict(mask_seed=0, drop_prob=0.5),
                        TrainConfig(lr=15.146493, lr_decay=0.020379, lr_linear_saturate=868, momentum=0.5,
                                    final_momentum=0.732716, momentum_saturate=2, batch_size=100,
                                    max_epochs=1000, patience=100, max_norms=_MPDBM_NORMS),
                        "pylearn2 scripts/papers/mpdbm/mpdbm.yaml (Goodfellow et al. 2013a)"),
    },
    prepare_batch=resample_masks))

# Zaremba, Sutskever & Vinyals 2014, section 4.1, the "medium" regularised LSTM: two layers of 650
# units, dropout .5 on the non-recurrent connections, parameters U(-.05, .05), minibatches of 20,
# unrolled for 35 steps, SGD lr 1 divided by 1.2 after every epoch from epoch 6, gradient norm
# clipped at 5, 39 epochs; PTB's own train / valid / test files. Their minibatch loss is summed over
# the 35 steps (averaged over the batch); ours is the per-token mean, whose gradient is 35 times
# smaller, so the same updates are lr 35 with the norm clipped at 5/35 (small: 20 steps, 20 and .25).
_register(ModelSpec(
    "lstm-ptb", "two-layer dropout LSTM language model on Penn Treebank (section 4, Figs 8, 16)",
    "ptb", "token-nll", LSTMLanguageModel, {
        "small": Preset("small", dict(vocab=500, hidden=128, dropout=0.2, init_scale=0.1),
                        {"seq_len": 20, "vocab": 500, "demo_train": 40_000, "demo_valid": 4_000,
                         "demo_test": 4_000, "demo_vocab": 500},
                        TrainConfig(lr=20.0, lr_decay=0.7, lr_decay_start=4, momentum=0.0, batch_size=20,
                                    max_epochs=8, patience=8, clip_grad_norm=0.25, checkpoints_first_epoch=4),
                        "Landscape small preset (after Zaremba et al.'s small configuration)"),
        "paper": Preset("paper", dict(vocab=10_000, hidden=650, dropout=0.5, init_scale=0.05),
                        {"seq_len": 35, "vocab": 10_000},
                        TrainConfig(lr=35.0, lr_decay=1 / 1.2, lr_decay_start=6, momentum=0.0, batch_size=20,
                                    max_epochs=39, patience=39, clip_grad_norm=5.0 / 35),
                        "Zaremba, Sutskever & Vinyals 2014, section 4.1 (medium LSTM)"),
    },
    batch_order=stream_batches))


def get_model(model_id: str) -> ModelSpec:
    try:
        return MODELS[model_id]
    except KeyError:
        raise BadInput(f"unknown model {model_id!r}; known: {', '.join(sorted(MODELS))}",
                       field="model") from None
