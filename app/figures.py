"""Plotly figures from results' JSON: pure functions, no I/O, no tensor math.

Inputs are the dicts that compute's results write (`LineResult.to_json()`,
`TrajectoryResult.to_json()`): what the cache holds is exactly what is drawn. Figures are plain
Plotly JSON dicts ({"data": [...], "layout": {...}}), which dcc.Graph takes as they are: building
them through plotly.graph_objects validates every property against the schema and took 130 ms
for one line figure on this CPU, most of the time of a cached view.
"""

from __future__ import annotations

SPLIT_COLORS = {"train": "#1f6fb4", "valid": "#e4572e", "test": "#4c9a2a"}
SPLIT_NAMES = {"train": "train", "valid": "validation", "test": "test"}
SPLIT_DASH = {"train": "solid", "valid": "dash", "test": "dot"}
RUN_COLORS = ["#1f6fb4", "#e4572e", "#4c9a2a", "#8e44ad", "#f0a202", "#17a2b8", "#6c757d", "#d63384",
              "#20c997", "#343a40"]
METRIC_LABELS = {"cost": "cost J(θ)", "error": "error rate"}
FONT = "Inter, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"
GRID, AXIS_LINE = "#e9ecf1", "#bbbbbb"


def _axis(title: str, log: bool = False, **more) -> dict:
    axis = {"title": {"text": title}, "type": "log" if log else "linear", "gridcolor": GRID, "zeroline": False,
            "showline": True, "linecolor": AXIS_LINE, "mirror": True, "ticks": "outside", "tickcolor": AXIS_LINE,
            "automargin": True}
    if log:
        axis["exponentformat"] = "power"
    axis.update(more)
    return axis


def _base(title: str, x: str, y: str, log_y: bool = False, height: int = 460) -> dict:
    return {"data": [], "layout": {
        "height": height, "font": {"family": FONT, "size": 13, "color": "#1d2330"},
        "paper_bgcolor": "white", "plot_bgcolor": "white",
        "title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 15}},
        "margin": {"l": 70, "r": 24, "t": 56, "b": 56}, "hovermode": "x unified",
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
        "xaxis": _axis(x), "yaxis": _axis(y, log_y), "shapes": [], "annotations": [],
        "colorway": RUN_COLORS}}


def message_figure(text: str, title: str = "", height: int = 460) -> dict:
    """An empty plot that says why it is empty (no runs, computing, failed)."""
    fig = _base(title, "", "", height=height)
    fig["layout"].update(xaxis={"visible": False}, yaxis={"visible": False}, hovermode=False)
    fig["layout"]["annotations"].append({"text": text, "x": 0.5, "y": 0.5, "xref": "paper", "yref": "paper",
                                         "showarrow": False, "font": {"size": 15, "color": "#555"}, "align": "center"})
    return fig


def banner(fig: dict, text: str) -> dict:
    """A note across the top of the plot (e.g. 'computing the zoomed curve…')."""
    fig["layout"]["annotations"].append({
        "text": text, "x": 0.5, "y": 1.0, "xref": "paper", "yref": "paper", "yanchor": "top", "showarrow": False,
        "bgcolor": "rgba(255,248,220,0.95)", "bordercolor": "#e0c36a", "borderpad": 6,
        "font": {"size": 13, "color": "#6b5200"}})
    return fig


def shade(fig: dict, lo: float, hi: float, color: str = "#f0a202") -> dict:
    """A band over the α window [lo, hi]."""
    fig["layout"]["shapes"].append({"type": "rect", "xref": "x", "yref": "paper", "x0": lo, "x1": hi, "y0": 0, "y1": 1,
                                    "fillcolor": color, "opacity": 0.18, "line": {"width": 0}, "layer": "below"})
    return fig


def vline(fig: dict, x: float, label: str, position: str = "right") -> dict:
    """A dotted vertical line with a label at its foot."""
    fig["layout"]["shapes"].append({"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
                                    "line": {"color": "#999", "width": 1, "dash": "dot"}})
    fig["layout"]["annotations"].append({
        "text": label, "x": x, "y": 0, "xref": "x", "yref": "paper", "yanchor": "bottom", "showarrow": False,
        "xanchor": "left" if position == "right" else "right", "font": {"size": 12, "color": "#555"}})
    return fig


