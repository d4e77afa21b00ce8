"""Trajectory view (Fig. 1 right, Fig. 13): the learning curve of a run, and where SGD went
relative to the straight line θᵢ→θ_f: α(t) against β(t), and β(t)/‖θ(t)‖ over time.
"""

from __future__ import annotations

from dash import html

from compute.kinds.trajectory import TrajectoryQuery, TrajectoryResult

from .. import params, widgets
from ..figures.line import alpha_beta_figure, learning_curve_figure, ratio_figure
from ..figures.style import message_figure
from ..jobclient import Outcome
from ..runs import RunCatalog
from .base import View, export_result
from .line import empty_text, no_run

NAME = "trajectory"
GRAPHS = ("curve", "ab", "ratio")


def queries(state: dict, catalog: RunCatalog) -> dict[str, TrajectoryQuery]:
    if catalog.get(state.get("run")) is None:
        raise no_run()
    return {"trajectory": TrajectoryQuery(state["run"])}


def draw(state: dict, catalog: RunCatalog, outcomes: dict[str, Outcome]) -> dict:
    if not catalog.runs:
        return {g: message_figure(empty_text() if g == "curve" else "", height=400) for g in GRAPHS}
    out = outcomes.get("trajectory")
    run = catalog.get(state.get("run"))
    if out is None or not out.ready:
        text = "" if out is None else (f"the job failed<br>{out.error}" if out.state == "failed"
                                       else "computing α(t) and β(t)…")
        return {g: message_figure(text if g == "curve" else "", height=400) for g in GRAPHS}
    traj = out.result
    return {
        "curve": learning_curve_figure(traj, metric=state["metric"], log_y=state["y"] == "log",
                                               title=f"{run.label}: learning curve (exact cost of each θ(t))"),
        "ab": alpha_beta_figure(traj, title="α(t) vs β(t) (Fig. 13)"),
        "ratio": ratio_figure(traj, title="β(t) / ‖θ(t)‖"),
    }


def layout(state: dict, catalog: RunCatalog) -> html.Div:
    v, form = NAME, widgets.Form(NAME, state, catalog)
    controls = html.Div([
        form.dropdown(params.RUN, "Run", placeholder="no runs yet"),
        form.radio(params.METRIC, "Learning curve metric", inline=True),
        form.radio(params.Y, "y axis", inline=True),
        html.Div(params.rich("u = (θ_f − θᵢ)/‖θ_f − θᵢ‖; α(t) = (θ(t) − θᵢ)ᵀu; β(t) = ‖θ(t) − θᵢ − α(t)u‖ "
                             "(appendix B). Hover a point for its step and β/‖θ‖."), className="field-hint explain"),
    ], className="controls")
    main = html.Div([
        widgets.graph(v, "curve", "landscape-learning-curve", height=400),
        html.Div([widgets.graph(v, "ab", "landscape-alpha-beta", height=400),
                  widgets.graph(v, "ratio", "landscape-residual-ratio", height=400)], className="graph-pair"),
        widgets.export_links(v),
    ], className="main")
    return html.Div([controls, main], className="view-grid")


VIEW = View(NAME, "Trajectory", (params.RUN, params.METRIC, params.Y), layout, queries, draw,
            export_result("trajectory", TrajectoryResult), None,
            "the learning curve, and α(t) against β(t) (appendix B)")
