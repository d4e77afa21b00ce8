"""The worked example of docs/importing.md: a small GPT-2 trained the Hugging Face way, then looked at.

A `GPT2LMHeadModel` from a tiny `GPT2Config` (nothing downloaded), a `DataLoader` of dict batches
(`input_ids`, `attention_mask`, `labels`, padding labelled -100 as Hugging Face's collators do),
and a plain loop: `loss = model(**batch).loss; loss.backward(); opt.step()`. Every `EVERY` steps
the model is saved three ways, as training code does:

    DIR/hf/checkpoint-N/        model.save_pretrained (what a Trainer leaves)
    DIR/pt/step_N.pt            torch.save(model.state_dict())  (both tied names)
    DIR/lightning/*.ckpt        a LightningModule's checkpoint: {"state_dict": {"model.…": …},
                                "global_step": N}, written without the lightning package

Run: python tests/userpkg/train_gpt.py DIR   (a few seconds on 2 cores)
Then `landscape import DIR/hf --model userpkg.train_gpt:model --data userpkg.train_gpt:data
--loss causal-lm --path tests` (docs/importing.md's "Worked example" has every command).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a config, not a hub name: never a download

VOCAB, LENGTH = 64, 16  # tokens, sequence length
STEPS, EVERY, BATCH = 8, 2, 8


def model():
    """The factory `--model userpkg.train_gpt:model` names: a 2-layer GPT-2, head tied to wte."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=VOCAB, n_positions=32, n_embd=32, n_layer=2, n_head=2,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(config)


class Counting(Dataset):
    """Sequences that count up modulo VOCAB from a random start, 10 % of tokens noise; one in
    four is shorter (right-padded: attention_mask 0, labels -100 there)."""

    def __init__(self, n: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        start = torch.randint(0, VOCAB, (n, 1), generator=g)
        ids = (start + torch.arange(LENGTH)) % VOCAB  # (N, T)
        noise = torch.rand(ids.shape, generator=g) < 0.1
        self.ids = torch.where(noise, torch.randint(0, VOCAB, ids.shape, generator=g), ids)
        self.mask = torch.ones_like(self.ids)
        self.mask[::4, -4:] = 0
        self.ids[self.mask == 0] = 0  # the pad token

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        labels = self.ids[i].masked_fill(self.mask[i] == 0, -100)
        return {"input_ids": self.ids[i], "attention_mask": self.mask[i], "labels": labels}


def data(batch_size: int = BATCH) -> dict[str, DataLoader]:
    """The splits `--data userpkg.train_gpt:data` names: the very DataLoaders training uses
    (shuffled: Landscape re-reads them in order)."""
    return {"train": DataLoader(Counting(64, seed=0), batch_size=batch_size, shuffle=True),
            "valid": DataLoader(Counting(16, seed=1), batch_size=batch_size)}


def save(net, folder: Path, step: int) -> None:
    net.save_pretrained(folder / "hf" / f"checkpoint-{step}")
    (folder / "pt").mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), folder / "pt" / f"step_{step}.pt")
    (folder / "lightning").mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 0, "global_step": step, "optimizer_states": [],
                "state_dict": {f"model.{k}": v for k, v in net.state_dict().items()}},
               folder / "lightning" / f"epoch=0-step={step}.ckpt")


def train(folder: str | Path, steps: int = STEPS, every: int = EVERY, seed: int = 0) -> Path:
    """A plain Hugging-Face-style loop; checkpoints at step 0 and every `every` steps."""
    folder = Path(folder)
    torch.manual_seed(seed)
    net, loaders = model(), data()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    save(net, folder, 0)
    step = 0
    while step < steps:
        for batch in loaders["train"]:
            net.train()
            loss = net(**batch).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step % every == 0:
                save(net, folder, step)
            if step == steps:
                break
    return folder


if __name__ == "__main__":  # python tests/userpkg/train_gpt.py DIR
    print(train(sys.argv[1] if len(sys.argv) > 1 else "gpt-ckpts"))
