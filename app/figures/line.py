"""The line-family figures: a line J((1-α)θ₀ + αθ₁) with its derivatives and aligned twin, the
metrics table under it, the compare view's lines of several runs (Fig. 3), and a run's learning
curve and α(t)-β(t) plots (Figs 1 right, 13). Inputs are result objects (`LineResult`,
`TrajectoryResult`), read from a job's JSON once by the view that draws them.
"""

from __future__ import annotations

import math

from compute.kinds.line_result import LineResult
from compute.kinds.trajectory import TrajectoryResult

from ..labels import METRIC_LABELS, SPLIT_NAMES, THETA_F
from .style import RUN_COLORS, SPLIT_COLORS, SPLIT_DASH, axis, base, decade_ticks, message_figure, note, vline


def _values(result: LineResult, metric: str, split: str) -> list | None:
    return (getattr(result, metric) or {}).get(split)


def _mark_endpoints(fig: dict, names: tuple[str, str], lo: float, hi: float) -> None:
    for alpha, name, side in ((0.0, names[0], "right"), (1.0, names[1], "left")):
        if lo <= alpha <= hi:
            vline(fig, alpha, name, side)


def line_figure(result: LineResult, *, metric: str = "cost", log_y: bool = False, title: str = "",
                names: tuple[str, str] = ("θ₀", "θ₁"), window: tuple[float, float] | None = None) -> dict:
    """J((1-α)θ₀ + αθ₁) against α, one trace per split (Figs 1, 2, 4, 5). `window` fixes the
    α axis (a zoom)."""
    alpha = result.alpha
    fig = base(title, "α   (θ = (1−α)·θ₀ + α·θ₁)", METRIC_LABELS[metric], log_y)
    for split in result.cost:
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


