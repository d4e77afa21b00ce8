"""The work budget: what a query will cost, estimated before it is queued, and the refusal of one
that costs more than LANDSCAPE_MAX_WORK.

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
from typing import Callable

from models.errors import BadInput
from .settings import setting
from .signing import verify
from .adaptive import BUDGET as ADAPTIVE_BUDGET
from .validate import AUTO_POINTS, format_work

# The default of LANDSCAPE_MAX_WORK (compute/settings.py), 3e15, is set by the costliest small
# preset, mpdbm-mnist/small (9.4 MFLOP per example, 7000 examples in its three splits), over
# 201 x 201 points: 2.65e15; conv-maxout-cifar10/small 2.46e15; a 2001-point line
# at most 1.3e14 (tests/test_budget.py measures every small preset). A Monte-Carlo line of 2001
# points with 1000 dropout samples is 2.2e15 to 4.6e15 on the small dropout presets.
DEFAULT_MAX_WORK = "3e15"  # the setting's default (compute/settings.py)
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


def data_cut(query, store, points_per_chunk: int) -> tuple[int, int] | None:
    """(shards per chunk, shards) when a line's chunks should be cut by data too: its run's data
    is streamed in shards (models/batches.py) and one chunk of `points_per_chunk` points over all
    of it would be more than CHUNK_WORK. None otherwise, and for what is not cut by data:
    adaptive lines, derivatives, recomputed BatchNorm statistics, other dtypes, an objective with
    summaries (functions of J that the assembling chunk would need), surfaces (rows already)."""
    if query.kind != "line" or query.adaptive or query.derivatives or query.dtype != "float32" \
            or query.bn == "recompute":
        return None
    found = estimate(query, store)
    ref = next((e.run for e in query.endpoints if e.run is not None), None)
    if found is None or ref is None:
        return None
    run = store.load(ref)
    tables = run.manifest.get("data_shards")
    if not tables or any(s not in tables for s in query.splits):
        return None
    from .sources import source_of

    if source_of(run.manifest).objective().summaries:
        return None
    shards = sum(len(tables[s]["digests"]) for s in query.splits)
    chunk_work = found[1] * min(points_per_chunk, query.points)
    if shards < 2 or chunk_work <= CHUNK_WORK:
        return None
    per_shard = chunk_work / shards
    return max(1, int(CHUNK_WORK // per_shard)), shards


def max_work() -> float:
    from .validate import parse_float

    return parse_float(setting("LANDSCAPE_MAX_WORK"), "LANDSCAPE_MAX_WORK", positive=True)


def _examples(prof: Profile, splits) -> int:
    return sum(prof.examples.get(s, 0) for s in splits)


def _line(query, store) -> tuple[float, float, str]:
    ref = next(e.run for e in query.endpoints if e.run is not None)
    run = store.load(ref)
    prof = profile(run.manifest)
    passes = max(1, query.dropout_samples) + (1 if query.bn == "recompute" and run.manifest.get("batchnorm") else 0)
    per_point = passes * _examples(prof, query.splits) * prof.flops
    if query.derivatives:  # double backward (compute/derivatives.py): about six forward passes' worth per point
        per_point *= 6
    if query.sharpness:  # lambda_max at every N-th point: at most SHARPNESS_ITERATIONS products each
        from .hessian import SHARPNESS_ITERATIONS

        per_point += _examples(prof, query.splits) * prof.flops * HVP_PASSES * SHARPNESS_ITERATIONS / query.sharpness
    field = "dropout" if query.dropout_samples > 1 else "points"
    points = ADAPTIVE_BUDGET if query.points == AUTO_POINTS else query.points  # an adaptive line's most
    return points * per_point, per_point, field


def _surface(query, store) -> tuple[float, float, str]:
    run = store.load(query.run)
    prof = profile(run.manifest)
    per_point = _examples(prof, query.splits) * prof.flops * (2 if query.bn == "recompute" else 1)
    work = query.rows * query.columns * per_point
    if query.surface == "hessian":  # the two eigenvectors first: at most 150 Lanczos products on the first split
        work += 150 * HVP_PASSES * prof.examples.get(query.splits[0], 0) * prof.flops
    return work, per_point, "points"


# A Hessian-vector product by double backward: a forward pass, its backward, and the backward of
# that backward with its forward: about five forward passes' worth.
HVP_PASSES = 5


def _hessian(query, store) -> tuple[float, float, str]:
    run = store.load(query.endpoints[0].run)
    prof = profile(run.manifest)
    per_product = HVP_PASSES * prof.flops
    work = sum(query.products() * prof.examples.get(s, 0) * per_product for s in query.splits)
    if query.to is not None and query.bn == "recompute" and run.manifest.get("batchnorm"):
        work += prof.examples.get("train", 0) * prof.flops
    field = "iterations" if (query.top or query.bottom) else ("trace_probes" if query.trace else "density_steps")
    return work, work / max(query.products(), 1), field  # per point: per product, on all the splits


# kind -> estimate(query, store) -> (work, work per grid point, the field to change); the kinds
# not listed (trajectory: one pass per checkpoint; control experiments: small fixed problems)
# are cheap whatever is asked and are not estimated.
ESTIMATES: dict[str, Callable] = {"line": _line, "surface": _surface, "hessian": _hessian}


def estimate(query, store) -> tuple[float, float, str] | None:
    """(work, work per grid point, the field to change), or None: a kind not estimated, or a
    query whose run cannot be loaded (its job fails with that message, as it always did)."""
    fn = ESTIMATES.get(query.kind)
    try:
        return None if fn is None else fn(query, store)
    except BadInput:
        return None


def check(query, store) -> float | None:
    """The query's estimated work, or BadInput (status 400) when it is above LANDSCAPE_MAX_WORK,
    saying by how much and what to change."""
    found = estimate(query, store)
    if found is None:
        return None
    work, per_point, field = found
    limit = max_work()
    if work <= limit:
        return work
    fit = int(limit // per_point)
    if query.kind == "surface":
        side = int(fit ** 0.5)
        advice = (f"at most {side}x{side} points" if side >= 2 else "a smaller model or fewer splits")
    elif query.kind == "hessian":
        advice = f"fewer {field.replace('_', ' ')} or splits (at most {fit} products in all)"
    elif field == "dropout":
        advice = f"fewer dropout samples or points (at most {fit} points x samples)"
    else:
        advice = f"at most {fit} points" if fit >= 2 else "fewer splits"
    raise BadInput(f"this asks for about {format_work(work)} of work, above the budget of {format_work(limit)} "
                   f"(LANDSCAPE_MAX_WORK): ask for {advice}", field=field)
