"""The page's figure of each type of result, for the CLI's `--plot FILE`: one builder per result
type, so that a new kind of result adds one line to `FIGURE_OF`. The Line view's curve, the
Trajectory view's α(t)-β(t) plot (Fig. 13), the Surface view's 3-D surface of the first split, the
Controls view's figure, the Curvature view's spectral density.
"""

from __future__ import annotations

from typing import Any, Callable

from compute.kinds.control import ControlResult
from compute.kinds.hessian import HessianResult
from compute.kinds.line_result import LineResult
from compute.kinds.surface.result import SurfaceResult
from compute.kinds.trajectory import TrajectoryResult
from compute.queries import Endpoint

from ..labels import endpoint_names
from .controls import controls_figure
from .curvature import density_figure
from .line import alpha_beta_figure, line_figure
from .surface import surface_figure

SeedOf = Callable[[str], "int | None"]  # run id -> its seed (labels two solutions of one model)


def _line(result: dict, seed_of: SeedOf) -> dict:
    query = result["query"]
    return line_figure(result, names=endpoint_names(Endpoint.parse(query["start"]), Endpoint.parse(query["end"]),
                                                    seed_of))


FIGURE_OF: dict[type, Callable[[dict, SeedOf], dict]] = {
    LineResult: _line,
    TrajectoryResult: lambda result, seed_of: alpha_beta_figure(result),
    SurfaceResult: lambda result, seed_of: surface_figure(result, split=next(iter(result["cost"]))),
    ControlResult: lambda result, seed_of: controls_figure(result),
    HessianResult: lambda result, seed_of: density_figure(result),
}


def result_figure(result: Any, seed_of: SeedOf) -> dict:
    """The page's figure of `result` (a compute result object), drawn from its JSON."""
    builder = FIGURE_OF.get(type(result))
    if builder is None:
        raise ValueError(f"no figure for a {type(result).__name__}")
    return builder(result.to_json(), seed_of)
