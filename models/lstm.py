"""The dropout-regularised LSTM language model of Zaremba, Sutskever & Vinyals 2014,
"Recurrent neural network regularization" (section 4.1; Fig. 8 of the landscape paper).

Word embedding -> two LSTM layers -> softmax over the vocabulary; dropout on the non-recurrent
connections only (embedding -> layer 1 -> layer 2 -> softmax), never on the recurrent state.

J (see models/objectives.py "token-nll") is the mean negative log-likelihood per token over a
whole split. The split's token stream is cut into consecutive sequences of `seq_len` tokens and
each is evaluated from a zero state, so J is an exact function of theta and every sequence
counts the same number of tokens (the mean over sequences is the mean over tokens). This
differs from Zaremba et al.'s evaluation, which carries the state through the whole split: the
first words of each sequence have less context here, so our perplexities are somewhat higher.

Training is truncated backpropagation through time as in the source: `stream_batches` lays the
sequences out as `batch_size` parallel streams, consecutive minibatches continue each stream,
and in training mode the model carries its (detached) state from one minibatch to the next;
`train()` (called by the training loop at every epoch) starts from zero again.

A plain call runs PyTorch's fused LSTM kernel on these parameters; under torch.func.vmap (many
theta at once, e.g. on a GPU) the same cell runs written out, as vmap has no rule for the kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LSTMLanguageModel(nn.Module):
    def __init__(self, vocab: int = 10_000, hidden: int = 650, layers: int = 2, dropout: float = 0.5,
                 init_scale: float = 0.05, carry_state: bool = True):
        super().__init__()
        self.hidden, self.dropout, self.init_scale, self.carry_state = hidden, dropout, init_scale, carry_state
        self.embedding = nn.Embedding(vocab, hidden)
        # per layer: input weights (4H, H), recurrent weights (4H, H), bias (4H); gates i, f, g, o
        self.w_in = nn.ParameterList(nn.Parameter(torch.zeros(4 * hidden, hidden)) for _ in range(layers))
        self.w_rec = nn.ParameterList(nn.Parameter(torch.zeros(4 * hidden, hidden)) for _ in range(layers))
        self.bias = nn.ParameterList(nn.Parameter(torch.zeros(4 * hidden)) for _ in range(layers))
        self.decoder = nn.Linear(hidden, vocab)
        self._state: tuple | None = None  # (h, c), each (layers, B, H), carried in training

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Zaremba et al.: every parameter U(-init_scale, init_scale)."""
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-self.init_scale, self.init_scale, generator=generator)

    def train(self, mode: bool = True) -> "LSTMLanguageModel":
        self._state = None  # a new epoch: the streams start again from a zero state
        return super().train(mode)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        # tokens: (B, T) int64 -> logits (B, T, V)
        B, T = tokens.shape
        L = len(self.w_in)
        h = F.dropout(self.embedding(tokens), self.dropout, self.training)  # (B, T, H)
        if self.training and self.carry_state and self._state is not None and self._state[0].shape[1] == B:
            h0, c0 = (s.detach() for s in self._state)  # truncated BPTT: the state, not its history
        else:
            h0 = c0 = h.new_zeros(L, B, self.hidden)
        if _under_vmap(self.w_in[0]):
            h, hn, cn = self._unrolled(h, h0, c0)
        else:  # the fused kernel computes the same cell ~2x faster; dropout between layers only
            weights = [w for i in range(L) for w in (self.w_in[i], self.w_rec[i], self.bias[i],
                                                     torch.zeros_like(self.bias[i]))]
            h, hn, cn = torch.lstm(h, (h0, c0), weights, True, L, self.dropout, self.training, False, True)
        if self.training and self.carry_state:
            self._state = (hn, cn)
        return self.decoder(F.dropout(h, self.dropout, self.training))  # (B, T, V)

    def _unrolled(self, h: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor):
        """The same cell written out: one GEMM for the input projections of all steps, then the
        recurrence. torch.func.vmap has no batching rule for the fused op; it has for these."""
        hn, cn = [], []
        for layer in range(len(self.w_in)):
            if layer:
                h = F.dropout(h, self.dropout, self.training)  # non-recurrent connections only
            gates_in = h @ self.w_in[layer].T + self.bias[layer]  # (B, T, 4H)
            h_t, c_t = h0[layer], c0[layer]
            outputs = []
            for t in range(h.shape[1]):
                i, f, g, o = (gates_in[:, t] + h_t @ self.w_rec[layer].T).chunk(4, dim=-1)  # PyTorch's gate order
                c_t = torch.sigmoid(f) * c_t + torch.sigmoid(i) * torch.tanh(g)
                h_t = torch.sigmoid(o) * torch.tanh(c_t)
                outputs.append(h_t)
            h = torch.stack(outputs, dim=1)
            hn.append(h_t)
            cn.append(c_t)
        return h, torch.stack(hn), torch.stack(cn)


def _under_vmap(t: torch.Tensor) -> bool:
    check = getattr(torch._C._functorch, "is_batchedtensor", None)
    return bool(check(t)) if check is not None else True  # unknown torch: the path that always works


def stream_batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Zaremba et al.'s minibatches: the n consecutive sequences form `batch_size` parallel streams
    of n // batch_size sequences; minibatch b holds sequence b of every stream, so the state carried
    from minibatch b-1 is that of the text just before. (The < batch_size sequences left over are
    not trained on; J still counts them.) Deterministic: the generator is unused."""
    streams = max(1, min(batch_size, n))
    length = n // streams
    starts = torch.arange(streams) * length
    return [starts + b for b in range(length)]
