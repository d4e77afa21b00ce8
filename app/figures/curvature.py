"""Curvature figures of a `HessianResult` (compute/kinds/hessian.py), and the sharpness panel of a line
(`LineResult` with `sharpness`): pure functions of the result objects.

The density is drawn on a symmetric-log axis (Plotly has none: x is u = sign(λ) log10(1 + |λ|/c),
c the result's `linthresh`, and the ticks are labelled in λ), where it was broadened, so the bulk
near 0 and the outliers far out are both visible; the top eigenvalues are marked on it.
"""

from __future__ import annotations

import math

from compute.kinds.hessian import HessianResult
from compute.kinds.line_result import LineResult

from ..labels import SPLIT_NAMES
from .style import NOTE_CHARACTERS, SPLIT_COLORS, axis, base, decade_ticks, message_figure, note, wrap


def _u(x: float, c: float) -> float:
    return math.copysign(math.log10(1.0 + abs(x) / c), x)


def _ticks(lo: float, hi: float, c: float) -> tuple[list[float], list[str]]:
    """Tick positions on the u axis at 0 and at ±1, ±10, ±100 … × the first power of ten not under c
    (the power under c lies within 0.1 of 0 on the u axis: its labels ran into 0's)."""
    base10 = 10.0 ** math.ceil(math.log10(c)) if c > 0 else 1.0
    values, k = [0.0], 0
    while k < 40:
        v = base10 * 10.0 ** k
        inside = False
        for x in (v, -v):
            if lo <= _u(x, c) <= hi:
                values.append(x)
                inside = True
        if not inside and _u(v, c) > max(abs(lo), abs(hi)):
            break
        k += 1
    values.sort()
    return [_u(v, c) for v in values], [f"{v:.3g}" for v in values]


def density_figure(result: HessianResult, title: str = "") -> dict:
    """The spectral density of each split on a symmetric-log λ axis, the top eigenvalues marked,
    the trace ± its standard error in the legend."""
    splits = result.splits
    dens = {s: r["density"] for s, r in splits.items() if r.get("density")}
    fig = base(title, "Hessian eigenvalue λ (symmetric-log axis)", "spectral density (per unit of the axis)",
               height=420)
    if not dens:
        return _eigenvalues_only(result, title)
    c = next(iter(dens.values()))["broadening"]["linthresh"]
    lo = min(min(_u(g, c) for g in d["grid"]) for d in dens.values())
    hi = max(max(_u(g, c) for g in d["grid"]) for d in dens.values())
    for s, d in dens.items():
        trace = splits[s].get("trace")
        extra = f", tr H = {trace['value']:.4g} ± {trace['standard_error']:.2g}" if trace else ""
        u = [_u(g, d["broadening"]["linthresh"]) for g in d["grid"]]
        fig["data"].append({"type": "scatter", "x": u, "y": d["density"], "mode": "lines",
                            "name": f"{SPLIT_NAMES.get(s, s)}{extra}", "customdata": d["grid"],
                            "line": {"color": SPLIT_COLORS.get(s), "width": 2},
                            "hovertemplate": "λ = %{customdata:.4g}<br>density %{y:.3g}<extra></extra>"})
        for i, v in enumerate(((splits[s].get("eigen") or {}).get("top") or {}).get("values") or []):
            if v is None:
                continue
            fig["layout"]["shapes"].append({"type": "line", "xref": "x", "yref": "paper", "x0": _u(v, c),
                                            "x1": _u(v, c), "y0": 0, "y1": 1,
                                            "line": {"color": SPLIT_COLORS.get(s, "#555"), "width": 1,
                                                     "dash": "dot"}})
            # a label a line under the previous one, in px: close eigenvalues' labels overlapped
            fig["layout"]["annotations"].append({"text": f"λ{i + 1} = {v:.4g}", "x": _u(v, c), "y": 1,
                                                 "yshift": -16 * i,
                                                 "xref": "x", "yref": "paper", "showarrow": False,
                                                 "xanchor": "right", "yanchor": "top", "font": {"size": 11}})
    tickvals, ticktext = _ticks(lo, hi, c)
    fig["layout"]["xaxis"].update(tickvals=tickvals, ticktext=ticktext, range=[lo, hi])
    first = next(iter(dens.values()))
    fig["layout"]["xaxis"]["title"] = {"text": f"Hessian eigenvalue λ (symmetric-log axis, linear within ±{c:.2g})"}
    # how the density was found goes into the note under the plot, with the view's summary: a second
    # line of the axis title ran into that note
    note(fig, wrap(f"density: stochastic Lanczos quadrature, {first['probes']} probes × {first['steps']} steps, "
                   f"Gaussian broadening σ = {first['broadening']['sigma']:g} on the axis", NOTE_CHARACTERS))
    return fig


