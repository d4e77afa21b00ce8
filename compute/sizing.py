"""How the evaluator sizes and spreads its work: the largest activation of a model (chunks of
examples that stay in the cache) and blocks of work spread over torch's threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import torch
from torch import nn


def largest_activation(model: nn.Module, x1) -> int:
    """Bytes of the largest output of any submodule of `model` on one example (a tensor or a Batch)."""
    largest = [0]

    def hook(_module, _inputs, output):
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(t, torch.Tensor):
                largest[0] = max(largest[0], t.numel() * t.element_size())

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():  # the model's own parameters, in their dtype (a float64 line of a float32 model)
            own = next(model.parameters(), None)
            cast = lambda t: t.to(own.dtype) if own is not None and t.is_floating_point() else t  # noqa: E731
            model(cast(x1)) if isinstance(x1, torch.Tensor) else model(*map(cast, x1.args),
                                                                       **{k: cast(v) for k, v in x1.kwargs.items()})
    finally:
        for h in handles:
            h.remove()
    return largest[0]


def map_single_threaded(fn: Callable, items: list) -> list:
    """[fn(item) for item in items], the items spread over torch's threads, each on one thread.

    For the blocks of the line fast path: each is a compiled loop (without the GIL) between a few
    mid-sized torch operations, and splitting every one of those across threads would cost a
    barrier each, ruinous on a busy machine, while independent blocks in parallel cost nothing
    extra. Results come back in the order of `items`. Every item runs on one thread whatever
    torch's setting, so its values do not depend on the number of threads (issue 18 §7).
    """
    threads = torch.get_num_threads()
    if threads == 1:
        return [fn(item) for item in items]
    if len(items) == 1:  # on one thread here too: a block's bits must not depend on the threads
        torch.set_num_threads(1)
        try:
            return [fn(items[0])]
        finally:
            torch.set_num_threads(threads)

    def run(item):
        torch.set_num_threads(1)  # this worker thread's own OpenMP/MKL setting
        with torch.no_grad():  # grad mode is per thread
            return fn(item)

    try:
        with ThreadPoolExecutor(min(threads, len(items))) as pool:
            return list(pool.map(run, items))
    finally:
        torch.set_num_threads(threads)  # the workers lowered the default for new threads
