"""Figures written to files for papers: `.png`, `.svg` or `.pdf` by the file's extension, the page's
own figure (the same builders) laid out for print by `style.for_print`: a column's width (3.5 in;
a page's, 7 in, for a figure of three panels or more), fonts at about 8 pt, no title.

Plotly's static export (kaleido) draws with the Chromium already on the machine; nothing is
downloaded. A PNG is at 300 dpi; an SVG's size is in CSS pixels (96 to the inch); a PDF's in
points (72 to the inch).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from models.errors import BadInput

from .style import CSS_DPI, PNG_DPI, for_print

FORMATS = ("png", "svg", "pdf")


def plot_format(path: str) -> str:
    """The format a --plot file's extension names; BadInput for another."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise BadInput(f"--plot {path}: the file must end in .png, .svg or .pdf", field="plot")
    return fmt


def write_figure(fig: dict, path: str, width_in: float | None = None) -> tuple[int, int]:
    """Write `fig` for print to `path` (format from its extension); returns (width, height) in CSS
    pixels. Written beside the target and renamed into place: no half-written file is left."""
    fmt = plot_format(path)
    printed, width, height = for_print(fig, width_in)
    import plotly.io as pio  # kaleido starts Chromium: only when a figure is written

    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        image = pio.to_image(printed, format=fmt, width=width, height=height,
                             scale=PNG_DPI / CSS_DPI if fmt == "png" else 1)
        tmp.write_bytes(image)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BadInput(f"cannot write {path}: {exc.strerror}", field="plot") from None
    return width, height


# ------------------------------------------------------------------------------------------ the CLI's figures
def _endpoint_name(text: str, other: str) -> str:
    """What the page writes at α = 0 or 1 for an endpoint (app/views/line.py's names)."""
    from compute.queries import Endpoint

    point, other_point = Endpoint.parse(text), Endpoint.parse(other)
    if point.kind == "init":
        return "θᵢ"
    if point.kind == "step":
        return f"θ(t={point.step})"
    if point.kind == "random":
        return f"random ×{point.scale:g}"
    if other_point.kind == "final" and other_point.run != point.run:  # two solutions: say whose
        seed = re.search(r"-s(\d+)-[0-9a-f]+$", point.run or "")
        return f"θ_f seed {seed.group(1)}" if seed else f"θ_f {point.run}"
    return "θ_f"


def result_figure(kind: str, result: dict) -> dict:
    """The page's figure of a result of `landscape KIND` (line, trajectory, surface, control): the
    Line view's curve, the Trajectory view's α(t)-β(t) plot (Fig. 13), the Surface view's 3-D
    surface of the first split, the Controls view's figure."""
    from . import alpha_beta_figure, controls_figure, line_figure, surface_figure

    if kind == "line":
        query = result["query"]
        names = (_endpoint_name(query["start"], query["end"]), _endpoint_name(query["end"], query["start"]))
        return line_figure(result, names=names)
    if kind == "trajectory":
        return alpha_beta_figure(result)
    if kind == "surface":
        return surface_figure(result, split=next(iter(result["cost"])))
    if kind == "control":
        return controls_figure(result)
    if kind == "hessian":
        from .curvature import density_figure

        return density_figure(result)
    raise ValueError(f"no figure for {kind!r}")
