"""Controls view (appendix D, sections 4-5): the control experiments that say how to read the
other pictures — random walks (Fig. 11), convex gradient descent (Fig. 12), the factored model's
cost (1 − w₁w₂)² with its SGD path (Fig. 14), the depth-2 scalar model's lines (Figs 9, 10) and,
for any run, the two most-travelled components of θ against the cost (Fig. 7 right).
"""

from __future__ import annotations

from dataclasses import replace

import plotly.graph_objects as go
from dash import html
from plotly.subplots import make_subplots

from models.errors import BadInput
from compute import validate
from compute.queries import CONTROL_PARAMS, ControlQuery
from compute.control_results import ControlResult

from .. import figures, params, widgets
from ..jobclient import Outcome
from ..params import Param
from ..runs import RunCatalog
from .base import View, export_result

NAME = "controls"
EXPERIMENTS = {"random-walk": "random walks (Fig. 11)", "convex": "convex quadratic, GD (Fig. 12)",
               "factored": "factored model (1 − w₁w₂)² (Fig. 14)", "scalar-lines": "scalar model lines (Figs 9, 10)",
               "extremes": "extreme components of a run (Fig. 7 right)"}
# URL parameter -> (experiment, the experiment's parameter, form label)
FIELDS = {"dims": ("random-walk", "dims", "Dimensions d"), "seeds": ("random-walk", "seeds", "Seeds"),
          "cdim": ("convex", "dim", "Dimensions"), "lrs": ("convex", "lrs", "Learning rates ε"),
          "momenta": ("convex", "momenta", "Momenta μ"),
          "w1": ("factored", "w1", "w₁ window"), "w2": ("factored", "w2", "w₂ window"),
          "solutions": ("scalar-lines", "solutions", "Solutions (a, 1/a), (b, 1/b): a,b"),
          "rscale": ("scalar-lines", "random_scale", "Random point: scale")}
EXP = params.choice("exp", EXPERIMENTS, "random-walk")


def _field_param(name: str, experiment: str, param: str) -> Param:
    parser, default = CONTROL_PARAMS[experiment][param]
    is_range = name in ("w1", "w2")

    def fmt(value) -> str:
        if is_range:
            return validate.format_range(value)
        if isinstance(value, (tuple, list)):
            return ",".join(validate.format_number(v) if isinstance(v, float) else str(v) for v in value)
        return validate.format_number(value) if isinstance(value, float) else str(value)

    # compute.queries' parsers are the ones that say what a parameter may be (field: the URL name)
    def parse(text: str, state: dict, catalog: RunCatalog):
        try:
            return parser(text, name)
        except BadInput as exc:
            raise BadInput(exc.message, field=name) from None

    return Param(name, parse, fmt, lambda s, c: parser(default, name),
                 relevant=lambda s: s.get("exp") == experiment)


FIELD_PARAMS = tuple(_field_param(name, exp, param) for name, (exp, param, _) in FIELDS.items())
XRUN = replace(params.RUN, name="xrun", relevant=lambda s: s.get("exp") == "extremes", help="the run of Fig. 7 right")


def queries(state: dict, catalog: RunCatalog) -> dict[str, ControlQuery]:
    exp = state["exp"]
    params = tuple((param, state[name]) for name, (e, param, _) in FIELDS.items() if e == exp)
    run = None
    if exp == "extremes":
        if catalog.get(state.get("xrun")) is None:
            raise BadInput("no run chosen: train one with `landscape train relu-mnist`", field="xrun")
        run = state["xrun"]
    return {"control": ControlQuery(exp, run, params)}


# ------------------------------------------------------------------------------------------ figures
def _layout(fig: go.Figure, title: str, height: int = 520) -> go.Figure:
    fig.update_layout(template="plotly_white", height=height, font=dict(family=figures.FONT, size=13),
                      title=dict(text=title, x=0.01, xanchor="left", font=dict(size=15)),
                      margin=dict(l=60, r=20, t=70, b=50), hovermode="closest",
                      legend=dict(orientation="h", y=1.02, x=1.0, xanchor="right", yanchor="bottom"))
    return fig


