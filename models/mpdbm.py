"""Multi-prediction deep Boltzmann machine (Goodfellow, Mirza, Courville & Bengio 2013, "Multi-
prediction deep Boltzmann machines", NIPS; section 4 and Fig. 7 of the landscape paper).

Binary visible units v (784), two binary hidden layers h1, h2 and a softmax label layer y:
    E(v, h1, h2, y) = -v.bv - v W1 h1 - h1.b1 - h1 W2 h2 - h2.b2 - h2 W3 y - y.b3.
Weights are stored as (units above, units below), so a row is the weight vector into a unit of
the upper layer (pylearn2's max_col_norm constrains exactly these).

Mean-field inference is unrolled for `steps` iterations: an upward pass with doubled bottom-up
weights (pylearn2's SuperWeightDoubling) initialises h1, h2, y; then each iteration updates the
even layers {v (its unobserved units), h2} given the odd ones, then the odd layers {h1, y}
given the even ones. Unobserved visible units start at sigmoid(bv), an unobserved label at
softmax(b3).

Multi-prediction cost (pylearn2 costs.dbm.MultiPrediction with MaskGen(drop_prob=.5), supervised,
use_sum=False): for each example a subset S of the 785 variables (784 pixels + the label) is
hidden, inferred from the rest, and scored:
    cost = ( sum_{i in S} BCE(v_i, v_hat_i) + [y in S] (-log y_hat_y) ) / 784.
J(theta) must be one function of theta, so the subsets are not resampled: they are drawn once
per example from a seed that the dataset (and so the run's manifest) records, and travel with
the inputs (see models.datasets "mnist-mp"). Training draws fresh subsets for every minibatch,
as the source does (`resample_masks`). Pixel intensities in [0, 1] are used as the Bernoulli
targets (pylearn2 binarised them by sampling, which would make J random).

The forward returns (B, 1 + 10): the multi-prediction cost of each example, then the class
log-probabilities of inference from the image alone (the classifier the MP-DBM paper reports);
its negative log-likelihood is the `classification` cost shown beside J.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PIXELS, CLASSES = 784, 10


def pack_inputs(pixels: torch.Tensor, labels: torch.Tensor, drop: torch.Tensor, drop_label: torch.Tensor) -> torch.Tensor:
    """(N, 2, 794): row 0 = pixels (784) and the one-hot label (10); row 1 = the hidden subset:
    1 where a pixel is to be predicted, and the label's flag repeated over its 10 slots."""
    one_hot = F.one_hot(labels, CLASSES).to(pixels.dtype)
    values = torch.cat([pixels.flatten(1), one_hot], dim=1)
    mask = torch.cat([drop.flatten(1).to(pixels.dtype), drop_label.to(pixels.dtype)[:, None].expand(-1, CLASSES)], dim=1)
    return torch.stack([values, mask], dim=1)


