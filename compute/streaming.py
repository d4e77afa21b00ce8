"""The evaluator's data, streamed: a split's batches read in a fixed order by a prefetching
thread, moved to the device (pinned memory on CUDA) while the previous batch computes.

Memory: at most PREFETCH batches wait in the queue beside the one being evaluated, so a split of
any size takes (PREFETCH + 2) batches of host memory (the reader's batch under collation too) and
the evaluator's chunk of activations (its memory budget). In-memory (inputs, targets) tensors are
not copied: they stay as the user gave them, and are sliced as before.

The order of shards, batches and examples is the data's (models/batches.py); the evaluator adds
float64 sums per shard, then the shards in order, so a total is the same to the bit however the
shards are spread over chunks, processes or workers.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from models.batches import Batch, SplitSource

PREFETCH = 2  # batches read ahead


@dataclass
class Piece:
    """A batch of the requested splits: `shard` (numbered across the splits, in order), the batch
    on the device, and `start`, its first example's index among all requested splits' examples."""

    shard: int
    batch: Batch
    start: int


def shard_ranges(sources: Sequence[SplitSource]) -> list[tuple[int, int]]:
    """(split index, shard within the split) of every shard of the splits, in order."""
    return [(i, k) for i, source in enumerate(sources) for k in range(source.num_shards)]


def stream_pieces(sources: Sequence[SplitSource], bounds: np.ndarray, convert: Callable[[Batch], Batch],
                  shards: Sequence[int] | None = None, examples: int | None = None) -> Iterator[Piece]:
    """The pieces of the given shards (default all), joined up to `examples` (`coalesced`), read
    and joined by a prefetching thread while the evaluator computes."""
    table = shard_ranges(sources)
    wanted = range(len(table)) if shards is None else shards

    def produce() -> Iterator[Piece]:
        readings: dict[int, tuple[int, Iterator[Batch]]] = {}  # split -> (its next shard, the reading there)
        for shard in wanted:
            split, k = table[shard]
            source = sources[split]
            following, reading = readings.get(split, (None, None))
            if following != k:  # not where the last reading stopped: start one at this shard
                reading = source.batches(k * source.shard_batches)
            readings[split] = (k + 1, reading)
            start = int(bounds[split]) + _examples_before(source, k)
            for batch in source.shard(k, reading):
                yield Piece(shard, convert(batch), start)
                start += batch.size

    return prefetched(produce() if examples is None else coalesced(produce(), examples))


def _examples_before(source: SplitSource, shard: int) -> int:
    """Examples before a shard: every batch before the last is full (batch_size examples)."""
    return shard * source.shard_batches * source.batch_size


def coalesced(pieces: Iterator[Piece], examples: int) -> Iterator[Piece]:
    """Consecutive pieces of one shard (of the same shapes) joined up to `examples` examples, so
    that small batches (a DataLoader's 32) make the evaluator's chunks: fewer, larger calls. What
    is joined depends on the data and the chunk size only: the same in every chunk of a job."""
    held: list[Piece] = []
    for piece in pieces:
        if held and (piece.shard != held[0].shard or piece.batch.shapes() != held[0].batch.shapes()
                     or sum(p.batch.size for p in held) + piece.batch.size > examples):
            yield _joined(held)
            held = []
        held.append(piece)
    if held:
        yield _joined(held)


def _joined(held: list[Piece]) -> Piece:
    if len(held) == 1:
        return held[0]
    batches = [p.batch for p in held]
    cat = lambda ts: torch.cat(ts)  # noqa: E731
    first = batches[0]
    joined = Batch(tuple(cat([b.args[i] for b in batches]) for i in range(len(first.args))),
                   {k: cat([b.kwargs[k] for b in batches]) for k in first.kwargs},
                   cat([b.targets for b in batches]), sum(b.size for b in batches), first.targets_key)
    return Piece(held[0].shard, joined, held[0].start)


class _Failed:
    def __init__(self, exc: BaseException):
        self.exc = exc


_DONE = object()


def prefetched(items: Iterator, depth: int = PREFETCH) -> Iterator:
    """`items`, produced by a daemon thread at most `depth` ahead; its exceptions re-raised here."""
    out: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def run() -> None:
        try:
            with torch.no_grad():
                for item in items:
                    while not stop.is_set():
                        try:
                            out.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
        except BaseException as exc:  # noqa: BLE001  (handed to the consumer)
            out.put(_Failed(exc))
            return
        out.put(_DONE)

    thread = threading.Thread(target=run, daemon=True, name="landscape-prefetch")
    thread.start()
    try:
        while True:
            item = out.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                out.get_nowait()
            except queue.Empty:
                thread.join(0.05)


def to_device(batch: Batch, device: torch.device, dtype: torch.dtype, layout: Callable) -> Batch:
    """A batch on the device: floating tensors in the evaluation dtype, pinned first on CUDA."""
    def move(t: torch.Tensor) -> torch.Tensor:
        if device.type == "cuda":
            t = t.pin_memory().to(device, non_blocking=True)
        t = t.to(device, dtype if t.is_floating_point() else t.dtype)
        return layout(t)
    return batch.map(move)


def combine_shards(shard_sums: dict[int, torch.Tensor]) -> torch.Tensor:
    """The total of per-shard float64 sums, added in shard order (the first taken as it is): the
    same bits however the shards were spread over calls or workers."""
    order = sorted(shard_sums)
    total = shard_sums[order[0]].clone()
    for shard in order[1:]:
        total += shard_sums[shard]
    return total
