"""Convolutional maxout network (Goodfellow, Warde-Farley, Mirza, Courville & Bengio 2013,
"Maxout networks", the CIFAR-10 model; section 4, Fig. 6 of the landscape paper).

Three convolutional maxout layers, each followed by max pooling, a fully connected maxout layer
and a softmax, as in pylearn2 scripts/papers/maxout/cifar10_no_aug_valid.yaml (the variant
without data augmentation). Pooling windows overlap (e.g. 4x4, stride 2) and, as in
cuda-convnet, cover the border (`ceil_mode`): a 33x33 map pools to 16x16, which is what the
yaml's `partial_sum` values imply.

The first convolution is linear in its weights, so the forward can start after it
(`first_affine_out`): along a line the evaluator computes conv(x, W0) and conv(x, W1) once and
combines them, instead of one convolution per point (the first layer holds most of the FLOPs).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvMaxout(nn.Module):
    def __init__(self, in_channels: int = 3, image_size: int = 32,
                 channels: tuple = (96, 192, 192), pieces: tuple = (2, 2, 2), kernels: tuple = (8, 8, 5),
                 pads: tuple = (4, 3, 3), pools: tuple = (4, 4, 2), pool_strides: tuple = (2, 2, 2),
                 fc_units: int = 500, fc_pieces: int = 5, classes: int = 10,
                 dropout_input: float = 0.2, dropout_hidden: float = 0.5, init_scale: float = 0.005):
        super().__init__()
        self.pieces, self.pads, self.pools, self.pool_strides = list(pieces), list(pads), list(pools), list(pool_strides)
        self.fc_pieces, self.input_dropout, self.hidden_dropout = fc_pieces, dropout_input, dropout_hidden
        self.init_scale = init_scale
        self.convs = nn.ModuleList()
        c_in, size = in_channels, image_size
        for c, k, pad, p, pool, stride in zip(channels, kernels, pads, pieces, pools, pool_strides):
            self.convs.append(nn.Conv2d(c_in, c * p, k, padding=pad))  # tied biases: one per channel
            size = size + 2 * pad - k + 1
            size = -(-(size - pool) // stride) + 1  # ceil mode
            c_in = c
        self.fc = nn.Linear(c_in * size * size, fc_units * fc_pieces)
        self.out = nn.Linear(fc_units, classes)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """pylearn2 `irange`: every weight U(-r, r), biases 0."""
        with torch.no_grad():
            for layer in [*self.convs, self.fc, self.out]:
                layer.weight.uniform_(-self.init_scale, self.init_scale, generator=generator)
                layer.bias.zero_()

    @staticmethod
    def _maxout(z: torch.Tensor, pieces: int, dim: int) -> torch.Tensor:
        # consecutive groups of `pieces` units (channels) are one maxout unit, as in pylearn2
        return z.unflatten(dim, (-1, pieces)).amax(dim=dim + 1)

    def _pool(self, h: torch.Tensor, i: int) -> torch.Tensor:
        return F.max_pool2d(h, self.pools[i], self.pool_strides[i], ceil_mode=True)

    def forward(self, x: torch.Tensor, first_affine_out: torch.Tensor | None = None,
                only_first_affine: bool = False) -> torch.Tensor:
        # x: (B, C, H, W)
        if first_affine_out is None:
            if self.input_dropout:
                x = F.dropout(x, self.input_dropout, self.training)
            z = self.convs[0](x)  # (B, C1 * pieces, H1, W1)
        else:
            z = first_affine_out
        if only_first_affine:
            return z
        h = self._pool(self._maxout(z, self.pieces[0], 1), 0)
        for i, conv in enumerate(self.convs[1:], start=1):
            if self.hidden_dropout:
                h = F.dropout(h, self.hidden_dropout, self.training)
            h = self._pool(self._maxout(conv(h), self.pieces[i], 1), i)
        h = h.flatten(1)
        if self.hidden_dropout:
            h = F.dropout(h, self.hidden_dropout, self.training)
        h = self._maxout(self.fc(h), self.fc_pieces, 1)
        if self.hidden_dropout:
            h = F.dropout(h, self.hidden_dropout, self.training)
        return self.out(h)