def random_walk_figure(data: dict) -> go.Figure:
    dims = sorted({w["dim"] for w in data["walks"]})
    fig = make_subplots(rows=1, cols=len(dims), subplot_titles=[f"d = {d:,}" for d in dims])
    sol = data["solution_step"]
    for w in data["walks"]:
        col = dims.index(w["dim"]) + 1
        color = figures.RUN_COLORS[w["seed"] % len(figures.RUN_COLORS)]
        fig.add_trace(go.Scatter(x=w["alpha"], y=w["beta"], mode="lines", name=f"seed {w['seed']}",
                                 legendgroup=str(w["seed"]), showlegend=col == 1, line=dict(color=color, width=1.5),
                                 customdata=list(range(len(w["alpha"]))),
                                 hovertemplate="step %{customdata}<br>α = %{x:.4g}<br>β = %{y:.4g}<extra></extra>"),
                      row=1, col=col)
        fig.add_trace(go.Scatter(x=[w["alpha"][sol]], y=[w["beta"][sol]], mode="markers", showlegend=False,
                                 marker=dict(symbol="star", size=10, color=color), hoverinfo="skip"), row=1, col=col)
    fig.update_xaxes(title_text="α (projection on x₀ → x₉₀₀)")
    fig.update_yaxes(title_text="β (residual norm)", col=1)
    return _layout(fig, f"Random walks: α vs β, step {sol} of {data['steps']} taken as the solution (★); "
                        "high dimension forces the same shape")


def convex_figure(data: dict) -> go.Figure:
    fig = go.Figure()
    for i, r in enumerate(data["runs"]):
        fig.add_trace(go.Scatter(x=r["alpha"], y=r["beta"], mode="lines", name=f"ε = {r['lr']:g}, μ = {r['momentum']:g}",
                                 line=dict(color=figures.RUN_COLORS[i % len(figures.RUN_COLORS)], width=2),
                                 customdata=list(range(len(r["alpha"]))),
                                 hovertemplate="step %{customdata}<br>α = %{x:.4g}<br>β = %{y:.4g}<extra></extra>"))
    fig.update_layout(xaxis_title="α (projection on θ₀ → θ*)", yaxis_title="β (residual norm)")
    return _layout(fig, f"Gradient descent on a convex quadratic of {data['dim']:,} dimensions (condition "
                        f"{data['condition']:g}) toward its true solution θ*: the max β tells the runs apart")


def factored_figure(data: dict) -> go.Figure:
    fig = go.Figure()
    z = [list(col) for col in zip(*data["cost"])]  # rows follow w1; a heat map's rows follow y (w2)
    fig.add_trace(go.Heatmap(x=data["w1"], y=data["w2"], z=z, colorscale="Viridis", name="(1 − w₁w₂)²",
                             colorbar=dict(title="J", thickness=12),
                             hovertemplate="w₁ = %{x:.3g}, w₂ = %{y:.3g}<br>J = %{z:.4g}<extra></extra>"))
    h = data["hyperbola"]
    fig.add_trace(go.Scatter(x=h["w1"], y=h["w2"], mode="lines", name="solutions w₂ = 1/w₁",
                             line=dict(color="white", dash="dash", width=2), hoverinfo="skip", connectgaps=False))
    t = data["trajectory"]
    fig.add_trace(go.Scatter(x=t["w1"], y=t["w2"], mode="lines+markers", name="SGD trajectory",
                             line=dict(color="#e4572e", width=2), marker=dict(size=4, color="#e4572e"),
                             customdata=list(zip(t["step"], t["cost"])),
                             hovertemplate="step %{customdata[0]}<br>w₁ = %{x:.4g}, w₂ = %{y:.4g}"
                                           "<br>J = %{customdata[1]:.4g}<extra></extra>"))
    fig.update_layout(xaxis_title="w₁", yaxis_title="w₂", yaxis_scaleanchor="x")
    return _layout(fig, "Factored linear model y = w₁w₂x on x = 1, y = 1: saddle at the origin, a hyperbola of "
                        "solutions, SGD from a small initialization", height=600)


