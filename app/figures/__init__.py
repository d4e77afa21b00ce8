"""Plotly figures from results' JSON: pure functions, no I/O, no tensor math, the one place a
figure is built: the page (app/views/*), the CLI's `--plot FILE` (app/figures/export.py) and the
tests draw with these same builders.

Inputs are the dicts that compute's results write (`LineResult.to_json()`,
`TrajectoryResult.to_json()`, `SurfaceResult.to_json()`, `ControlResult.to_json()`): what the
cache holds is exactly what is drawn. The look is in app/figures/style.py; the line-family
figures are here, the surfaces in app/figures/surface.py, the control experiments in
app/figures/controls.py.
"""

from __future__ import annotations

from .controls import CONTROL_FIGURES, controls_figure
from .style import (FONT, METRIC_LABELS, RUN_COLORS, SPLIT_COLORS, SPLIT_DASH, SPLIT_NAMES, THETA_F, THETA_I,
                    banner, base, message_figure, note, shade, vline)
from .surface import DEFAULT_CAMERA, surface_figure

__all__ = ["CONTROL_FIGURES", "DEFAULT_CAMERA", "FONT", "METRIC_LABELS", "RUN_COLORS", "SPLIT_COLORS", "SPLIT_DASH",
           "SPLIT_NAMES", "THETA_F", "THETA_I", "alpha_beta_figure", "banner", "compare_figure", "controls_figure",
           "learning_curve_figure", "line_figure", "message_figure", "note", "ratio_figure", "shade",
           "surface_figure", "vline"]


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
    fig = base(title, "α   (θ = (1−α)·θ₀ + α·θ₁)", METRIC_LABELS[metric], log_y)
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
                   title: str = "", groups: dict[str, str] | None = None) -> dict:
    """The init→final lines of several runs (Fig. 3): colour per run, dash per split. `groups`
    ({label: group}) puts lines whose costs are on different scales (a cross-entropy, a squared
    error) in panels side by side, each with its own y axis, the group named above it."""
    fig = base(title, "α   (θ = (1−α)·θᵢ + α·θ_f)", METRIC_LABELS[metric], log_y, height=520)
    layout = fig["layout"]
    layout.update(hovermode="closest",
                  legend={"orientation": "v", "yanchor": "top", "y": 1.0, "xanchor": "left", "x": 1.02})
    group_of = {label: (groups or {}).get(label, "") for label, _ in lines}
    names = list(dict.fromkeys(group_of.values()))  # in the order of the lines
    panels = {g: "" if i == 0 else str(i + 1) for i, g in enumerate(names)}
    if len(panels) > 1:
        gap = 0.1
        width = (1 - gap * (len(panels) - 1)) / len(panels)
        for i, (group, n) in enumerate(panels.items()):
            lo = i * (width + gap)
            x, y = layout["xaxis"], layout["yaxis"]
            layout[f"xaxis{n}"] = dict(x, domain=[lo, lo + width], anchor=f"y{n}")
            layout[f"yaxis{n}"] = dict(y, anchor=f"x{n}", title={"text": METRIC_LABELS[metric] if i == 0 else ""})
            layout["annotations"].append({"text": f"<b>{group}</b>", "x": lo + width / 2, "y": 1.0,
                                          "xref": "paper", "yref": "paper", "yanchor": "bottom",
                                          "xanchor": "center", "showarrow": False, "font": {"size": 13}})
        layout["margin"]["t"] += 22
    missing = []
    for i, (label, result) in enumerate(lines):
        color = RUN_COLORS[i % len(RUN_COLORS)]
        n = panels[group_of[label]]
        shown = False
        for split in result.get("cost", {}):
            values = _values(result, metric, split)
            if values is None:
                continue
            shown = True
            fig["data"].append({
                "type": "scatter", "x": result["alpha"], "y": values, "mode": "lines", "meta": split,
                "xaxis": f"x{n}", "yaxis": f"y{n}",
                "name": f"{label} · {SPLIT_NAMES.get(split, split)}", "legendgroup": label,
                "line": {"color": color, "width": 2, "dash": SPLIT_DASH.get(split, "solid")},
                "hovertemplate": f"<b>{label}</b> {SPLIT_NAMES.get(split, split)}<br>α = %{{x:.4g}}<br>"
                                 f"{METRIC_LABELS[metric]} = %{{y:.6g}}<extra></extra>"})
        if not shown:
            missing.append(label)
    if lines and len(panels) == 1:
        alphas = [a for _, r in lines for a in r["alpha"]]
        _mark_endpoints(fig, ("θᵢ", "θ_f"), min(alphas), max(alphas))
    if missing:
        note(fig, f"no {METRIC_LABELS[metric]} for: {', '.join(missing)}")
    return fig


