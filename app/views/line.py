"""Line view (Figs 1 left, 2, 4, 5): J((1-α)θ₀ + αθ₁) for an endpoint pair of one run, with a
zoom that recomputes: a window on the α axis (dragged, typed, or the buttons of Fig. 4) is a
new query at the full number of points inside the window, drawn when ready; until then the
coarse curve stays, with the window shaded.
"""

from __future__ import annotations

import dataclasses
import math
import re

from dash import Input, Output, State, ctx as dash_ctx, html, no_update

from models.errors import BadInput
from compute.kinds.curve import recorded_curves
from compute.kinds.line import LineQuery
from compute.kinds.line_result import LineResult
from compute.queries import Endpoint
from compute.store import Store

from compute import validate
from compute.align import model_refusal

from .. import ids, params, widgets
from ..fields import LINE_FIELDS
from ..figures.line import line_figure, metrics_table, with_aligned, with_derivatives
from ..figures.curvature import with_sharpness
from ..figures.style import banner, message_figure, shade
from ..labels import SPLIT_NAMES, endpoint_names
from ..jobclient import Outcome
from ..runs import RunCatalog
from .base import View

NAME = "line"
SHARPNESS = params.Param(
    LINE_FIELDS.url("sharpness"), lambda t, s, c: validate.parse_int(str(t).strip() or 0, "sharpness", 0, validate.MAX_POINTS,
                                                    what="sharpness"),
    lambda n: str(n) if n else "", lambda s, c: 0,
    help="1: λ_max of the Hessian at every point of the line, drawn under the cost; N: at every N-th point "
         "and the last; empty: none (each point costs tens of Hessian-vector products)")
CURVE_ID = re.compile(r"curve-[a-z]+-[0-9a-f]{12}")


def _parse_curve(text: str, state: dict, catalog: RunCatalog) -> str | None:
    text = str(text or "").strip()
    if text and not CURVE_ID.fullmatch(text):
        raise BadInput(f"malformed curve id {text!r}", field=LINE_FIELDS.url("curve"))
    return text or None


def _curve_options(state: dict, catalog: RunCatalog) -> list[dict]:
    found = recorded_curves(Store(), state.get("run") or "", state.get("other") or "")
    return [{"label": "none: the straight line only", "value": ""}] + [{"label": c, "value": c} for c in found]


CURVE = params.Param(
    LINE_FIELDS.url("curve"), _parse_curve, lambda c: c or "", lambda s, c: None,
    relevant=lambda s: s.get("pair") == "seeds", options=_curve_options,
    help="a recorded curve between the two solutions (Garipov et al. 2018), drawn with the straight line")
METRICS_HEIGHT = None  # the metrics table's height follows its rows (metrics_table)
ZOOMS = {"zoom-start": (0.0, 0.01), "zoom-end": (0.99, 1.0)}  # Fig. 4's windows
EMPTY = ("No runs yet.<br>Train one with <b>landscape train relu-mnist</b>,<br>"
         "or start the dashboard with <b>landscape serve --demo</b>.")
WAITING = "Waiting for the demo runs: the first one is drawn here as soon as it is trained."


def empty_text() -> str:
    """What a view says with no runs: waiting for the demo runs while they train, else how to get one."""
    from ..demo import demo_status

    try:
        return WAITING if demo_status([])["active"] else EMPTY
    except Exception:  # Redis unreachable: the status line says so
        return EMPTY


def no_run(field: str = "run") -> BadInput:
    """The refusal of a view that needs a run while none is chosen (none recorded yet, or training)."""
    return BadInput("waiting for the demo runs" if empty_text() == WAITING else
                    "no run chosen: train one with landscape train relu-mnist", field=field)


def endpoints(state: dict, catalog: RunCatalog) -> tuple[Endpoint, Endpoint, tuple[str, str]]:
    """The endpoint pair, built from the state's parsed values (no text to parse again), and the
    labels drawn at α = 0 and α = 1."""
    run = catalog.get(state.get("run"))
    if run is None:
        raise no_run()
    pair = state["pair"]
    if pair == "seeds":
        other = catalog.get(state.get("other"))
        if other is None:
            raise BadInput(f"{run.model}/{run.preset} has only one run: train another seed with "
                           f"landscape train {run.model} --seed {run.seed + 1}", field="other")
        start, end = Endpoint("final", run=run.id), Endpoint("final", run=other.id)
    elif pair == "random":
        start, end = Endpoint("random", seed=state["rseed"], scale=float(state["scale"])), Endpoint("final", run=run.id)
    elif pair == "step":
        start, end = Endpoint("step", run=run.id, step=state["step"]), Endpoint("final", run=run.id)
    else:
        start, end = Endpoint("init", run=run.id), Endpoint("final", run=run.id)
    return start, end, endpoint_names(start, end, catalog.seed_of)


