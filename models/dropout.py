"""Whether a model applies dropout in training: the one rule, for the zoo's models and a user's.

It decides whether a Monte-Carlo dropout line (`dropout_samples`) means anything for a run; in
eval mode, which every deterministic J uses, dropout is off whatever this says.
"""

from __future__ import annotations

from numbers import Real

from torch import nn


def uses_dropout(model: nn.Module) -> bool:
    """True when a module of `model` is a torch dropout layer (nn.Dropout, nn.Dropout2d,
    nn.AlphaDropout, ...) with p > 0, or keeps a positive rate in an attribute whose name holds
    "dropout": the rate of a dropout applied in `forward` with F.dropout (the zoo's dropout_input,
    dropout_hidden and dropout; nn.LSTM's and nn.MultiheadAttention's dropout; Hugging Face's
    attention_dropout), which no module records."""
    return any(_dropout_layer(m) or _dropout_rate(m) for m in model.modules())


def _dropout_layer(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.dropout._DropoutNd) and module.p > 0


def _dropout_rate(module: nn.Module) -> bool:
    # a bool (e.g. use_dropout=False) is a Real too, and is no rate
    return any(isinstance(v, Real) and not isinstance(v, bool) and v > 0
               for k, v in vars(module).items() if "dropout" in k)