def learning_curve_figure(traj: dict, *, metric: str = "cost", log_y: bool = False, title: str = "") -> dict:
    """The exact cost of each recorded θ(t) over training time (Fig. 1 right)."""
    fig = base(title, "epoch", METRIC_LABELS[metric], log_y, height=400)
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
    vline(fig, final_epoch, "θ_f (early stopping)", "left", y=1.0, yanchor="top")
    return fig


def alpha_beta_figure(traj: dict, title: str = "") -> dict:
    """α(t) against β(t) (appendix B, Fig. 13): how far SGD strays from the straight line.

    Both in parameter-space distance, so the picture has the true aspect; the hover gives
    α normalised by ‖θ_f − θᵢ‖ and the ratio β(t)/‖θ(t)‖.
    """
    fig = base(title, "α(t) = (θ(t) − θᵢ)ᵀu", "β(t) = ‖θ(t) − θᵢ − α(t)u‖", height=400)
    fig["layout"].update(hovermode="closest", showlegend=True)
    custom = [[s, e, a, r] for s, e, a, r in zip(traj["step"], traj["epoch"], traj["alpha"], traj["residual_ratio"])]
    fig["data"].append({"type": "scatter", "x": [0.0, traj["distance"]], "y": [0.0, 0.0], "mode": "lines",
                        "name": f"straight line θᵢ→{THETA_F}", "line": {"color": "#999", "dash": "dot"}, "hoverinfo": "skip"})
    fig["data"].append({
        "type": "scatter", "x": traj["alpha_distance"], "y": traj["beta"], "mode": "lines+markers",
        "name": "SGD trajectory", "customdata": custom, "line": {"color": "#1f6fb4", "width": 2},
        "marker": {"size": 7, "color": traj["epoch"], "colorscale": "Viridis", "showscale": True,
                   "colorbar": {"title": {"text": "epoch"}, "thickness": 12, "len": 0.8}},
        "hovertemplate": "step %{customdata[0]} (epoch %{customdata[1]:.3g})<br>α = %{x:.4g} "
                         f"(%{{customdata[2]:.3f}} of ‖{THETA_F}−θᵢ‖)<br>β = %{{y:.4g}}<br>β/‖θ‖ = %{{customdata[3]:.4f}}"
                         "<extra></extra>"})
    return fig


def ratio_figure(traj: dict, title: str = "") -> dict:
    """β(t)/‖θ(t)‖ over training time (Fig. 13 right): the residual as a share of the weights."""
    fig = base(title, "epoch", "β(t) / ‖θ(t)‖", height=400)
    fig["layout"].update(hovermode="closest", showlegend=False)
    fig["data"].append({
        "type": "scatter", "x": traj["epoch"], "y": traj["residual_ratio"], "mode": "lines+markers", "name": "β/‖θ‖",
        "customdata": traj["step"], "line": {"color": "#8e44ad", "width": 2}, "marker": {"size": 5},
        "hovertemplate": "step %{customdata}, epoch %{x:.3g}<br>β/‖θ‖ = %{y:.4f}<extra></extra>"})
    return fig