def scalar_lines_figure(data: dict) -> go.Figure:
    titles = {"init-solution": "small init → solution (Fig. 9)",
              "solution-solution": "solution → solution (Fig. 10 left)",
              "random-solution": "large random point → solution (Fig. 10 right)"}
    names = list(data["lines"])
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[titles.get(n, n) for n in names])
    for col, name in enumerate(names, start=1):
        line = data["lines"][name]
        fig.add_trace(go.Scatter(x=line["alpha"], y=line["cost"], mode="lines", name=name, showlegend=False,
                                 line=dict(color=figures.RUN_COLORS[col - 1], width=2),
                                 hovertemplate="α = %{x:.4g}<br>J = %{y:.6g}<extra></extra>"), row=1, col=col)
    fig.update_xaxes(title_text="α")
    fig.update_yaxes(title_text="J = (1 − w₁w₂)²", col=1)
    return _layout(fig, "Depth-2 scalar linear regression: lines with the features of the neural networks' lines")


def extremes_figure(data: dict) -> go.Figure:
    split = next(iter(data["cost"]))
    (cx, cy) = data["components"][0], data["components"][-1]
    fig = go.Figure(go.Scatter3d(
        x=data["x"], y=data["y"], z=data["cost"][split], mode="lines+markers", name="SGD, one point per checkpoint",
        customdata=list(zip(data["step"], data["epoch"])), line=dict(color="#1f6fb4", width=4),
        marker=dict(size=4, color=data["epoch"], colorscale="Viridis"),
        hovertemplate="step %{customdata[0]} (epoch %{customdata[1]:.3g})<br>θ[a] = %{x:.4g}<br>θ[b] = %{y:.4g}"
                      "<br>J = %{z:.6g}<extra></extra>"))
    fig.update_layout(scene=dict(xaxis_title=f"θ[a] = {cx['name']}", yaxis_title=f"θ[b] = {cy['name']}",
                                 zaxis_title=f"J ({figures.SPLIT_NAMES.get(split, split)})"))
    return _layout(fig, "The two components of θ with the largest range over training, against the cost", 620)


DRAW = {"random-walk": random_walk_figure, "convex": convex_figure, "factored": factored_figure,
        "scalar-lines": scalar_lines_figure, "extremes": extremes_figure}


def draw(state: dict, catalog: RunCatalog, outcomes: dict[str, Outcome]) -> dict:
    out = outcomes.get("control")
    if out is None or not out.ready:
        text = "" if out is None else (f"the job failed<br>{out.error}" if out.state == "failed"
                                       else "computing the experiment…")
        return {"control": figures.message_figure(text, height=520)}
    return {"control": DRAW[out.result["experiment"]](out.result)}


def layout(state: dict, catalog: RunCatalog) -> html.Div:
    v, form = NAME, widgets.Form(NAME, state, catalog)
    labels = {name: label for name, (_, _, label) in FIELDS.items()}
    controls = html.Div([
        form.radio(EXP, "Experiment"),
        *[form.text(param, labels[param.name]) for param in FIELD_PARAMS],
        form.dropdown(XRUN, "Run", placeholder="no runs yet"),
        html.Div("Controls are reminders of how to read the other pictures: in high dimension the α–β curve "
                 "of almost any path has the same shape (Figs 11, 12), and a random plane shows little of "
                 "the cost's variation (Fig. 21).", className="field-hint explain"),
    ], className="controls")
    main = html.Div([widgets.graph(v, "control", "landscape-control", height=620), widgets.export_links(v)],
                    className="main")
    return html.Div([controls, main], className="view-grid")


VIEW = View(NAME, "Controls", (EXP, *FIELD_PARAMS, XRUN), layout, queries, draw,
            export_result("control", ControlResult), None,
            "control experiments: random walks, convex GD, the factored model, scalar lines, Fig. 7 right")