def align_refusal(state: dict, catalog: RunCatalog) -> str | None:
    """Why the aligned line is not drawn though asked for (a model weight matching cannot permute)."""
    run = catalog.get(state.get("run"))
    if not state.get("align") or state.get("pair") != "seeds" or run is None:
        return None
    return model_refusal(run.model, run.preset, run.imported)


def queries(state: dict, catalog: RunCatalog) -> dict[str, LineQuery]:
    start, end, _ = endpoints(state, catalog)
    lo, hi = state["alpha"]
    options = dict(dropout_samples=state.get("dropout", 0), bn=state.get("bn", validate.DEFAULT_BN),
                   dtype=state.get("dtype", validate.DEFAULT_DTYPE),
                   derivatives=state.get("derivatives", False), sharpness=state.get("sharpness", 0),
                   tolerance=state.get("tolerance") if state["points"] == validate.AUTO_POINTS else None)
    windows = {"main": (lo, hi)}
    if state.get("zoom") is not None:
        windows["zoom"] = state["zoom"]
    out = {name: LineQuery(start, end, a, b, state["points"], state["splits"], **options)
           for name, (a, b) in windows.items()}
    if state.get("align") and state["pair"] == "seeds" and align_refusal(state, catalog) is None:
        aligned_end = dataclasses.replace(end, aligned_to=start.run)  # final:B~A: B's units matched to A's
        out.update({f"{name}-aligned": LineQuery(start, aligned_end, a, b, state["points"], state["splits"],
                                                 **options) for name, (a, b) in windows.items()})
    if state.get("curve") and state["pair"] == "seeds":  # on t in [0, 1], whatever the α window
        points = state["points"] if state["points"] != validate.AUTO_POINTS else 51
        curve_options = dict(options, derivatives=False, sharpness=0, tolerance=None)
        out["curve"] = LineQuery(start, end, 0.0, 1.0, points, state["splits"], curve=state["curve"], **curve_options)
    return out


def _title(state: dict, catalog: RunCatalog, names: tuple[str, str]) -> str:
    run = catalog.get(state["run"])
    samples = state.get("dropout", 0)
    mc = f" · dropout on, mean of {samples} passes" if samples else ""
    bn = f" · BatchNorm statistics {_BN_TITLES[state.get('bn', validate.DEFAULT_BN)]}" if run.batchnorm else ""
    return f"{run.label}: {names[0]} → {names[1]}{mc}{bn}{params.precision_note(state.get('dtype', 'float32'))}"


_BN_TITLES = {"interpolate": "interpolated", "recompute": "recomputed"}


def draw(state: dict, catalog: RunCatalog, outcomes: dict[str, Outcome]) -> dict:
    if not catalog.runs:
        return {"line": message_figure(empty_text()), "metrics": metrics_table([])}
    try:
        _, _, names = endpoints(state, catalog)
    except BadInput as exc:
        return {"line": message_figure(exc.message), "metrics": metrics_table([])}
    title = _title(state, catalog, names)
    main, zoom = outcomes.get("main"), outcomes.get("zoom")
    common = dict(metric=state["metric"], log_y=state["y"] == "log", title=title, names=names)
    if zoom is not None and zoom.ready:
        shown = zoom.read(LineResult)
        fig = line_figure(shown, window=state["zoom"], **common)
        return _decorated(fig, state, catalog, shown, outcomes.get("zoom-aligned"), outcomes.get("curve"))
    if main is not None and main.ready:
        shown = main.read(LineResult)
        fig = line_figure(shown, **common)
        if zoom is not None:  # the coarse curve stays, the window shaded, until the zoomed one is ready
            lo, hi = state["zoom"]
            banner(shade(fig, lo, hi),
                           _pending_text(zoom, f"zoom α ∈ [{validate.format_number(lo)}, {validate.format_number(hi)}]"))
        return _decorated(fig, state, catalog, shown, outcomes.get("main-aligned"), outcomes.get("curve"))
    return {"line": message_figure(_pending_text(main, "the line") if main else "", title),
            "metrics": metrics_table([], "Line metrics: computing…")}


def _barrier_text(label: str, metrics: dict) -> str:
    m = metrics.get("train") or next(iter(metrics.values()), {})
    b = m.get("barrier")
    shown = "–" if b is None else f"{b['height']:.4g} at α = {b['alpha']:.3g}"
    return f"{label}: barrier {shown}"


