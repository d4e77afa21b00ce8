"""Penn Treebank (Marcus et al. 1993) as the LSTM of Zaremba et al. (2014) reads it: the three text
files of Mikolov's `simple-examples` (one sentence a line, `<unk>` and `N` already in), a
vocabulary from the training text, and the token stream cut into sequences. Without a data
folder: offline demo text from a fixed random hidden-Markov grammar over pseudo-words.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from models.errors import BadInput

Split = tuple[torch.Tensor, torch.Tensor]  # (inputs, targets)

PTB_FILES = {"train": "ptb.train.txt", "valid": "ptb.valid.txt", "test": "ptb.test.txt"}


def read_ptb_words(path: str | os.PathLike) -> list[str]:
    """The words of one PTB file, <eos> at the end of every line."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}", field="data") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path} is not UTF-8 text; not a Penn Treebank file", field="data") from None
    return ptb_words(text, str(path))


def ptb_words(text: str, name: str = "text") -> list[str]:
    if not text.strip():
        raise BadInput(f"{name} is empty", field="data")
    if not text.endswith("\n"):
        # every line of the PTB files, the last included, ends in a newline: a file cut short does not
        raise BadInput(f"{name} is truncated: its last line does not end with a newline", field="data")
    return [w for line in text.splitlines() for w in line.split() + ["<eos>"]]


def ptb_vocabulary(words: list[str]) -> dict[str, int]:
    """Word ids from the training words: most frequent first, ties in alphabetical order."""
    counts: dict[str, int] = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    return {w: i for i, w in enumerate(sorted(counts, key=lambda w: (-counts[w], w)))}


def _ptb_ids(words: list[str], vocab: dict[str, int], split: str) -> np.ndarray:
    unk = vocab.get("<unk>")
    missing = [w for w in set(words) if w not in vocab]
    if missing and unk is None:
        raise BadInput(f"{split}: {len(missing)} words are not in the training vocabulary "
                       f"(e.g. {sorted(missing)[0]!r}) and there is no <unk>", field="data")
    return np.array([vocab.get(w, unk) for w in words], dtype=np.int64)


def sequences(ids: np.ndarray, seq_len: int) -> Split:
    """Consecutive sequences: inputs ids[k T:(k+1) T], targets shifted by one token."""
    n = (len(ids) - 1) // seq_len
    if n < 1:
        raise BadInput(f"a split has {len(ids)} tokens, fewer than one sequence of {seq_len} + 1", field="data")
    ids = torch.from_numpy(ids)
    return (ids[:n * seq_len].view(n, seq_len).contiguous(), ids[1:n * seq_len + 1].view(n, seq_len).contiguous())


def _syllable_words(count: int, rng: np.random.Generator) -> list[str]:
    onsets, vowels, codas = list("bcdfghjklmnprstvwz") + ["br", "st", "tr", "ch"], list("aeiou") + ["ai", "ou"], ["", "n", "r", "s", "t", "l"]
    words: set[str] = set()
    while len(words) < count:
        k = rng.integers(1, 4)
        words.add("".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(k)))
    return sorted(words)


def demo_text(tokens: int, seed: int, vocab_size: int = 1000, classes: int = 16) -> str:
    """PTB-like demo text of about `tokens` words. The grammar is fixed (seed 0); `seed` draws the
    sentences. Words are sorted into classes; a sentence walks a sparse class chain from a start
    distribution until it stops; a class emits its words with Zipf frequencies."""
    g = np.random.default_rng(0)
    words = _syllable_words(vocab_size - 2, g) + ["<unk>", "N"]
    g.shuffle(words)
    members = np.array_split(np.array(words, dtype=object), classes)
    zipf = [1.0 / np.arange(1, len(m) + 1) ** 1.1 for m in members]
    zipf = [z / z.sum() for z in zipf]
    successors = [g.choice(classes, size=3, replace=False) for _ in range(classes)]
    weights = [g.dirichlet(np.ones(3) * 0.7) for _ in range(classes)]
    start = g.dirichlet(np.ones(classes) * 0.5)
    rng = np.random.default_rng(seed)
    lines, count = [], 0
    while count < tokens:
        cls, sentence = rng.choice(classes, p=start), []
        while True:
            sentence.append(members[cls][rng.choice(len(members[cls]), p=zipf[cls])])
            if len(sentence) >= 4 and rng.random() < 0.12 or len(sentence) >= 30:
                break
            cls = successors[cls][rng.choice(3, p=weights[cls])]
        lines.append(" " + " ".join(sentence) + " ")  # PTB lines start and end with a space
        count += len(sentence) + 1
    return "\n".join(lines) + "\n"


def load_ptb(data_dir: str | None, options: dict) -> tuple[dict[str, Split], int, str]:
    """(splits, vocabulary size, description) of the Penn Treebank in `data_dir`, or of the demo
    text when it is None; `options`: seq_len, vocab (a limit), demo_* sizes."""
    seq_len = int(options.get("seq_len", 35))
    if data_dir is None:
        sizes = {"train": options.get("demo_train", 60_000), "valid": options.get("demo_valid", 6_000),
                 "test": options.get("demo_test", 6_000)}
        seeds = {"train": 21, "valid": 22, "test": 23}
        words = {k: ptb_words(demo_text(n, seeds[k], options.get("demo_vocab", 1000)), f"demo {k}")
                 for k, n in sizes.items()}
        description = "offline demo text (PTB-like sentences from a random hidden-Markov grammar)"
    else:
        folder = Path(data_dir)
        if not folder.is_dir():
            raise BadInput(f"data folder {folder} does not exist", field="data")
        folder = folder / "simple-examples" / "data" if (folder / "simple-examples" / "data").is_dir() else folder
        for name in PTB_FILES.values():
            if not (folder / name).is_file():
                raise BadInput(f"data folder {data_dir} has no Penn Treebank file {name}; "
                               "`landscape download ptb --data DIR` fetches them", field="data")
        words = {k: read_ptb_words(folder / name) for k, name in PTB_FILES.items()}
        description = f"Penn Treebank from {data_dir}"
    vocab = ptb_vocabulary(words["train"])
    limit = options.get("vocab")
    if limit is not None and len(vocab) > int(limit):
        raise BadInput(f"the text has {len(vocab)} words, more than the model's vocabulary of {limit}", field="data")
    splits = {k: sequences(_ptb_ids(w, vocab, k), seq_len) for k, w in words.items()}
    return splits, len(vocab), description
