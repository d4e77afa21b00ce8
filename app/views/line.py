"""Line view (Figs 1 left, 2, 4, 5): J((1-α)θ₀ + αθ₁) for an endpoint pair of one run, with a
zoom that recomputes: a window on the α axis (dragged, typed, or the buttons of Fig. 4) is a
new query at the full number of points inside the window, drawn when ready; until then the
coarse curve stays, with the window shaded.
"""

from __future__ import annotations

import math

from dash import Input, Output, State, ctx as dash_ctx, html, no_update

from models.errors import BadInput
from compute.queries import LineQuery
from compute.results import LineResult

from compute import validate

from .. import figures, ids, params, widgets
from ..jobclient import Outcome
from ..runs import RunCatalog
from .base import View

NAME = "line"
ZOOMS = {"zoom-start": (0.0, 0.01), "zoom-end": (0.99, 1.0)}  # Fig. 4's windows
EMPTY = ("No runs yet.<br>Train one with <b>landscape train relu-mnist</b>,<br>"
         "or start the dashboard with <b>landscape serve --demo</b>.")


def endpoints(state: dict, catalog: RunCatalog) -> tuple[str, str, tuple[str, str]]:
    """The endpoint pair's compute names and the labels drawn at α = 0 and α = 1."""
    run = catalog.get(state.get("run"))
    if run is None:
        raise BadInput("no run chosen: train one with `landscape train relu-mnist`", field="run")
    pair = state["pair"]
    if pair == "seeds":
        other = catalog.get(state.get("other"))
        if other is None:
            raise BadInput(f"{run.model}/{run.preset} has only one run: train another seed with "
                           f"`landscape train {run.model} --seed {run.seed + 1}`", field="other")
        return f"final:{run.id}", f"final:{other.id}", (f"θ_f seed {run.seed}", f"θ_f seed {other.seed}")
    if pair == "random":
        scale = validate.format_number(state["scale"])
        return f"random:{state['rseed']}:{scale}", f"final:{run.id}", (f"random ×{scale}", "θ_f")
    if pair == "step":
        return f"step:{run.id}:{state['step']}", f"final:{run.id}", (f"θ(t={state['step']})", "θ_f")
    return f"init:{run.id}", f"final:{run.id}", ("θᵢ", "θ_f")


def queries(state: dict, catalog: RunCatalog) -> dict[str, LineQuery]:
    start, end, _ = endpoints(state, catalog)
    lo, hi = state["alpha"]
    samples, bn = state.get("dropout", 0), state.get("bn", validate.DEFAULT_BN)
    out = {"main": LineQuery(start, end, lo, hi, state["points"], state["splits"], dropout_samples=samples, bn=bn)}
    if state.get("zoom") is not None:
        zlo, zhi = state["zoom"]
        out["zoom"] = LineQuery(start, end, zlo, zhi, state["points"], state["splits"], dropout_samples=samples,
                                bn=bn)
    return out


def _title(state: dict, catalog: RunCatalog, names: tuple[str, str]) -> str:
    run = catalog.get(state["run"])
    samples = state.get("dropout", 0)
    mc = f" · dropout on, mean of {samples} passes" if samples else ""
    bn = f" · BatchNorm statistics {_BN_TITLES[state.get('bn', validate.DEFAULT_BN)]}" if run.batchnorm else ""
    return f"{run.label}: {names[0]} → {names[1]}{mc}{bn}"


_BN_TITLES = {"interpolate": "interpolated", "recompute": "recomputed"}


def draw(state: dict, catalog: RunCatalog, outcomes: dict[str, Outcome]) -> dict:
    if not catalog.runs:
        return {"line": figures.message_figure(EMPTY)}
    try:
        _, _, names = endpoints(state, catalog)
    except BadInput as exc:
        return {"line": figures.message_figure(exc.message)}
    title = _title(state, catalog, names)
    main, zoom = outcomes.get("main"), outcomes.get("zoom")
    common = dict(metric=state["metric"], log_y=state["y"] == "log", title=title, names=names)
    if zoom is not None and zoom.ready:
        return {"line": figures.line_figure(zoom.result, window=state["zoom"], **common)}
    if main is not None and main.ready:
        fig = figures.line_figure(main.result, **common)
        if zoom is not None:  # the coarse curve stays, the window shaded, until the zoomed one is ready
            lo, hi = state["zoom"]
            figures.banner(figures.shade(fig, lo, hi),
                           _pending_text(zoom, f"zoom α ∈ [{validate.format_number(lo)}, {validate.format_number(hi)}]"))
        return {"line": fig}
    return {"line": figures.message_figure(_pending_text(main, "the line") if main else "", title)}


def _pending_text(outcome: Outcome, what: str) -> str:
    if outcome.state == "failed":
        return f"{what}: the job failed<br>{outcome.error}"
    if outcome.state == "cancelled":
        return f"{what}: cancelled"
    share = f" (part {outcome.done} of {outcome.total})" if outcome.total > 1 else ""
    return f"computing {what} at full resolution…{share}"