def compare_figure(lines: list[tuple[str, LineResult]], *, metric: str = "cost", log_y: bool = True,
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
            # one α title, under the first panel: the same for all (it was repeated under each)
            layout[f"xaxis{n}"] = dict(x, domain=[lo, lo + width], anchor=f"y{n}",
                                       title=x["title"] if i == 0 else {"text": ""})
            layout[f"yaxis{n}"] = dict(y, anchor=f"x{n}", title={"text": METRIC_LABELS[metric] if i == 0 else ""})
            layout["annotations"].append({"text": f"<b>{group}</b>", "x": lo + width / 2, "y": 1.0,
                                          "xref": "paper", "yref": "paper", "yanchor": "bottom",
                                          "xanchor": "center", "showarrow": False, "font": {"size": 13}})
        layout["margin"]["t"] += 22
        # the legend under the panels, not in a column beside them: the panels keep the width
        layout["legend"] = {"orientation": "h", "yanchor": "top", "y": -0.24, "xanchor": "left", "x": 0.0}
        layout["margin"]["b"] = max(layout["margin"].get("b", 0), 150)
    missing = []
    for i, (label, result) in enumerate(lines):
        color = RUN_COLORS[i % len(RUN_COLORS)]
        n = panels[group_of[label]]
        shown = False
        for split in result.cost:
            values = _values(result, metric, split)
            if values is None:
                continue
            shown = True
            fig["data"].append({
                "type": "scatter", "x": result.alpha, "y": values, "mode": "lines", "meta": split,
                "xaxis": f"x{n}", "yaxis": f"y{n}",
                "name": f"{label} · {SPLIT_NAMES.get(split, split)}", "legendgroup": label,
                "line": {"color": color, "width": 2, "dash": SPLIT_DASH.get(split, "solid")},
                "hovertemplate": f"<b>{label}</b> {SPLIT_NAMES.get(split, split)}<br>α = %{{x:.4g}}<br>"
                                 f"{METRIC_LABELS[metric]} = %{{y:.6g}}<extra></extra>"})
        if not shown:
            missing.append(label)
    if log_y:
        decade_ticks(fig, panels.values())
    if lines and len(panels) == 1:
        alphas = [a for _, r in lines for a in r.alpha]
        _mark_endpoints(fig, ("θᵢ", "θ_f"), min(alphas), max(alphas))
    if missing:
        note(fig, f"no {METRIC_LABELS[metric]} for: {', '.join(missing)}")
    return fig


def learning_curve_figure(traj: TrajectoryResult, *, metric: str = "cost", log_y: bool = False, title: str = "") -> dict:
    """The exact cost of each recorded θ(t) over training time (Fig. 1 right)."""
    fig = base(title, "epoch (one pass over the training set)",
               METRIC_LABELS[metric], log_y, height=400)
    fig["layout"]["hovermode"] = "closest"
    for split, values in (getattr(traj, metric) or {}).items():
        name = SPLIT_NAMES.get(split, split)
        fig["data"].append({
            "type": "scatter", "x": traj.epoch, "y": values, "name": name, "mode": "lines+markers", "meta": split,
            "line": {"color": SPLIT_COLORS.get(split), "width": 2, "dash": SPLIT_DASH.get(split, "solid")},
            "marker": {"size": 5}, "customdata": traj.step,
            "hovertemplate": "step %{customdata}, epoch %{x:.3g}<br>%{y:.6g}" + f"<extra>{name}</extra>"})
    if not fig["data"]:
        return message_figure(f"this run recorded no {METRIC_LABELS[metric]}", title, height=400)
    final_epoch = traj.epoch[traj.step.index(traj.final_step)]
    vline(fig, final_epoch, "θ_f (early stopping)", "left", y=1.0, yanchor="top")
    return fig


def alpha_beta_figure(traj: TrajectoryResult, title: str = "") -> dict:
    """α(t) against β(t) (appendix B, Fig. 13): how far SGD strays from the straight line.

    Both in parameter-space distance, so the picture has the true aspect; the hover gives
    α normalised by ‖θ_f − θᵢ‖ and the ratio β(t)/‖θ(t)‖.
    """
    # here α is a distance (0 to ‖θ_f − θᵢ‖), not the fraction of the Line and Surface views: say so
    fig = base(title, "α(t) = (θ(t) − θᵢ)ᵀu, a distance", "β(t) = ‖θ(t) − θᵢ − α(t)u‖", height=400)
    fig["layout"].update(hovermode="closest", showlegend=True)
    custom = [[s, e, a, r] for s, e, a, r in zip(traj.step, traj.epoch, traj.alpha, traj.residual_ratio)]
    fig["data"].append({"type": "scatter", "x": [0.0, traj.distance], "y": [0.0, 0.0], "mode": "lines",
                        "name": f"straight line θᵢ→{THETA_F}", "line": {"color": "#999", "dash": "dot"}, "hoverinfo": "skip"})
    fig["data"].append({
        "type": "scatter", "x": traj.alpha_distance, "y": traj.beta, "mode": "lines+markers",
        "name": "SGD trajectory", "customdata": custom, "line": {"color": "#1f6fb4", "width": 2},
        "marker": {"size": 7, "color": traj.epoch, "colorscale": "Viridis", "showscale": True,
                   "colorbar": {"title": {"text": "epoch"}, "thickness": 12, "len": 0.8}},
        "hovertemplate": "step %{customdata[0]} (epoch %{customdata[1]:.3g})<br>α = %{x:.4g} "
                         f"(%{{customdata[2]:.3f}} of ‖{THETA_F}−θᵢ‖)<br>β = %{{y:.4g}}<br>β/‖θ‖ = %{{customdata[3]:.4f}}"
                         "<extra></extra>"})
    return fig


def ratio_figure(traj: TrajectoryResult, title: str = "") -> dict:
    """β(t)/‖θ(t)‖ over training time (Fig. 13 right): the residual as a share of the weights."""
    fig = base(title, "epoch", "β(t) / ‖θ(t)‖", height=400)
    fig["layout"].update(hovermode="closest", showlegend=False)
    fig["data"].append({
        "type": "scatter", "x": traj.epoch, "y": traj.residual_ratio, "mode": "lines+markers", "name": "β/‖θ‖",
        "customdata": traj.step, "line": {"color": "#8e44ad", "width": 2}, "marker": {"size": 5},
        "hovertemplate": "step %{customdata}, epoch %{x:.3g}<br>β/‖θ‖ = %{y:.4f}<extra></extra>"})
    return fig


# --- line metrics, derivatives along the line, aligned endpoints ------------------------------------
def _fmt(v, digits: int = 4) -> str:
    return "–" if v is None else f"{v:.{digits}g}"


def metrics_rows(metrics: dict) -> list[tuple[str, str, str, str, str, str]]:
    """One row per split of a line's metrics (compute/metrics.py): split, monotone / max rise,
    barrier (at α), local minima, initial vs mean slope."""
    rows = []
    for split, m in metrics.items():
        rise = m.get("max_rise")
        mono = "–" if m.get("monotone") is None else ("yes" if m["monotone"] else "no")
        if rise is not None and rise.get("rise"):
            mono += f" (rise {_fmt(rise['rise'])} over α {_fmt(rise['from_alpha'], 3)}→{_fmt(rise['to_alpha'], 3)})"
        barrier = m.get("barrier")
        barrier_text = "–" if barrier is None else f"{_fmt(barrier['height'])} at α = {_fmt(barrier['alpha'], 3)}"
        minima = ", ".join(f"α {_fmt(x['alpha'], 3)} (J {_fmt(x['cost'])})" for x in m.get("minima", [])[:4]) or "none"
        slope = m.get("initial_slope")
        slope_text = "–" if slope is None else (f"{_fmt(slope['slope'])} vs mean {_fmt(slope['mean_slope'])}"
                                                f" ({slope['method']})")
        rows.append((SPLIT_NAMES.get(split, split), mono, barrier_text, minima, slope_text,
                     f"α {_fmt(m.get('argmin_alpha'), 3)}"))
    return rows


METRIC_COLUMNS = ("split", "monotone on [0, 1]", "barrier", "local minima", "initial slope dJ/dα", "global minimum")


TABLE_TOP, TABLE_ROW, TABLE_BOTTOM = 40, 44, 10  # px: a row holds two lines of 12 px text (a wrapped cell)


TABLE_WIDTHS = (1.2, 2, 1.6, 2.4, 2.4, 1.2)  # the columns' shares of the table's width
TABLE_CHARACTERS = 100  # 12 px characters across the narrowest table (a 1024-wide window)
LINE_PX = 17


def _row_height(row: tuple) -> int:
    """A row's height: as many lines as its most wrapped cell takes in the narrowest table."""
    total = sum(TABLE_WIDTHS)
    lines = max(math.ceil(len(str(text)) / max(1, int(TABLE_CHARACTERS * w / total) - 2))
                for text, w in zip(row, TABLE_WIDTHS))
    return max(TABLE_ROW, LINE_PX * lines + 10)


def metrics_table(named: list[tuple[str, dict]], title: str = "Line metrics") -> dict:
    """A table figure of the metrics of one or more lines ((label, metrics) pairs)."""
    rows = [(f"{label}: {r[0]}" if label else r[0],) + r[1:] for label, metrics in named for r in metrics_rows(metrics)]
    # sized to its rows: header and cells of one line each (the widest texts are kept short), the
    # title above; the graph takes the figure's height (app/views/line.py)
    # (+ 6 px: the last row's bottom line sat on the plot area's edge and was cut)
    cell = max(_row_height(r) for r in rows or [("",) * len(METRIC_COLUMNS)])  # Plotly: one height for all rows
    fig = base(title, "", "", height=TABLE_TOP + TABLE_ROW + cell * max(1, len(rows)) + 6 + TABLE_BOTTOM)
    fig["layout"].update(xaxis={"visible": False}, yaxis={"visible": False}, hovermode=False, showlegend=False,
                         margin={"l": 10, "r": 10, "t": TABLE_TOP, "b": TABLE_BOTTOM})
    columns = list(zip(*rows)) if rows else [[] for _ in METRIC_COLUMNS]
    fig["data"].append({"type": "table", "columnwidth": list(TABLE_WIDTHS),
                        "header": {"values": list(METRIC_COLUMNS), "align": "left", "fill": {"color": "#f3f5f8"},
                                   "font": {"size": 12}, "height": TABLE_ROW},
                        "cells": {"values": [list(c) for c in columns], "align": "left",
                                  "height": cell,
                                  "font": {"size": 12}}})
    return fig


def with_derivatives(fig: dict, result: LineResult) -> dict:
    """A second panel under the curve: dJ/dα and d²J/dα² of each split, the α where d²J/dα² < 0
    (of the first split) shaded in both panels. The panel has a legend of its own, in the gap
    above it: added to the curve's legend, its entries wrapped into rows that covered the title."""
    dcost, d2cost = result.dcost or {}, result.d2cost or {}
    if not dcost:
        return fig
    layout, alpha = fig["layout"], result.alpha
    layout["yaxis"]["domain"] = [0.46, 1.0]  # the gap holds two rows of the panel's legend
    # each derivative on its own axis (one shared axis flattened dJ/dα next to d²J/dα²): dJ/dα on the
    # left (solid), d²J/dα² on the right (dotted), each split in its colour of the cost panel
    layout["yaxis2"] = axis("dJ/dα (solid)", domain=[0.0, 0.28], anchor="x", fixedrange=True)
    layout["yaxis3"] = axis("d²J/dα² (dotted)", overlaying="y2", side="right", anchor="x", fixedrange=True,
                            mirror=False, showgrid=False)
    layout["margin"]["r"] = max(layout["margin"].get("r", 0), 70)
    layout["xaxis"]["anchor"] = "y2"
    layout["legend2"] = dict(layout.get("legend") or {}, orientation="h", x=0.0, xanchor="left", y=0.29,
                             yanchor="bottom", yref="paper")
    for split in dcost:
        name = SPLIT_NAMES.get(split, split)
        for values, label, dash, yaxis in ((dcost[split], "dJ/dα", "solid", "y2"),
                                           (d2cost.get(split), "d²J/dα²", "dot", "y3")):
            if values is not None:
                fig["data"].append({"type": "scatter", "x": alpha, "y": values, "yaxis": yaxis, "mode": "lines",
                                    "name": f"{label} {name}", "meta": f"{split}-{label}", "legend": "legend2",
                                    "line": {"color": SPLIT_COLORS.get(split), "width": 1.5, "dash": dash},
                                    "hovertemplate": f"{label} = %{{y:.6g}}<extra>{name}</extra>"})
    first = next(iter(d2cost.values()), None) or []
    for lo, hi in _negative_runs(alpha, first):
        layout["shapes"].append({"type": "rect", "xref": "x", "yref": "paper", "x0": lo, "x1": hi, "y0": 0, "y1": 1,
                                 "fillcolor": "#8e44ad", "opacity": 0.10, "line": {"width": 0}, "layer": "below",
                                 "name": "negative curvature"})
    if first:  # the shading's legend entry: a square of its colour, no data
        fig["data"].append({"type": "scatter", "x": [None], "y": [None], "yaxis": "y2", "mode": "markers",
                            "name": "shaded: d²J/dα² < 0", "legend": "legend2", "hoverinfo": "skip",
                            "marker": {"symbol": "square", "size": 12, "color": "rgba(142, 68, 173, 0.25)"}})
    return fig


def _negative_runs(alpha: list, values: list) -> list[tuple[float, float]]:
    """The α intervals where values < 0, each from its first sample to its last."""
    runs, start, prev = [], None, None
    for a, v in zip(alpha, values):
        if v is not None and v < 0:
            start = a if start is None else start
            prev = a
        elif start is not None:
            runs.append((start, prev))
            start = None
    if start is not None:
        runs.append((start, prev))
    return runs


def with_aligned(fig: dict, aligned: LineResult, metric: str, barriers: list[str]) -> dict:
    """The aligned line (θ₁'s units matched to θ₀'s) drawn on the same axis, thinner, with the
    barriers of both lines written beside the plot."""
    for split in aligned.cost:
        values = _values(aligned, metric, split)
        if values is None:
            continue
        name = f"{SPLIT_NAMES.get(split, split)}, aligned"
        fig["data"].append({"type": "scatter", "x": aligned.alpha, "y": values, "name": name,
                            "meta": f"{split}-aligned", "mode": "lines",
                            "line": {"color": "#4c9a2a" if split == "train" else "#f0a202", "width": 2,
                                     "dash": SPLIT_DASH.get(split, "solid")},
                            "hovertemplate": f"%{{y:.6g}}<extra>{name}</extra>"})
    fig["layout"]["annotations"].append({
        "text": "<br>".join(barriers), "x": 0.01, "y": 0.98, "xref": "paper", "yref": "paper", "xanchor": "left",
        "yanchor": "top", "showarrow": False, "align": "left", "bgcolor": "rgba(255,255,255,0.85)",
        "bordercolor": "#ccc", "borderpad": 4, "font": {"size": 12}})
    return fig
