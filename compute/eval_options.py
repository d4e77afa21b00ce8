"""What an evaluation is asked besides its points (EvalOptions), its progress callback, and the
device it runs on by default: the small types every caller of compute/evaluator.py names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .validate import BN_POLICIES  # the policies' names live with the other boundary values

Progress = Callable[[int, int], None]  # (done, total); may raise to cancel


def offset_progress(progress: Progress | None, index: int, count: int) -> Progress | None:
    """The progress of part `index` of `count` equal parts, reported as progress of the whole."""
    if progress is None:
        return None
    return lambda done, total: progress(index * total + done, count * total)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass(frozen=True)
class EvalOptions:
    """How one evaluation takes the cost, the same at every point (see `Evaluator.evaluate`)."""
    dropout_samples: int = 0  # N > 0: the mean of N seeded passes with dropout on, not the eval-mode cost
    bn: str = "interpolate"  # BatchNorm statistics: from the buffer basis, or "recompute"d at every point
    derivatives: bool = False  # a line's dJ/dalpha and d2J/dalpha2 too (Evaluator.line)
    shards: tuple[int, ...] | None = None  # streamed data: only these shards' float64 sums

    def __post_init__(self):
        if self.bn not in BN_POLICIES:
            raise ValueError(f"bn must be one of {BN_POLICIES}, got {self.bn!r}")
        if self.shards is not None:  # a range or a list: one value, and hashable
            object.__setattr__(self, "shards", tuple(int(k) for k in self.shards))


DEFAULT_OPTIONS = EvalOptions()
