"""Surface view (appendices C and D, Figs 15-22): a rotatable 3-D cost surface of a run with the
SGD trajectory drawn on it, or the same as a heat map / contour plot.

Kinds: `paper` (rows along each step's residual direction, rotated to be parallel: not a plane),
`random-plane` through θ_f (Fig. 21) and `alpha-random` (Fig. 22). The 3-D camera is in the
address (`camera=eye_x,eye_y,eye_z[,center..., up...]`): rotating the plot rewrites it, so a
copied address opens at the same angle.
"""

from __future__ import annotations

import math

from dash import Input, Output, State, html, no_update

from models.errors import BadInput
from compute.kinds.surface.query import SurfaceQuery
from compute.kinds.surface.result import SurfaceResult

from compute import validate

from .. import ids, params, widgets
from ..fields import SURFACE_FIELDS
from ..figures.style import message_figure
from ..figures.surface import DEFAULT_CAMERA, surface_figure
from ..labels import SPLIT_NAMES, THETA_F
from ..jobclient import Outcome
from ..params import Param
from ..runs import RunCatalog
from .base import View, export_result
from .line import empty_text, no_run

NAME = "surface"
KINDS = {"paper": "paper: rows along β(t) (App. C)", "random-plane": "random plane through θ_f (Fig. 21)",
         "alpha-random": "α × random direction (Fig. 22)",
         "hessian": "plane of the top two Hessian eigenvectors at θ_f",
         "pca": "plane of the trajectory's two principal directions (Li et al.)"}
PLOTS = {"surface": "3-D surface", "heatmap": "heat map", "contour": "contour"}


def _parse_camera(text: str, state: dict, catalog: RunCatalog) -> tuple[float, ...] | None:
    text = str(text).strip()
    if text == "":
        return None
    try:  # compute.validate's parser: ASCII numbers only
        values = tuple(validate.parse_finite(v, "camera") for v in text.split(","))
    except BadInput:
        raise BadInput(f"camera {text!r} must be 3 or 9 comma-separated finite numbers", field="camera") from None
    if len(values) not in (3, 9) or not all(math.isfinite(v) for v in values):
        raise BadInput(f"camera {text!r} must be 3 or 9 finite numbers (eye, then center and up)", field="camera")
    if not any(values[:3]):
        raise BadInput("the camera's eye cannot be at the centre", field="camera")
    return values


def _format_camera(camera: tuple[float, ...] | None) -> str:
    return "" if camera is None else ",".join(validate.format_number(v) for v in camera)


def camera_of(relayout: dict | None) -> tuple[float, ...] | None:
    """The camera a 3-D relayout event reports, rounded (the address keeps 3 decimals), or None."""
    if not relayout or not isinstance(relayout.get("scene.camera"), dict):
        return None
    cam = relayout["scene.camera"]
    try:
        parts = [cam.get(k) or {} for k in ("eye", "center", "up")]
        values = [round(float(p.get(axis, d)), 3) for p, key in zip(parts, ("eye", "center", "up"))
                  for axis, d in zip("xyz", DEFAULT_CAMERA[key])]
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in values) or not any(values[:3]):
        return None
    return tuple(values[:3]) if tuple(values[3:]) == DEFAULT_CAMERA["center"] + DEFAULT_CAMERA["up"] else tuple(values)


def _seeded(state: dict) -> bool:
    """Whether the surface's directions are drawn from a seed (random, or Lanczos's start)."""
    return state.get("kind", "paper") not in ("paper", "pca")


KIND = params.choice(SURFACE_FIELDS.url("surface"), KINDS, "paper")
ARANGE = params.optional_range(SURFACE_FIELDS.url("alpha_min"), "α (or a) range A:B; empty: fitted to the trajectory")
BRANGE = params.optional_range(SURFACE_FIELDS.url("beta_min"), "β (or b) range B0:B1; empty: fitted to the trajectory")
GRID = Param(SURFACE_FIELDS.url("rows"),
             lambda t, s, c: validate.parse_grid(t, "grid"), lambda g: f"{g[0]}x{g[1]}", lambda s, c: (31, 31),
             help="resolution NxM: N rows along α, M along β, 2..201 each")
