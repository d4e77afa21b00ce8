"""Language models as people write them: a tiny Hugging Face GPT-2 built from a config (nothing
downloaded) and a nanoGPT-style model whose output head is tied to its token embedding
(`head.weight is emb.weight`), with the causal-lm data they are trained on."""

import torch
from torch import nn

VOCAB, CONTEXT = 64, 32


def _config():
    from transformers import GPT2Config

    return GPT2Config(vocab_size=VOCAB, n_positions=CONTEXT, n_embd=32, n_layer=2, n_head=2,
                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                      bos_token_id=0, eos_token_id=0)


def tiny_gpt2():
    """GPT2LMHeadModel from a 2-layer config; its lm_head is tied to transformer.wte."""
    from transformers import GPT2LMHeadModel

    return GPT2LMHeadModel(_config())


def tiny_gpt2_logits():
    """The same GPT-2 with a forward that returns the logits tensor of (B, T) ids (a model whose
    forward returns a tensor: the same parameter names, so the same checkpoints import)."""
    from transformers import GPT2LMHeadModel

    class LogitsGPT2(GPT2LMHeadModel):
        def forward(self, input_ids, **kwargs):
            return super().forward(input_ids=input_ids, **kwargs).logits

    return LogitsGPT2(_config())


def local_gpt2():
    """A GPT-2 loaded from a local folder (from_pretrained, nothing downloaded): the folder that
    USERPKG_GPT2_DIR names, as a user's factory would load their base model."""
    import os

    from transformers import GPT2LMHeadModel

    class LogitsGPT2(GPT2LMHeadModel):
        def forward(self, input_ids, **kwargs):
            return super().forward(input_ids=input_ids, **kwargs).logits

    return LogitsGPT2.from_pretrained(os.environ["USERPKG_GPT2_DIR"], local_files_only=True)


class NanoGPT(nn.Module):
    """nanoGPT's shape in miniature: the head shares its weight with the token embedding."""

    def __init__(self, vocab=VOCAB, context=CONTEXT, width=32, heads=2, layers=2):
        super().__init__()
        self.emb = nn.Embedding(vocab, width)
        self.pos = nn.Embedding(context, width)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)
        self.head.weight = self.emb.weight  # weight tying (Press & Wolf 2017), as nanoGPT does
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(context), persistent=False)

    def forward(self, ids):  # (B, T) token ids -> (B, T, V) logits
        t = ids.shape[1]
        h = self.emb(ids) + self.pos(torch.arange(t, device=ids.device))
        h = self.blocks(h, mask=self.causal[:t, :t], is_causal=True)
        return self.head(self.norm(h))


def nano_gpt():
    return NanoGPT()


def sequences(n_train=24, n_valid=8, length=16, seed=0):
    """Causal-lm splits: (ids, labels) with labels = ids (the model shifts them), the last few
    labels of some sequences -100 (padding that is not counted)."""
    g = torch.Generator().manual_seed(seed)

    def split(n):
        start = torch.randint(0, VOCAB, (n, 1), generator=g)
        ids = (start + torch.arange(length)[None, :]) % VOCAB
        noise = torch.rand(ids.shape, generator=g) < 0.1
        ids = torch.where(noise, torch.randint(0, VOCAB, ids.shape, generator=g), ids)
        labels = ids.clone()
        labels[::3, -3:] = -100  # every third sequence is padded: its last 3 labels do not count
        return ids, labels

    return {"train": split(n_train), "valid": split(n_valid)}


def one_batch():
    """A single-batch split, for comparing J with the model's own `.loss` on that batch."""
    return {"train": sequences(n_train=6, n_valid=2)["train"]}


def train_lm(model, data, steps=4, lr=0.01, seed=0):
    """A plain loop over the causal-lm loss; yields (step, model) at the start and after each step."""
    import torch.nn.functional as F

    torch.manual_seed(seed)
    ids, labels = data["train"]
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    yield 0, model
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(ids), (8,))
        out = model(ids[idx])
        logits = out if isinstance(out, torch.Tensor) else out.logits
        loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), labels[idx][:, 1:].flatten(), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
        yield step, model


def save_examples(folder):
    """The example checkpoints of docs/importing.md: FOLDER/gpt2/checkpoint-N/ written by save_pretrained (as a
    Trainer does) and FOLDER/lightning/*.ckpt, a LightningModule's dicts with its `model.` prefix."""
    from pathlib import Path

    folder, data = Path(folder), sequences()
    torch.manual_seed(0)
    for step, model in train_lm(tiny_gpt2(), data, steps=4):
        if step % 2 == 0:
            model.save_pretrained(folder / "gpt2" / f"checkpoint-{step}")
    (folder / "lightning").mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    for step, model in train_lm(nano_gpt(), data, steps=4):
        if step % 2 == 0:
            torch.save({"epoch": step // 2, "global_step": step, "optimizer_states": [],
                        "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}},
                       folder / "lightning" / f"epoch={step // 2}-step={step}.ckpt")
    return folder


if __name__ == "__main__":  # python tests/userpkg/gpt.py DIR
    import sys

    print(save_examples(sys.argv[1] if len(sys.argv) > 1 else "lm-ckpts"))
