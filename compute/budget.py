"""The work budget: the shared machinery of what a query will cost (each kind's `estimate`, in its
module of compute/kinds/, is made of it), and the refusal of one that costs more than
LANDSCAPE_MAX_WORK.

    work = points x passes x examples x the model's cost per example

in floating-point operations: `points` the grid (a line's α values, a surface's rows x columns),
`passes` the evaluations per point (1, or the Monte-Carlo dropout samples; a BatchNorm
"recompute" adds a pass over the training split), `examples` the examples of the splits asked
for, and the cost per example the FLOPs of one forward pass of the run's model on one example
(torch's FlopCounterMode; three passes for an adversarial objective, whose perturbation needs a
backward pass). The per-run profile (FLOPs, split sizes) is measured once per process and kept.

The same estimate sizes a job's chunks (compute/jobs/base.py `chunk_points`): about CHUNK_WORK each,
so a chunk takes about a second whatever the model, and a heavy job's chunks interleave with
everyone else's.

The default budget admits every paper figure at the `small` presets, 200-point zooms, 2001-point
lines and 201 x 201 surfaces of the `small` presets (all three splits, without dropout samples);
see the note above CHUNK_WORK.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, NamedTuple

from models.errors import BadInput
from .settings import setting
from .signing import verify
from .validate import format_work

# The default of LANDSCAPE_MAX_WORK (compute/settings.py), 3e15, is set by the costliest small
# preset, mpdbm-mnist/small (9.4 MFLOP per example, 7000 examples in its three splits), over
# 201 x 201 points: 2.65e15; conv-maxout-cifar10/small 2.46e15; a 2001-point line
# at most 1.3e14 (tests/test_budget.py measures every small preset). A Monte-Carlo line of 2001
# points with 1000 dropout samples is 2.2e15 to 4.6e15 on the small dropout presets.

# Work per chunk: about a second. Measured on 2 loaded CPU cores, a 32-point chunk of a
# relu-mnist/small line (3.4e10 FLOP by this count) takes 0.15-0.45 s: the evaluator's line and
# first-layer fast paths make the effective rate ~100 GFLOP/s. So small MLP lines keep their
# CHUNK_POINTS and a Monte-Carlo line or a big model's line gets a few points per chunk.
CHUNK_WORK = 1e11


@dataclass(frozen=True)
class Profile:
    flops: float  # per example, forward (x3 with an adversarial perturbation)
    examples: dict  # split -> number of examples


_profiles: dict[tuple, Profile] = {}
_lock = threading.Lock()


def profile(manifest: dict) -> Profile:
    """The cost per example of a run's model (by its manifest) and its split sizes (measured once
    per process)."""
    verify(manifest)  # every use, not once per cached profile (compute/signing.py)
    key = (manifest["model"], manifest["preset"], repr(manifest["dataset"]), repr(manifest.get("source")))
    with _lock:
        if key in _profiles:
            return _profiles[key]
    made = _measure(manifest)
    with _lock:
        _profiles[key] = made
    return made


def _measure(manifest: dict) -> Profile:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from models.batches import first_batch, model_outputs, split_size

    from .sources import source_of

    source = source_of(manifest)
    splits, _digest, _description = source.load()
    model = source.build(None).eval()
    one = first_batch(splits["train"])
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model_outputs(model(*one.args, **one.kwargs))
    numel = sum(p.numel() for p in model.parameters())
    flops = float(max(counter.get_total_flops(), 2 * numel))  # at least a dense layer's worth
    if source.objective().perturb is not None:
        flops *= 3
    return Profile(flops, {s: int(split_size(v)) for s, v in splits.items()})


def max_work() -> float:
    from .validate import parse_float

    return parse_float(setting("LANDSCAPE_MAX_WORK"), "LANDSCAPE_MAX_WORK", positive=True)


def examples(prof: Profile, splits) -> int:
    """The examples of the splits asked for."""
    return sum(prof.examples.get(s, 0) for s in splits)


# A Hessian-vector product by double backward: a forward pass, its backward, and the backward of
# that backward with its forward: about five forward passes' worth.
HVP_PASSES = 5


class Work(NamedTuple):
    """A query's estimate (its kind's `estimate`, compute/kinds/): the work, the work per grid point,
    the field to change to ask for less, and what to ask for given the points that fit."""

    work: float
    per_point: float
    field: str
    advice: Callable[[int], str]


def check(found: Work | None) -> float | None:
    """The estimated work (None: a kind not estimated, or a run that cannot be loaded), or BadInput
    (status 400) when it is above LANDSCAPE_MAX_WORK, saying by how much and what to change."""
    if found is None:
        return None
    limit = max_work()
    if found.work <= limit:
        return found.work
    raise BadInput(f"this asks for about {format_work(found.work)} of work, above the budget of "
                   f"{format_work(limit)} (LANDSCAPE_MAX_WORK): ask for {found.advice(int(limit // found.per_point))}",
                   field=found.field)