SPLIT = params.choice(SURFACE_FIELDS.url("splits"), SPLIT_NAMES, "train")
DSEED = Param(SURFACE_FIELDS.url("seed"),
              lambda t, s, c: validate.parse_seed(t, "dseed"), str, lambda s, c: 0, relevant=_seeded,
              help="seed of the random direction(s)")
NORM = params.choice(SURFACE_FIELDS.url("normalization"),
                     {"global": "global (norm ‖θ_f − θᵢ‖)", "filter": "filter-wise (Li et al.)"}, "global",
                     relevant=lambda s: s.get("kind") == "random-plane")
PLOT = params.choice("plot", PLOTS, "surface")
COLOR = params.choice("color", {"auto": "auto (log beyond 2 decades)", "linear": "linear", "log": "log"}, "auto",
                      relevant=lambda s: s.get("plot", "surface") != "surface")
CAMERA = Param("camera", _parse_camera, _format_camera, lambda s, c: None,
               relevant=lambda s: s.get("plot", "surface") == "surface",
               help="3-D camera: eye x,y,z (and center, up); set by rotating the plot")


def queries(state: dict, catalog: RunCatalog) -> dict[str, SurfaceQuery]:
    if catalog.get(state.get("run")) is None:
        raise no_run()
    kind = state["kind"]
    (a_lo, a_hi), (b_lo, b_hi) = state["arange"] or (None, None), state["brange"] or (None, None)
    rows, columns = state["grid"]
    return {"surface": SurfaceQuery(state["run"], kind, a_lo, a_hi, b_lo, b_hi, rows, columns, (state["split"],),
                                    seed=state["dseed"] if _seeded(state) else None,
                                    normalization=state["norm"] if kind == "random-plane" else None,
                                    bn=state.get("bn", validate.DEFAULT_BN),
                                    dtype=state.get("dtype", validate.DEFAULT_DTYPE))}


def _title(state: dict, catalog: RunCatalog, result: SurfaceResult) -> str:
    run = catalog.get(state["run"])
    meta = result.meta
    a, b = _axis_letters(result.query["surface"])
    rows = f"{len(result.alpha)} {a} × {len(result.beta)} {b} values"
    kind = {"paper": "rows along the residual directions", "random-plane": f"random plane through {THETA_F}",
            "alpha-random": "α and a random direction ⟂ u",
            "hessian": f"plane of the top two Hessian eigenvectors at {THETA_F}",
            "pca": f"plane through {THETA_F} of the trajectory's two principal directions"
            }[result.query["surface"]]
    bn = f"; BatchNorm statistics {meta['bn']}d" if meta.get("bn") else ""  # interpolated / recomputed
    precision = params.precision_note(meta.get("dtype", "float32"), meta.get("precision_error"))
    return f"{run.label}: {kind} ({rows}; ‖{THETA_F} − θᵢ‖ = {meta.get('distance', 0):.4g}{bn}){precision}"


def draw(state: dict, catalog: RunCatalog, outcomes: dict[str, Outcome]) -> dict:
    if not catalog.runs:
        return {"surface": message_figure(empty_text(), height=620)}
    out = outcomes.get("surface")
    if out is None or not out.ready:
        if out is None:
            text = ""
        elif out.state == "failed":
            text = f"the job failed<br>{out.error}"
        else:
            # the count of parts is the progress bar's alone: this figure is redrawn only when a job's
            # state changes, so a count here would lag the bar's
            text = "computing the surface… (its progress: the bar above)"
        return {"surface": message_figure(text, height=620)}
    result = out.read(SurfaceResult)
    return {"surface": surface_figure(result, split=state["split"], plot=state["plot"],
                                      log_z=state["y"] == "log", camera=state.get("camera"),
                                      color=state.get("color", "auto"),
                                      title=_title(state, catalog, result))}


def _axis_letters(kind: str) -> tuple[str, str]:
    """What the rows and the columns are called for `kind`: the axes' letters of the figure."""
    return {"paper": ("rows", "β"), "alpha-random": ("α", "b")}.get(kind, ("a", "b"))