def _values(result: dict, metric: str, split: str) -> list | None:
    return (result.get(metric) or {}).get(split)


def _mark_endpoints(fig: dict, names: tuple[str, str], lo: float, hi: float) -> None:
    for alpha, name, side in ((0.0, names[0], "right"), (1.0, names[1], "left")):
        if lo <= alpha <= hi:
            vline(fig, alpha, name, side)


def line_figure(result: dict, *, metric: str = "cost", log_y: bool = False, title: str = "",
                names: tuple[str, str] = ("θ₀", "θ₁"), window: tuple[float, float] | None = None) -> dict:
    """J((1-α)θ₀ + αθ₁) against α, one trace per split (Figs 1, 2, 4, 5). `window` fixes the
    α axis (a zoom)."""
    alpha = result["alpha"]
    fig = _base(title, "α   (θ = (1−α)·θ₀ + α·θ₁)", METRIC_LABELS[metric], log_y)
    for split in result.get("cost", {}):
        values = _values(result, metric, split)
        if values is None:
            continue
        name = SPLIT_NAMES.get(split, split)
        fig["data"].append({
            "type": "scatter", "x": alpha, "y": values, "name": name, "meta": split,
            "mode": "lines+markers" if len(alpha) <= 80 else "lines",
            "line": {"color": SPLIT_COLORS.get(split), "width": 2, "dash": SPLIT_DASH.get(split, "solid")},
            "marker": {"size": 4},
            "hovertemplate": f"{'J' if metric == 'cost' else 'error'} = %{{y:.6g}}<extra>{name}</extra>"})
    if not fig["data"]:
        return message_figure(f"this model has no {METRIC_LABELS[metric]} (a regression objective): "
                              "choose metric = cost", title)
    lo, hi = window or (min(alpha), max(alpha))
    _mark_endpoints(fig, names, lo, hi)
    layout = fig["layout"]
    layout["xaxis"].update(range=[lo, hi], hoverformat=".6g")
    # zooming is along α only: the y axis follows the data of the recomputed window
    layout["yaxis"]["fixedrange"] = True
    layout["dragmode"] = "zoom"
    return fig


def compare_figure(lines: list[tuple[str, dict]], *, metric: str = "cost", log_y: bool = True,
                   title: str = "") -> dict:
    """The init→final lines of several runs on one axis (Fig. 3): colour per run, dash per split."""
    fig = _base(title, "α   (θ = (1−α)·θᵢ + α·θ_f)", METRIC_LABELS[metric], log_y, height=520)
    fig["layout"].update(hovermode="closest",
                         legend={"orientation": "v", "yanchor": "top", "y": 1.0, "xanchor": "left", "x": 1.02})
    missing = []
    for i, (label, result) in enumerate(lines):
        color = RUN_COLORS[i % len(RUN_COLORS)]
        shown = False
        for split in result.get("cost", {}):
            values = _values(result, metric, split)
            if values is None:
                continue
            shown = True
            fig["data"].append({
                "type": "scatter", "x": result["alpha"], "y": values, "mode": "lines", "meta": split,
                "name": f"{label} · {SPLIT_NAMES.get(split, split)}", "legendgroup": label,
                "line": {"color": color, "width": 2, "dash": SPLIT_DASH.get(split, "solid")},
                "hovertemplate": f"<b>{label}</b> {SPLIT_NAMES.get(split, split)}<br>α = %{{x:.4g}}<br>"
                                 f"{METRIC_LABELS[metric]} = %{{y:.6g}}<extra></extra>"})
        if not shown:
            missing.append(label)
    if lines:
        alphas = [a for _, r in lines for a in r["alpha"]]
        _mark_endpoints(fig, ("θᵢ", "θ_f"), min(alphas), max(alphas))
    if missing:
        fig["layout"]["annotations"].append({
            "text": f"no {METRIC_LABELS[metric]} for: {', '.join(missing)}", "x": 0, "y": -0.16, "xref": "paper",
            "yref": "paper", "showarrow": False, "xanchor": "left", "font": {"color": "#888"}})
    return fig


