"""Whether a model applies dropout in training: the one rule, for the zoo's models and a user's.

It decides whether a Monte-Carlo dropout line (`dropout_samples`) means anything for a run; in
eval mode, which every deterministic J uses, dropout is off whatever this says.
"""

from __future__ import annotations

from numbers import Real

from torch import nn

# How a rate applied in `forward` with F.dropout is named: the zoo's input_dropout, hidden_dropout
# and dropout; nn.MultiheadAttention's dropout; Hugging Face's attention_dropout, hidden_dropout_prob,
# attn_pdrop, resid_pdrop, embd_pdrop. Only the END of a name: `num_dropout_layers` or
# `dropout_after_epoch` hold something else than a rate.
RATE_SUFFIXES = ("dropout", "dropout_p", "dropout_prob", "dropout_rate", "pdrop")


def uses_dropout(model: nn.Module) -> bool:
    """True when a module of `model` is a torch dropout layer (nn.Dropout, nn.Dropout2d,
    nn.AlphaDropout, ...) with p > 0, or keeps a rate in (0, 1] in an attribute whose name ends in
    one of RATE_SUFFIXES (a dropout no module records). A recurrent layer (nn.RNN, nn.LSTM, nn.GRU)
    applies its `dropout` only between layers: it counts only with num_layers > 1."""
    return any(_dropout_layer(m) or _dropout_rate(m) for m in model.modules())


def _dropout_layer(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.dropout._DropoutNd) and module.p > 0


def _dropout_rate(module: nn.Module) -> bool:
    if isinstance(module, nn.RNNBase) and module.num_layers <= 1:
        return False  # torch ignores its dropout (and warns that it does)
    # a bool (e.g. use_dropout=False) is a Real too, and is no rate
    return any(isinstance(v, Real) and not isinstance(v, bool) and 0 < v <= 1
               for k, v in vars(module).items() if k.lower().endswith(RATE_SUFFIXES))