def draw_masks(n: int, generator: torch.Generator, drop_prob: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    drop = torch.rand(n, PIXELS, generator=generator) < drop_prob
    drop_label = torch.rand(n, generator=generator) < drop_prob
    return drop, drop_label


def resample_masks(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Training hook (ModelSpec.prepare_batch): fresh prediction subsets for a minibatch."""
    drop, drop_label = draw_masks(len(x), generator)
    x = x.clone()
    x[:, 1, :PIXELS] = drop.to(x.dtype).to(x.device)
    x[:, 1, PIXELS:] = drop_label.to(x.dtype).to(x.device)[:, None]
    return x, y


class MPDBM(nn.Module):
    def __init__(self, hidden: tuple = (500, 1000), steps: int = 14, init: str = "sparse",
                 sparse_init: tuple = (15, None, 23), irange: tuple = (0.0, 0.00638830865761, 0.0),
                 init_bias: tuple = (-0.710467, -0.393587, 0.0), visible_bias: float = 0.0):
        super().__init__()
        n1, n2 = hidden
        self.steps = steps
        self.w1 = nn.Parameter(torch.zeros(n1, PIXELS))
        self.w2 = nn.Parameter(torch.zeros(n2, n1))
        self.w3 = nn.Parameter(torch.zeros(CLASSES, n2))
        self.bv = nn.Parameter(torch.zeros(PIXELS))
        self.b1 = nn.Parameter(torch.zeros(n1))
        self.b2 = nn.Parameter(torch.zeros(n2))
        self.b3 = nn.Parameter(torch.zeros(CLASSES))
        self.sparse_init, self.irange, self.init_bias, self.visible_bias = sparse_init, irange, init_bias, visible_bias

    def reset_parameters(self, generator: torch.Generator) -> None:
        """pylearn2's initialisers, layer by layer: `sparse_init: k` gives every unit exactly k
        non-zero incoming weights drawn from N(0, 1) (the "very large, sparse weights" of the
        landscape paper); `irange: r` draws U(-r, r)."""
        with torch.no_grad():
            for w, k, r in zip((self.w1, self.w2, self.w3), self.sparse_init, self.irange):
                w.zero_()
                if k:
                    k = min(k, w.shape[1])
                    for unit in range(w.shape[0]):
                        idx = torch.randperm(w.shape[1], generator=generator)[:k]
                        w[unit, idx] = torch.randn(k, generator=generator)
                else:
                    w.uniform_(-r, r, generator=generator)
            for b, value in zip((self.b1, self.b2, self.b3), self.init_bias):
                b.fill_(value)
            self.bv.fill_(self.visible_bias)

    def _infer(self, v: torch.Tensor, drop: torch.Tensor, y: torch.Tensor | None, drop_label: torch.Tensor | None):
        """Mean field with the observed units clamped. Returns the visible logits, h1, h2 and the
        label log-probabilities after `steps` iterations."""
        keep = 1 - drop
        v_hat = keep * v + drop * torch.sigmoid(self.bv)
        prior_y = torch.softmax(self.b3, dim=-1).expand(v.shape[0], -1)
        y_hat = prior_y if y is None else (1 - drop_label) * y + drop_label * prior_y
        # upward pass, bottom-up weights doubled to stand in for the missing top-down input
        h1 = torch.sigmoid(2 * v_hat @ self.w1.T + self.b1)
        h2 = torch.sigmoid(2 * h1 @ self.w2.T + self.b2)
        log_y = torch.log_softmax(h2 @ self.w3.T + self.b3, dim=-1)
        y_hat = log_y.exp() if y is None else (1 - drop_label) * y + drop_label * log_y.exp()
        v_logits = h1 @ self.w1 + self.bv
        for _ in range(self.steps):
            v_logits = h1 @ self.w1 + self.bv  # even layers given the odd ones
            v_hat = keep * v + drop * torch.sigmoid(v_logits)
            h2 = torch.sigmoid(h1 @ self.w2.T + y_hat @ self.w3 + self.b2)
            h1 = torch.sigmoid(v_hat @ self.w1.T + h2 @ self.w2 + self.b1)  # odd layers given the even
            log_y = torch.log_softmax(h2 @ self.w3.T + self.b3, dim=-1)
            y_hat = log_y.exp() if y is None else (1 - drop_label) * y + drop_label * log_y.exp()
        return v_logits, log_y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 2, 794) from pack_inputs -> (B, 1 + 10)
        values, mask = x[:, 0], x[:, 1]
        v, y = values[:, :PIXELS], values[:, PIXELS:]
        drop, drop_label = mask[:, :PIXELS], mask[:, PIXELS:PIXELS + 1]
        v_logits, log_y = self._infer(v, drop, y, drop_label)
        pixel_cost = F.binary_cross_entropy_with_logits(v_logits, v, reduction="none")
        label_cost = -(y * log_y).sum(dim=-1, keepdim=True)
        mp = ((drop * pixel_cost).sum(dim=-1, keepdim=True) + drop_label * label_cost) / PIXELS
        if self.training:  # the classifier pass is for evaluation only; training uses column 0
            return torch.cat([mp, torch.zeros_like(log_y)], dim=-1)
        _, classify = self._infer(v, torch.zeros_like(drop), None, None)
        return torch.cat([mp, classify], dim=-1)