def learning_curve_figure(traj: dict, *, metric: str = "cost", log_y: bool = False, title: str = "") -> dict:
    """The exact cost of each recorded θ(t) over training time (Fig. 1 right)."""
    fig = _base(title, "epoch", METRIC_LABELS[metric], log_y, height=400)
    fig["layout"]["hovermode"] = "closest"
    for split, values in (traj.get(metric) or {}).items():
        name = SPLIT_NAMES.get(split, split)
        fig["data"].append({
            "type": "scatter", "x": traj["epoch"], "y": values, "name": name, "mode": "lines+markers", "meta": split,
            "line": {"color": SPLIT_COLORS.get(split), "width": 2, "dash": SPLIT_DASH.get(split, "solid")},
            "marker": {"size": 5}, "customdata": traj["step"],
            "hovertemplate": "step %{customdata}, epoch %{x:.3g}<br>%{y:.6g}" + f"<extra>{name}</extra>"})
    if not fig["data"]:
        return message_figure(f"this run recorded no {METRIC_LABELS[metric]}", title, height=400)
    final_epoch = traj["epoch"][traj["step"].index(traj["final_step"])]
    vline(fig, final_epoch, "θ_f (early stopping)", "left")
    return fig


def alpha_beta_figure(traj: dict, title: str = "") -> dict:
    """α(t) against β(t) (appendix B, Fig. 13): how far SGD strays from the straight line.

    Both in parameter-space distance, so the picture has the true aspect; the hover gives
    α normalised by ‖θ_f − θᵢ‖ and the ratio β(t)/‖θ(t)‖.
    """
    fig = _base(title, "α(t) = (θ(t) − θᵢ)ᵀu", "β(t) = ‖θ(t) − θᵢ − α(t)u‖", height=400)
    fig["layout"].update(hovermode="closest", showlegend=True,
                         legend={"orientation": "h", "yanchor": "top", "y": -0.2, "xanchor": "left", "x": 0.0})
    fig["layout"]["margin"]["b"] = 90
    custom = [[s, e, a, r] for s, e, a, r in zip(traj["step"], traj["epoch"], traj["alpha"], traj["residual_ratio"])]
    fig["data"].append({"type": "scatter", "x": [0.0, traj["distance"]], "y": [0.0, 0.0], "mode": "lines",
                        "name": "straight line θᵢ→θ_f", "line": {"color": "#999", "dash": "dot"}, "hoverinfo": "skip"})
    fig["data"].append({
        "type": "scatter", "x": traj["alpha_distance"], "y": traj["beta"], "mode": "lines+markers",
        "name": "SGD trajectory", "customdata": custom, "line": {"color": "#1f6fb4", "width": 2},
        "marker": {"size": 7, "color": traj["epoch"], "colorscale": "Viridis", "showscale": True,
                   "colorbar": {"title": {"text": "epoch"}, "thickness": 12, "len": 0.8}},
        "hovertemplate": "step %{customdata[0]} (epoch %{customdata[1]:.3g})<br>α = %{x:.4g} "
                         "(%{customdata[2]:.3f} of ‖θ_f−θᵢ‖)<br>β = %{y:.4g}<br>β/‖θ‖ = %{customdata[3]:.4f}"
                         "<extra></extra>"})
    return fig


def ratio_figure(traj: dict, title: str = "") -> dict:
    """β(t)/‖θ(t)‖ over training time (Fig. 13 right): the residual as a share of the weights."""
    fig = _base(title, "epoch", "β(t) / ‖θ(t)‖", height=400)
    fig["layout"].update(hovermode="closest", showlegend=False)
    fig["data"].append({
        "type": "scatter", "x": traj["epoch"], "y": traj["residual_ratio"], "mode": "lines+markers", "name": "β/‖θ‖",
        "customdata": traj["step"], "line": {"color": "#8e44ad", "width": 2}, "marker": {"size": 5},
        "hovertemplate": "step %{customdata}, epoch %{x:.3g}<br>β/‖θ‖ = %{y:.4f}<extra></extra>"})
    return fig