def export(state: dict, outcomes: dict[str, Outcome]) -> tuple[dict, str]:
    shown = outcomes["zoom"] if "zoom" in outcomes else outcomes["main"]
    return shown.result, LineResult.from_json(shown.result).to_csv()


def layout(state: dict, catalog: RunCatalog) -> html.Div:
    v, form = NAME, widgets.Form(NAME, state, catalog)
    controls = html.Div([
        form.dropdown(params.RUN, "Run", placeholder="no runs yet"),
        form.radio(params.PAIR, "Endpoints θ₀ → θ₁"),
        form.dropdown(params.OTHER, "Second seed (θ₁ = its θ_f)", placeholder="no other seed of this model"),
        form.dropdown(params.STEP, "Checkpoint θ(t)"),
        form.text(params.RSEED, "Random point: seed"),
        form.text(params.SCALE, "Random point: scale",
                  hint="× the initializer's draw; 10 or more is a point of large norm (Fig. 5)"),
        form.text(params.ALPHA, "α range", placeholder="A:B", hint="A:B, e.g. -0.25:1.25"),
        form.text(params.POINTS, "Points", hint="2 to 2001 α values"),
        form.checklist(params.SPLITS, "Splits"),
        form.text(params.DROPOUT, "Dropout samples", placeholder="0",
                  hint="empty: dropout off (the paper's J); N: Monte-Carlo estimate, dropout on"),
        form.radio(params.BN, "BatchNorm statistics",
                   hint="recompute: re-estimated at every point (interpolated ones can draw false barriers)"),
        form.radio(params.METRIC, "Metric", inline=True),
        form.radio(params.Y, "y axis", inline=True),
    ], className="controls")
    zoom = html.Div([
        html.Div([
            html.Span("Zoom α", className="zoom-label"),
            form.text(params.ZOOM, "", placeholder="A:B"),
            html.Button("[0, .01]", id=ids.button(v, "zoom-start"), className="btn"),
            html.Button("[.99, 1]", id=ids.button(v, "zoom-end"), className="btn"),
            html.Button("reset", id=ids.button(v, "zoom-reset"), className="btn btn-quiet"),
        ], className="zoom-row"),
        html.Div("or drag over the α axis: the window is recomputed at full resolution; double-click resets",
                 className="field-hint"),
    ], className="zoom")
    main = html.Div([widgets.graph(v, "line", "landscape-line"), zoom, widgets.export_links(v)], className="main")
    return html.Div([controls, main], className="view-grid")


def _window(relayout: dict | None) -> tuple[float, float] | None | bool:
    """The α window a relayout event asks for; None to reset; False when it is not about α."""
    if not relayout:
        return False
    if relayout.get("xaxis.autorange"):
        return None
    if "xaxis.range[0]" in relayout and "xaxis.range[1]" in relayout:
        lo, hi = relayout["xaxis.range[0]"], relayout["xaxis.range[1]"]
    elif isinstance(relayout.get("xaxis.range"), list):
        lo, hi = relayout["xaxis.range"][:2]
    else:
        return False
    try:
        lo, hi = sorted((float(lo), float(hi)))
    except (TypeError, ValueError):
        return False
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return False
    digits = max(0, 4 - math.floor(math.log10(hi - lo)))  # ~5 significant digits of the window
    lo, hi = round(lo, digits), round(hi, digits)
    return (lo, hi) if hi > lo else False


def callbacks(app) -> None:
    @app.callback(Output(ids.EDIT, "data", allow_duplicate=True),
                  Input(ids.graph(NAME, "line"), "relayoutData"),
                  Input(ids.button(NAME, "zoom-start"), "n_clicks"),
                  Input(ids.button(NAME, "zoom-end"), "n_clicks"),
                  Input(ids.button(NAME, "zoom-reset"), "n_clicks"),
                  State(ids.ADDRESS, "data"), prevent_initial_call=True)
    def zoom(relayout, _start, _end, _reset, address):
        # an edit of the zoom parameter, applied to the address by the shell (app/callbacks.py)
        trigger = dash_ctx.triggered_id
        name = trigger.get("button") if isinstance(trigger, dict) else None
        if name in ZOOMS:
            window = ZOOMS[name]
        elif name == "zoom-reset":
            window = None
        else:
            window = _window(relayout)
            if window is False:
                return no_update
        state = params.load_state(address["state"]) if address else {}
        if window is not None and tuple(window) == tuple(state.get("alpha") or ()):
            window = None  # a double-click restores the whole α range: that is no zoom, not a zoom to it
        if state.get("view") != NAME or state.get("run") is None or state.get("zoom") == window:
            return no_update
        return {"view": NAME, "values": {"zoom": validate.format_range(window)}}


VIEW = View(NAME, "Line", (params.RUN, params.PAIR, params.OTHER, params.STEP, params.RSEED, params.SCALE,
                           params.ALPHA, params.POINTS, params.SPLITS, params.DROPOUT, params.BN, params.METRIC, params.Y,
                           params.ZOOM),
            layout, queries, draw, export, callbacks,
            "J(θ) along the straight line between two points: init→final, two seeds, random, step→final")