def _eigenvalues_only(result: HessianResult, title: str) -> dict:
    """Without a density: the eigenvalues found, per split, as a bar chart."""
    fig = base(title, "eigenvalue", "λ", height=420)
    for s, r in result.splits.items():
        eigen = r.get("eigen") or {}
        values = (eigen.get("top") or {}).get("values", []) + (eigen.get("bottom") or {}).get("values", [])
        names = [f"λ{i + 1}" for i in range(len((eigen.get("top") or {}).get("values", [])))]
        names += [f"λ_min{'' if i == 0 else i + 1}" for i in range(len((eigen.get("bottom") or {}).get("values", [])))]
        fig["data"].append({"type": "bar", "x": names, "y": values, "name": SPLIT_NAMES.get(s, s),
                            "marker": {"color": SPLIT_COLORS.get(s)}})
    if not fig["data"] or not any(t["y"] for t in fig["data"]):
        return message_figure("no eigenvalues or density asked for", title, height=420)
    fig["layout"]["xaxis"]["type"] = "category"
    fig["layout"]["hovermode"] = "closest"
    return fig


def convergence_figure(result: HessianResult, title: str = "") -> dict:
    """The Lanczos run: each wanted Ritz value against the iteration, and (dotted, right axis, log)
    the largest relative error bound."""
    fig = base(title, "Lanczos iteration (Hessian-vector products)", "Ritz value", height=360)
    for s, r in result.splits.items():
        eigen = r.get("eigen")
        if not eigen:
            continue
        history = eigen["history"]
        its = [h["iteration"] for h in history]
        width = max((len(h["top"]) for h in history), default=0)
        name = SPLIT_NAMES.get(s, s)
        # one legend entry for a split's Ritz values (λ1 the thick line): an entry each made two rows
        # of legend at 1400 px, over the title
        for i in range(width):
            fig["data"].append({"type": "scatter", "x": its, "y": [h["top"][i] if i < len(h["top"]) else None
                                                                     for h in history],
                                "mode": "lines", "name": f"{name} λ1" + (f"…λ{width}" if width > 1 else ""),
                                "legendgroup": s, "showlegend": i == 0,
                                "hovertemplate": f"{name} λ{i + 1} = %{{y:.5g}}<extra></extra>",
                                "line": {"color": SPLIT_COLORS.get(s), "width": 2 if i == 0 else 1}})
        fig["data"].append({"type": "scatter", "x": its, "y": [h["bound"] for h in history], "yaxis": "y2",
                            "mode": "lines", "name": f"{name} error bound",  # relative: the axis says so
                            "line": {"color": SPLIT_COLORS.get(s), "dash": "dot", "width": 1}})
    if not fig["data"]:
        return message_figure("no Lanczos run: eigenvalues were not asked for", title, height=360)
    # the house axis (powers of ten, room for its labels), a tick a decade: Plotly's own ticks of a
    # log axis read "2 4 7" and a lone "0.00115809" over the axis title
    fig["layout"]["yaxis2"] = axis("relative error bound", log=True, overlaying="y", side="right", showgrid=False,
                                   mirror=False)
    decade_ticks(fig, ("2",))
    if sum(1 for t in fig["data"] if t.get("showlegend", True)) > 2:  # two rows of legend at 1024 px
        fig["layout"]["margin"]["t"] += 20
    return fig


def with_sharpness(fig: dict, result: LineResult) -> dict:
    """A panel at the bottom of a line's figure: lambda_max of the Hessian at the points of the line
    where it was computed (the line's `sharpness`), per split. Under a derivatives panel when there
    is one."""
    sharp = result.sharpness or {}
    if not sharp:
        return fig
    layout, alpha = fig["layout"], result.alpha
    if "yaxis2" in layout:  # the derivatives panel: curve, derivatives, sharpness
        layout["yaxis"]["domain"], layout["yaxis2"]["domain"] = [0.58, 1.0], [0.30, 0.44]
        layout["legend2"]["y"] = 0.45
    else:
        layout["yaxis"]["domain"] = [0.34, 1.0]
    layout["yaxis3"] = axis("λ_max", domain=[0.0, 0.2], anchor="x", fixedrange=True)
    layout["xaxis"]["anchor"] = "y3"
    for split, values in sharp.items():
        name = SPLIT_NAMES.get(split, split)
        fig["data"].append({"type": "scatter", "x": alpha, "y": values, "yaxis": "y3", "mode": "lines+markers",
                            "connectgaps": True, "name": f"λ_max {name}", "meta": f"{split}-sharpness",
                            "marker": {"size": 4}, "showlegend": False,
                            "line": {"color": SPLIT_COLORS.get(split), "width": 1.5},
                            "hovertemplate": f"λ_max = %{{y:.5g}}<extra>{name}</extra>"})
    return fig