def _decorated(fig: dict, state: dict, catalog: RunCatalog, shown: LineResult, aligned: Outcome | None,
               curve: Outcome | None = None) -> dict:
    """The curve with its derivatives panel, the aligned line and the connecting curve when asked
    for, and the metrics table."""
    with_derivatives(fig, shown)
    with_sharpness(fig, shown)
    named = [("", shown.shown_metrics)]
    refusal = align_refusal(state, catalog)
    if refusal is not None:
        banner(fig, f"not aligned: {refusal}")
    elif aligned is not None and aligned.ready:
        aligned_line = aligned.read(LineResult)
        named = [("as trained", named[0][1]), ("aligned", aligned_line.shown_metrics)]
        with_aligned(fig, aligned_line, state["metric"],
                             [_barrier_text("as trained", named[0][1]), _barrier_text("aligned", named[1][1])])
    elif aligned is not None:
        banner(fig, _pending_text(aligned, "the aligned line"))
    if curve is not None and curve.ready:
        curve_line = curve.read(LineResult)
        named = [("straight line" if not label else label, m) for label, m in named] + [
            ("curve", curve_line.shown_metrics)]
        _with_curve(fig, curve_line, state["metric"])
    elif curve is not None:
        banner(fig, _pending_text(curve, "the curve"))
    return {"line": fig, "metrics": metrics_table(named)}


def _with_curve(fig: dict, curve: LineResult, metric: str) -> None:
    """The connecting curve's J at t = α, on the straight line's axis, thick and dotted."""
    for split, values in (getattr(curve, metric, None) or {}).items():
        if values is None:
            continue
        name = f"{SPLIT_NAMES.get(split, split)} along the curve"
        fig["data"].append({"type": "scatter", "x": curve.alpha, "y": values, "name": name, "meta": f"{split}-curve",
                            "mode": "lines+markers", "marker": {"size": 5},
                            "line": {"color": "#7b3294" if split == "train" else "#c2a5cf", "width": 3, "dash": "dot"},
                            "hovertemplate": f"t = %{{x:.4g}}, J = %{{y:.6g}}<extra>{name} {curve.query['curve']}</extra>"})


def _pending_text(outcome: Outcome, what: str) -> str:
    if outcome.state == "failed":
        return f"{what}: the job failed<br>{outcome.error}"
    if outcome.state == "cancelled":
        return f"{what}: cancelled"
    # the count is the progress bar's (one count on the page: this text is drawn less often)
    return f"computing {what} at full resolution…"


def export(state: dict, outcomes: dict[str, Outcome]) -> tuple[dict, str]:
    shown = (outcomes["zoom"] if "zoom" in outcomes else outcomes["main"]).read(LineResult)
    return shown.to_json(), shown.to_csv()


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
        form.text(params.POINTS, "Points", hint="2 to 2001 α values, or auto (dense where the curve bends)"),
        form.text(params.TOLERANCE, "Tolerance (points = auto)", hint="share of the curve's range"),
        form.checklist(params.SPLITS, "Splits"),
        form.text(params.DROPOUT, "Dropout samples", placeholder="0",
                  hint="empty: dropout off (the paper's J); N: Monte-Carlo estimate, dropout on"),
        form.radio(params.BN, "BatchNorm statistics",
                   hint="recompute: re-estimated at every point (interpolated ones can draw false barriers)"),
        form.radio(params.DERIVATIVES, "Derivatives dJ/dα, d²J/dα²", inline=True),
        form.radio(params.DTYPE, "Precision", hint="float32 is exact; the half precisions are previews"),
        form.text(SHARPNESS, "Sharpness λ_max every N-th point", placeholder="off",
                  hint="1: at every point (slow: a Lanczos run per point)"),
        form.radio(params.ALIGN, "Align the second solution to the first",
                   hint="permutes its hidden units to match (weight matching): is the barrier only a symmetry?"),
        form.dropdown(CURVE, "Connect with a curve",
                      hint="landscape curve --from final:A --to final:B trains one (then reload)"),
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
    terms = html.Div(["What the table's words mean: ",
                      *_links(("monotone", "monotone"), ("barrier", "barrier (against the chord, so a monotone curve "
                                                                    "can have one)"),
                              ("segment", "(segment)"), ("exact-interpolated", "(exact-interpolated)"))],
                     className="field-hint", id="metrics-terms")
    main = html.Div([widgets.graph(v, "line", "landscape-line"), zoom,
                     widgets.graph(v, "metrics", "landscape-line-metrics", height=METRICS_HEIGHT), terms,
                     widgets.export_links(v)], className="main")
    return html.Div([controls, main], className="view-grid")


def _links(*terms: tuple[str, str]) -> list:
    """Links to the glossary's entries (/help#anchor), separated by commas."""
    out: list = []
    for i, (anchor, text) in enumerate(terms):
        out += ([", "] if i else []) + [html.A(text, href=f"/help#{anchor}", title="the glossary on /help")]
    return out


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
                           params.ALPHA, params.POINTS, params.TOLERANCE, params.SPLITS, params.DROPOUT, params.BN,
                           params.DTYPE, params.DERIVATIVES, SHARPNESS, params.ALIGN, CURVE, params.METRIC, params.Y, params.ZOOM),
            layout, queries, draw, export, callbacks,
            "J(θ) along the straight line between two points: init→final, two seeds, random, step→final")
