"""Figures of the control experiments (appendix D, sections 4-5), from a ControlResult's arrays:
random walks (Fig. 11), convex gradient descent (Fig. 12), the factored model's cost (Fig. 14),
the depth-2 scalar model's lines (Figs 9, 10) and the two most-travelled components of a run
(Fig. 7 right).
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from compute.kinds.control import ControlResult

from ..labels import SPLIT_NAMES
from .style import FONT, NOTE, RUN_COLORS, top


def _layout(fig: go.Figure, title: str, height: int = 520, panels: bool = False, legend_right: bool = False) -> go.Figure:
    """Title and legend at the top (style.top). A figure of several panels, or of many legend
    entries (which wrap into rows that grew up into the title), has its legend at the right."""
    right = panels or legend_right
    layout = top({"height": height, "margin": {"l": 60, "r": 20, "b": 56}}, title, legend=not right)
    if right:
        layout["legend"] = {"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1.0, "yanchor": "top"}
    if panels:
        layout["margin"]["t"] += 40  # the panels' titles (two lines at most)
    notes = layout.pop("annotations", [])  # the title's rest: added, not merged into the panels' titles
    fig.update_layout(template="plotly_white", font=dict(family=FONT, size=13), hovermode="closest", **layout)
    for note in notes:
        fig.add_annotation(**note)
    return fig


def _shared_x_title(fig: go.Figure, text: str) -> None:
    """One α title under a row of panels (one per panel ran into its neighbours)."""
    fig.add_annotation(text=text, x=0.5, y=0, xref="paper", yref="paper", yanchor="top", yshift=-30,
                       showarrow=False, font=dict(size=14))


def random_walk_figure(data: dict) -> go.Figure:
    dims = sorted({w["dim"] for w in data["walks"]})
    # more than three panels in two rows: six in one row ran their titles and ticks into each other
    rows = 2 if len(dims) > 3 else 1
    cols = -(-len(dims) // rows)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"d = {d:,}" for d in dims],
                        horizontal_spacing=0.08, vertical_spacing=0.16)
    sol = data["solution_step"]
    for w in data["walks"]:
        row, col = divmod(dims.index(w["dim"]), cols)
        row, col = row + 1, col + 1
        color = RUN_COLORS[w["seed"] % len(RUN_COLORS)]
        fig.add_trace(go.Scatter(x=w["alpha"], y=w["beta"], mode="lines", name=f"seed {w['seed']}",
                                 legendgroup=str(w["seed"]), showlegend=(row, col) == (1, 1),
                                 line=dict(color=color, width=1.5), customdata=list(range(len(w["alpha"]))),
                                 hovertemplate="step %{customdata}<br>α = %{x:.4g}<br>β = %{y:.4g}<extra></extra>"),
                      row=row, col=col)
        fig.add_trace(go.Scatter(x=[w["alpha"][sol]], y=[w["beta"][sol]], mode="markers", showlegend=False,
                                 marker=dict(symbol="star", size=10, color=color), hoverinfo="skip"), row=row, col=col)
    fig.update_xaxes(nticks=5)
    fig.update_yaxes(nticks=5)
    _shared_x_title(fig, f"α (projection on x₀ → x<sub>{sol}</sub>)")
    fig.update_yaxes(title_text="β (residual norm)", col=1)
    return _layout(fig, f"Random walks: α vs β, the solution ★ at step {sol} of {data['steps']}; "
                        "high dimension forces the same shape", height=620 if rows > 1 else 520, panels=True)


def convex_figure(data: dict) -> go.Figure:
    fig = go.Figure()
    for i, r in enumerate(data["runs"]):
        fig.add_trace(go.Scatter(x=r["alpha"], y=r["beta"], mode="lines", name=f"ε = {r['lr']:g}, μ = {r['momentum']:g}",
                                 line=dict(color=RUN_COLORS[i % len(RUN_COLORS)], width=2),
                                 customdata=list(range(len(r["alpha"]))),
                                 hovertemplate="step %{customdata}<br>α = %{x:.4g}<br>β = %{y:.4g}<extra></extra>"))
    fig.update_layout(xaxis_title="α (projection on θ₀ → θ*)", yaxis_title="β (residual norm)")
    return _layout(fig, f"Gradient descent on a convex quadratic of {data['dim']:,} dimensions (condition "
                        f"{data['condition']:g}) toward its true solution θ*: the max β tells the runs apart",
                   legend_right=len(data["runs"]) > 3)


def factored_figure(data: dict) -> go.Figure:
    fig = go.Figure()
    z = [list(col) for col in zip(*data["cost"])]  # rows follow w1; a heat map's rows follow y (w2)
    # colours in log₁₀ J where J spans more than two decades (the basin was one flat colour); J is 0 on
    # the hyperbola, so the colours stop at 1e-4 of the largest J (the hover gives J itself)
    top_cost = max(v for row in z for v in row if v is not None)
    floor = top_cost * 1e-4
    positive = [v for row in z for v in row if v is not None and v > 0]
    log_c = bool(positive) and math.log10(top_cost / max(min(positive), floor)) > 2
    colours = [[math.log10(max(v, floor)) if v is not None else None for v in row] for row in z] if log_c else z
    fig.add_trace(go.Heatmap(x=data["w1"], y=data["w2"], z=colours, customdata=z, colorscale="Viridis",
                             name="(1 − w₁w₂)²", colorbar=dict(title="log₁₀ J" if log_c else "J", thickness=12),
                             hovertemplate="w₁ = %{x:.3g}, w₂ = %{y:.3g}<br>J = %{customdata:.4g}<extra></extra>"))
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
    titles = {"init-solution": "small init → solution<br>(Fig. 9)",
              "solution-solution": "solution → solution<br>(Fig. 10 left)",
              "random-solution": "random point → solution<br>(Fig. 10 right)"}
    names = list(data["lines"])
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[titles.get(n, n) for n in names])
    for col, name in enumerate(names, start=1):
        line = data["lines"][name]
        fig.add_trace(go.Scatter(x=line["alpha"], y=line["cost"], mode="lines", name=name, showlegend=False,
                                 line=dict(color=RUN_COLORS[col - 1], width=2),
                                 hovertemplate="α = %{x:.4g}<br>J = %{y:.6g}<extra></extra>"), row=1, col=col)
    _shared_x_title(fig, "α")
    fig.update_yaxes(title_text="J = (1 − w₁w₂)²", col=1)
    return _layout(fig, "Depth-2 scalar linear regression: lines with the features of the neural networks' lines",
                   panels=True)


def extremes_figure(data: dict) -> go.Figure:
    split = next(iter(data["cost"]))
    (cx, cy) = data["components"][0], data["components"][-1]
    fig = go.Figure(go.Scatter3d(
        x=data["x"], y=data["y"], z=data["cost"][split], mode="lines+markers", name="SGD, one point per checkpoint",
        customdata=list(zip(data["step"], data["epoch"])), line=dict(color="#1f6fb4", width=4),
        # the markers' colour is the epoch: say so with a colour bar
        marker=dict(size=4, color=data["epoch"], colorscale="Viridis", showscale=True,
                    colorbar=dict(title=dict(text="epoch"), thickness=12, len=0.6)),
        hovertemplate="step %{customdata[0]} (epoch %{customdata[1]:.3g})<br>θ[a] = %{x:.4g}<br>θ[b] = %{y:.4g}"
                      "<br>J = %{z:.6g}<extra></extra>"))
    # short axis titles (a parameter's name is long: it was cut off at the scene's edge), the names in a note
    fig.update_layout(scene=dict(xaxis_title="θ[a]", yaxis_title="θ[b]", zaxis_title=f"J ({SPLIT_NAMES.get(split, split)})",
                                 camera=dict(eye=dict(x=1.75, y=1.75, z=1.2)),
                                 # the whole width (it sat in a narrow column) and room under the box
                                 domain=dict(x=[0, 0.94], y=[0.05, 1]), aspectmode="cube"))
    fig.add_annotation(name=NOTE, text=f"a = {cx['name']}, b = {cy['name']}", x=0, y=0, xref="paper", yref="paper",
                       xanchor="left", yanchor="top", yshift=-4, showarrow=False, font=dict(size=12, color="#666"))
    fig = _layout(fig, "The two most-travelled components of θ, against the cost", 620)
    fig.update_layout(margin=dict(l=0, r=0, b=40), showlegend=False)
    return fig


CONTROL_FIGURES = {"random-walk": random_walk_figure, "convex": convex_figure, "factored": factored_figure,
        "scalar-lines": scalar_lines_figure, "extremes": extremes_figure}




def controls_figure(result: ControlResult) -> dict:
    """The figure of a control experiment's result."""
    return CONTROL_FIGURES[result.experiment](result.data).to_dict()