HELP = {
    "paper": "paper: for each recorded step t, the line through θᵢ + α(t)(θ_f − θᵢ) along the residual direction "
             "v(t); rows drawn side by side (appendix C) — not a plane. Every trajectory point is a vertex of the "
             "surface: J(θ(t)) exactly.",
    "random-plane": "random plane (Fig. 21): θ = θ_f + a·d₁ + b·d₂ with two random directions d₁, d₂ of the norm "
                    "chosen; the trajectory is projected onto the plane (hover: how far off it).",
    "alpha-random": "α × random (Fig. 22): θ = θᵢ + α(θ_f − θᵢ) + b·r with r random and orthogonal to θ_f − θᵢ; "
                    "the trajectory is projected (hover: how far off it).",
    "hessian": "Hessian plane: θ = θ_f + a·v₁ + b·v₂ along the eigenvectors of the two largest eigenvalues of the "
               "Hessian at θ_f (in the axis titles); the trajectory is projected (hover: how far off it).",
    "pca": "PCA plane (Li et al. 2018): θ = θ_f + a·d₁ + b·d₂ along the first two principal directions of the "
           "checkpoints θ(t) − θ_f, a and b distances in parameter space. The axis titles give the share of the "
           "trajectory's variance each direction holds; the hover, the share of each checkpoint's distance to θ_f "
           "that lies off the plane, and J(θ(t)) beside J at its projection: where that share is large, the drawn "
           "path is not the real one.",
}


def layout(state: dict, catalog: RunCatalog) -> html.Div:
    v, form = NAME, widgets.Form(NAME, state, catalog)
    kind = state.get("kind", "paper")
    a, b = {"paper": ("α", "β"), "alpha-random": ("α", "b")}.get(kind, ("a", "b"))
    controls = html.Div([
        form.dropdown(params.RUN, "Run", placeholder="no runs yet"),
        form.radio(KIND, "Surface"),
        form.text(ARANGE, f"{a} range", placeholder="auto", hint="A:B; empty: fitted to the trajectory"),
        form.text(BRANGE, f"{b} range", placeholder="auto", hint="B0:B1; empty: fitted to the trajectory"),
        form.text(GRID, "Resolution", hint=f"NxM: {a} values × {b} values, up to 201x201"),
        form.text(DSEED, "Random direction: seed"),
        form.radio(NORM, "Random directions' norm"),
        form.radio(SPLIT, "Split", inline=True),
        form.radio(params.BN, "BatchNorm statistics", hint="off the checkpoints: mixed like θ, or recomputed"),
        form.radio(params.DTYPE, "Precision", hint="float32 is exact; the half precisions are previews"),
        form.radio(PLOT, "Plot", inline=True),
        form.radio(COLOR, "Colour scale", inline=True),
        form.radio(params.Y, "Cost axis", inline=True),
        html.Div(params.rich(HELP[kind] + " Drag to rotate: the angle goes into the address."),
                 className="field-hint explain", id="surface-help"),
    ], className="controls")
    main = html.Div([widgets.graph(v, "surface", "landscape-surface", height=620), widgets.export_links(v)],
                    className="main")
    return html.Div([controls, main], className="view-grid")


def callbacks(app) -> None:
    @app.callback(Output(ids.EDIT, "data", allow_duplicate=True),
                  Input(ids.graph(NAME, "surface"), "relayoutData"), State(ids.ADDRESS, "data"),
                  prevent_initial_call=True)
    def remember_camera(relayout, address):
        # an edit of the camera parameter, applied to the address by the shell (app/callbacks.py)
        camera = camera_of(relayout)
        state = params.load_state(address["state"]) if address else {}
        if camera is None or state.get("view") != NAME or state.get("plot") != "surface" \
                or state.get("camera") == camera:
            return no_update
        return {"view": NAME, "values": {"camera": _format_camera(camera)}}


VIEW = View(NAME, "Surface", (params.RUN, KIND, ARANGE, BRANGE, GRID, DSEED, NORM, SPLIT, params.BN, params.DTYPE, PLOT,
                              COLOR, params.Y, CAMERA),
            layout, queries, draw, export_result("surface", SurfaceResult), callbacks,
            "3-D cost surfaces with the SGD trajectory on them (appendix C), and the control planes (appendix D)",
            relayout_on=("kind",))
