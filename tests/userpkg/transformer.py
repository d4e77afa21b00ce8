"""A tiny causal transformer language model: token and position embeddings, pre-norm blocks of
masked self-attention and an MLP, a linear head over the vocabulary."""

import torch
from torch import nn

VOCAB, CONTEXT = 50, 16


class TinyLM(nn.Module):
    def __init__(self, vocab=VOCAB, context=CONTEXT, width=32, heads=2, layers=2):
        super().__init__()
        self.tokens = nn.Embedding(vocab, width)
        self.positions = nn.Embedding(context, width)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(context), persistent=False)

    def forward(self, ids):  # (B, T) token ids -> (B, T, V) logits of the next token
        t = ids.shape[1]
        h = self.tokens(ids) + self.positions(torch.arange(t, device=ids.device))
        h = self.blocks(h, mask=self.causal[:t, :t], is_causal=True)
        return self.head(self.norm(h))


def tiny_lm():
    return TinyLM()
