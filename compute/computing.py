"""The process's one right to compute, and how a long chunk lends it out between its steps.

One chunk computes at a time per process. Each Evaluator has a lock of its own, for
torch.func.functional_call swapping its module's parameters (two threads evaluating the same
model at once got costs off by 0.1-0.2 on the relu-mnist line), but a chunk also touches state
that no one evaluator owns: the global torch RNG (seeded for dropout samples, even across
different models), torch's process-wide thread count (lowered and restored around the line
path's blocks), and the unlocked frame cache of compute/kinds/trajectory.py. Threaded workers and a
dashboard thread beside the local job thread would hit those; processes do not.

A chunk that runs for long in one piece (training a run: tens of seconds) calls `lend()` between
its steps: a chunk waiting on another thread (the embedded executor's compute lane) then runs,
and the long one goes on after it with its own torch RNG state, as if nothing had run between
(its steps draw dropout masks and batches from that RNG, so a run trains the same either way).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Iterator

import torch

_lock = threading.RLock()
_count_lock = threading.Lock()
_waiting = 0
_held = threading.local()  # this thread's depth of `computing()`
LEND_WAIT_S = 1.0  # longest a lender waits for a waiter to take the lock (one that gave up, say)


@contextlib.contextmanager
def computing() -> Iterator[None]:
    """Hold the process's right to compute (reentrant)."""
    global _waiting
    with _count_lock:
        _waiting += 1
    try:
        _lock.acquire()
    finally:
        with _count_lock:
            _waiting -= 1
    _held.depth = getattr(_held, "depth", 0) + 1
    try:
        yield
    finally:
        _held.depth -= 1
        _lock.release()


def lend() -> None:
    """Between steps of a long chunk, held once by this thread: let a waiting chunk compute first."""
    if not _waiting or getattr(_held, "depth", 0) != 1:  # nested: releasing once would not free it
        return
    rng = torch.get_rng_state()
    _lock.release()
    try:
        deadline = time.monotonic() + LEND_WAIT_S
        while _waiting and time.monotonic() < deadline:  # until the waiter holds it
            time.sleep(0.001)
    finally:
        _lock.acquire()
        torch.set_rng_state(rng)
