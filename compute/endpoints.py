"""The parameters a query's endpoints name: theta of init/final/step/random endpoints (aligned ones
by weight matching, compute/align.py), their BatchNorm buffers, and the runs they belong to (which
must share an architecture and data). Lines, the Hessian on a line and any kind with endpoints use
these; they take any query with `endpoints` (a tuple of `Endpoint`), `alphas()` and `dtype`."""

from __future__ import annotations

import numpy as np
import torch

from models.errors import BadInput

from .align import align_theta
from .queries import Endpoint
from .resources import buffer_basis, evaluator_for, random_theta, remembered_theta, theta_of
from .sources import source_of
from .store import Run, Store


def endpoint_runs(query, store: Store) -> list[Run]:
    runs = [store.load(e.run) for e in query.endpoints if e.run is not None]
    runs += [store.load(e.aligned_to) for e in query.endpoints if e.aligned_to is not None]
    first = runs[0]
    for other in runs[1:]:
        if other.family != first.family or other.layout != first.layout:
            raise BadInput(f"endpoints are of different architectures: {first.id} ({first.model_id}/"
                           f"{first.preset}) and {other.id} ({other.model_id}/{other.preset})", field="to")
        if other.manifest["dataset"] != first.manifest["dataset"]:
            raise BadInput(f"runs {first.id} and {other.id} were trained on different data", field="to")
    return runs


def endpoint_step(endpoint: Endpoint, store: Store) -> int | None:
    """The recorded step an endpoint names (None for a random one)."""
    if endpoint.kind == "random":
        return None
    run = store.load(endpoint.run)
    return {"init": run.init_step, "final": run.final_step}.get(endpoint.kind, endpoint.step)


def endpoint_theta(endpoint: Endpoint, reference: Run, store: Store) -> torch.Tensor:
    if endpoint.kind == "random":
        return random_theta(reference, endpoint.seed, endpoint.scale)
    if endpoint.aligned_to is not None:
        return aligned_theta(store.load(endpoint.run), store.load(endpoint.aligned_to))
    return theta_of(store.load(endpoint.run), endpoint_step(endpoint, store))


def aligned_theta(run_b: Run, run_a: Run) -> torch.Tensor:
    """run_b's theta_f with its hidden units permuted to match run_a's theta_f (compute/align.py):
    the same function as run_b's, so the same J; made once per process."""
    source = source_of(run_b.manifest)
    if source.imported or run_b.manifest.get("buffers"):
        raise BadInput(f"cannot align the hidden units of {run_b.id} ({source.label}): weight matching supports "
                       "the MLP family and the convolutional maxout network of the zoo, not imported models",
                       field="endpoint")
    key = ("aligned", run_b.id, run_b.final_step, run_a.id, run_a.final_step)
    return remembered_theta(key, lambda: align_theta(source.build(None), theta_of(run_b, run_b.final_step),
                                                     theta_of(run_a, run_a.final_step)))


def endpoint_buffers(endpoints: tuple[Endpoint, ...], reference: Run, store: Store) -> torch.Tensor | None:
    """The buffer basis of a line's endpoints (see resources.buffer_basis); None without buffers."""
    rows = [buffer_basis(reference, ["random"], e.seed) if e.kind == "random"
            else buffer_basis(store.load(e.run), [endpoint_step(e, store)]) for e in endpoints]
    return None if rows[0] is None else torch.cat(rows)


def line_inputs(query, store: Store, alphas: np.ndarray | None = None) -> tuple:
    """(runs, theta0, theta1, alphas, evaluator, buffer basis) of a line or of its `alphas`."""
    runs = endpoint_runs(query, store)
    theta0, theta1 = (endpoint_theta(e, runs[0], store) for e in query.endpoints)
    alphas = query.alphas() if alphas is None else np.asarray(alphas, dtype=np.float64)
    return runs, theta0, theta1, alphas, evaluator_for(runs[0], query.dtype), endpoint_buffers(query.endpoints,
                                                                                             runs[0], store)
