"""The words the page, the figures and the form share: split and metric names, θ as drawn, and an
endpoint's label. Text only (no Plotly, no Dash), so that app/params.py and app/figures/ both read it.
"""

from __future__ import annotations

from typing import Callable

from compute import validate
from compute.queries import Endpoint

SPLIT_NAMES = {"train": "train", "valid": "validation", "test": "test"}
METRIC_LABELS = {"cost": "cost J(θ)", "error": "error rate"}
THETA_I, THETA_F = "θᵢ", "θ<sub>f</sub>"  # θ_f as the page writes it: a real subscript, not "_f"


def endpoint_names(start: Endpoint, end: Endpoint, seed_of: Callable[[str], int | None]) -> tuple[str, str]:
    """The labels drawn at α = 0 and α = 1 of the line from `start` to `end`. `seed_of(run_id)` is the
    run's seed (None when unknown): two solutions of one model are told apart by it."""
    return _endpoint_name(start, end, seed_of), _endpoint_name(end, start, seed_of)


def _endpoint_name(point: Endpoint, other: Endpoint, seed_of: Callable[[str], int | None]) -> str:
    if point.kind == "init":
        return THETA_I
    if point.kind == "step":
        return f"θ(t={point.step})"
    if point.kind == "random":
        return f"random ×{validate.format_number(point.scale)}"
    if other.kind == "final" and other.run != point.run:  # two solutions: say whose
        seed = seed_of(point.run)
        return f"{THETA_F} seed {seed}" if seed is not None else f"{THETA_F} {point.run}"
    return THETA_F
