"""Fully connected networks of section 3 (maxout, ReLU, sigmoid; dropout optional) and the
deep linear network of section 5 / Fig. 15 (activation "linear", no biases).

The forward pass can start after the first affine map: the evaluator uses that to compute
W(alpha)x = (1-alpha)W0 x + alpha W1 x from two products instead of one per point.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    def __init__(self, in_features: int, hidden: list[int], out_features: int, activation: str = "relu",
                 pieces: int = 1, dropout_input: float = 0.0, dropout_hidden: float = 0.0,
                 bias: bool = True, init: str = "default", init_scale: float = 0.0):
        super().__init__()
        if activation not in ("relu", "sigmoid", "maxout", "linear"):
            raise ValueError(f"unknown activation {activation}")
        self.activation, self.pieces = activation, pieces if activation == "maxout" else 1
        self.input_dropout, self.hidden_dropout = dropout_input, dropout_hidden
        widths = [in_features] + list(hidden)
        self.layers = nn.ModuleList(
            nn.Linear(a, b * self.pieces, bias=bias) for a, b in zip(widths[:-1], widths[1:]))
        self.layers.append(nn.Linear(widths[-1], out_features, bias=bias))
        self.init, self.init_scale = init, init_scale

    def reset_parameters(self, generator: torch.Generator) -> None:
        """The architecture's own initializer (as in the preset's source), drawn from generator."""
        with torch.no_grad():
            for layer in self.layers:
                fan_in = layer.weight.shape[1]
                if self.init == "uniform":  # pylearn2 `irange`: U(-r, r)
                    layer.weight.uniform_(-self.init_scale, self.init_scale, generator=generator)
                elif self.init == "normal":  # pylearn2 `istdev`
                    layer.weight.normal_(0.0, self.init_scale, generator=generator)
                elif self.init == "orthogonal-scaled":  # deep linear: N(0, scale^2/fan_in)
                    layer.weight.normal_(0.0, self.init_scale / fan_in ** 0.5, generator=generator)
                else:  # PyTorch's default for nn.Linear
                    bound = 1.0 / fan_in ** 0.5
                    layer.weight.uniform_(-bound, bound, generator=generator)
                if layer.bias is not None:
                    layer.bias.zero_()

    def _act(self, z: torch.Tensor) -> torch.Tensor:
        if self.activation == "relu":
            return F.relu(z)
        if self.activation == "sigmoid":
            return torch.sigmoid(z)
        if self.activation == "maxout":
            return z.unflatten(-1, (-1, self.pieces)).amax(dim=-1)
        return z

    def forward(self, x: torch.Tensor, first_affine_out: torch.Tensor | None = None,
                only_first_affine: bool = False) -> torch.Tensor:
        if first_affine_out is None:
            h = x.flatten(1)
            if self.input_dropout:
                h = F.dropout(h, self.input_dropout, self.training)
            z = self.layers[0](h)
        else:
            z = first_affine_out
        if only_first_affine:
            return z
        for layer in self.layers[1:]:
            h = self._act(z)
            if self.hidden_dropout:
                h = F.dropout(h, self.hidden_dropout, self.training)
            z = layer(h)
        return z


class ScalarLinear(nn.Module):
    """Depth-2 scalar linear regression y = w1 w2 x (Figs 9, 10, 14)."""

    def __init__(self, init_scale: float = 0.01):
        super().__init__()
        self.w1 = nn.Parameter(torch.zeros(()))
        self.w2 = nn.Parameter(torch.zeros(()))
        self.init_scale = init_scale

    def reset_parameters(self, generator: torch.Generator) -> None:
        with torch.no_grad():
            self.w1.normal_(0.0, self.init_scale, generator=generator)
            self.w2.normal_(0.0, self.init_scale, generator=generator)

    def forward(self, x: torch.Tensor, first_affine_out: torch.Tensor | None = None,
                only_first_affine: bool = False) -> torch.Tensor:
        z = self.w1 * x if first_affine_out is None else first_affine_out
        return z if only_first_affine else self.w2 * z
