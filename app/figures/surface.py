"""The surface figure (appendices C and D, Figs 15-22): a rotatable 3-D surface, a heat map or a
contour plot of a SurfaceResult, with the SGD trajectory on it.

Truthful drawing of the `paper` surface, whose rows are lines along different directions v(t):
  * 3-D: each row is drawn with its own path point merged in (`SurfaceResult.mesh`), so the
    trajectory's points are vertices. Steep sheets between neighbouring rows are the data: rows
    whose directions v(t) differ by a large angle meet different costs at the same β. The hover
    of every vertex gives its row's step, β range and the angle to the previous row's v(t), and
    a note under the plot names the largest turn.
  * Heat map / contour: the rows' own samples on the β grid they share, one cell per (row, β),
    cells as wide as the rows' α spacing; the path points (each at its own β) are the trajectory
    drawn over it. No white gaps: a sample is missing only where J was not finite.
"""

from __future__ import annotations

import math

from compute.kinds.surface.result import SurfaceResult

from ..labels import SPLIT_NAMES, THETA_F
from .style import FONT, NOTE, TRAJECTORY_COLOR, top, wrap

DEFAULT_CAMERA = {"eye": (1.25, 1.25, 1.25), "center": (0.0, 0.0, 0.0), "up": (0.0, 0.0, 1.0)}
# The box's size in the camera's units. Smaller than Plotly's 1 × 1 × 0.75 so that an eye from an
# address at Plotly's own distance (|(1.25, 1.25, 1.25)| = 2.17) sees the whole box with its tick labels
# and axis titles: at 1 × 1 × 0.75 the front corner and the β title fell off the scene's bottom edge.
BOX = {"x": 0.85, "y": 0.85, "z": 0.6375}
# The eye when the address sets no camera: (1.55, 1.55, 1.1) for a 1 × 1 × 0.75 box, scaled with the box,
# so that the default view is the one it was (a perspective view of a scaled box from a scaled eye)
FIT_EYE = (1.3175, 1.3175, 0.935)
HEIGHT = 620
NOTE_CHARACTERS = 84  # a line of the 12 px note that fits the narrowest graph
TURN_NOTE = 30.0  # degrees between neighbouring rows' directions above which the note names the turn


def axis_names(result: SurfaceResult) -> tuple[str, str]:
    kind = result.query["surface"]
    if kind == "paper":
        return f"α  (θᵢ → {THETA_F})", "β  (along v(t))"
    if kind == "alpha-random":
        return f"α  (θᵢ → {THETA_F})", "b  (random ⟂ u)"
    if kind == "hessian":  # the eigenvalues in the axis titles
        lam = (result.meta or {}).get("eigenvalues") or [None, None]
        return tuple(f"{n}  (eigenvector v{i + 1}, λ{i + 1} = {v:.4g})" if v is not None else f"{n}  (v{i + 1})"
                     for i, (n, v) in enumerate(zip("ab", lam)))
    if kind == "pca":  # the share of the trajectory's variance along each direction
        ratio = (result.meta or {}).get("explained_variance_ratio") or [None, None]
        return tuple(f"{n}  (principal direction d{i + 1}, {v:.1%} of the variance)" if v is not None
                     else f"{n}  (d{i + 1})" for i, (n, v) in enumerate(zip("ab", ratio)))
    return "a  (random d₁)", "b  (random d₂)"


def plane_note(result: SurfaceResult, split: str) -> str | None:
    """How much of the trajectory a plane shows, in one sentence: the share of each checkpoint's
    distance to the plane's origin that lies off it, and how far J at the projection is from J(θ(t))
    (None for `paper`, where the trajectory lies on the surface, or a result without the shares)."""
    traj = result.trajectory or {}
    off = [v for v in traj.get("off_plane") or [] if v is not None]
    if result.path is not None or not off:
        return None
    true, plane = traj["cost"].get(split) or [], (traj.get("plane_cost") or {}).get(split) or []
    gaps = [abs(p - j) for p, j in zip(plane, true) if p is not None and j is not None]
    away = sorted(v for v in off if v > 0)  # the plane's origin (a checkpoint) is on it: not counted
    if not away:
        return "The whole trajectory lies in this plane: the drawn path is the real one."
    worst = max(range(len(off)), key=off.__getitem__)
    median = away[len(away) // 2]
    text = (f"Off the plane: {_percent(median)} of a checkpoint's distance to the plane's origin (median), "
            f"up to {_percent(off[worst])} (step {traj['step'][worst]})")
    if gaps:
        text += f"; J at the projection differs from J(θ(t)) by up to {max(gaps):.3g}"
    if median > 0.9:
        text += ". The drawn path is a shadow: the checkpoints lie almost wholly off this plane"
    return text + "."


def _percent(share: float) -> str:
    return f"{100 * share:.3g} %"


def _trajectory_points(result: SurfaceResult, split: str) -> tuple[list, list, list, list, list]:
    """x, y, z, marker sizes and hover data of the trajectory as drawn on the surface.

    paper: through every row's path point (the chord between checkpoints for interpolated rows),
    so the line lies on the surface; markers at the recorded steps. Planes: the projection on
    the plane at the plane's cost there; the true J(θ(t)) and the distance to the plane in the hover."""
    traj = result.trajectory
    if result.path is not None:
        path = result.path
        z = path["cost"][split]
        sizes = [5 if s is not None else 0 for s in path["step"]]
        hover = [[s if s is not None else "(between checkpoints)", a, b, c, c, 0.0]
                 for s, a, b, c in zip(path["step"], result.alpha, path["beta"], z)]
        return result.alpha, path["beta"], z, sizes, hover
    z = traj["plane_cost"][split]
    off = traj.get("off_plane") or [None] * len(z)  # absent from results cached before it was recorded
    hover = [[s, a, b, c, j, r, None if f is None else 100 * f] for s, a, b, c, j, r, f in
             zip(traj["step"], traj["alpha"], traj["beta"], z, traj["cost"][split], traj["residual"], off)]
    return traj["alpha"], traj["beta"], z, [5] * len(z), hover


def _ticks_past_start(lo: float, hi: float) -> list[float]:
    """About five round tick values in (lo, hi]: every one but the start."""
    if not hi > lo:
        return [hi]
    raw = (hi - lo) / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(lo / step) + 1
    return [round(k * step, 12) for k in range(first, math.floor(hi / step + 1e-9) + 1)]


def _row_names(result: SurfaceResult) -> list[str]:
    """Each paper row's step: 't = 36', or 't = 36…60' for a row between two checkpoints."""
    steps = result.path["step"]
    names = []
    for i, s in enumerate(steps):
        if s is not None:
            names.append(f"t = {s}")
            continue
        before = next((t for t in reversed(steps[:i]) if t is not None), "?")
        after = next((t for t in steps[i + 1:] if t is not None), "?")
        names.append(f"t = {before}…{after}")
    return names


def _turns(result: SurfaceResult) -> list[float | None]:
    """Angle in degrees between each paper row's v(t) and the previous row's (None: unknown)."""
    turns = (result.path or {}).get("turn")
    return list(turns) if turns is not None else [None] * len(result.alpha)


def _surface_hover(result: SurfaceResult, rows_b: list) -> tuple[list, str]:
    """customdata per vertex and the hover template of the 3-D surface."""
    kind = result.query["surface"]
    x, y = (n.split()[0] for n in axis_names(result))
    if kind != "paper":
        return None, f"{x} = %{{x:.4g}}<br>{y} = %{{y:.4g}}<br>J = %{{z:.6g}}<extra></extra>"
    names, turns = _row_names(result), _turns(result)
    custom = []
    for name, bs, turn in zip(names, rows_b, turns):
        angle = "—" if turn is None else f"{turn:.0f}°"
        custom.append([[name, f"{min(bs):.3g} … {max(bs):.3g}", angle]] * len(bs))
    return custom, ("row %{customdata[0]}<br>α = %{x:.4g}, β = %{y:.4g}<br>J = %{z:.6g}"
                    "<br>β range of the row: %{customdata[1]}<br>v(t) turns %{customdata[2]} from the previous row"
                    "<extra></extra>")


def _turn_note(result: SurfaceResult) -> str | None:
    turns = _turns(result)
    known = [(t, i) for i, t in enumerate(turns) if t is not None]
    if not known:
        return None
    worst, i = max(known)
    if worst < TURN_NOTE:
        return None
    names = _row_names(result)
    return (f"Steep sheets between rows are the data: neighbouring rows run along directions v(t) up to "
            f"{worst:.0f}° apart ({names[i - 1]} → {names[i]}). Hover a vertex for its row's step, β range "
            "and turn.")


LOG_DECADES = 2.0  # a heat map's colours go log when the cost spans more decades than this ("auto")


def decades(result: SurfaceResult, split: str) -> float:
    """How many decades the positive costs of `split` span (0 when fewer than two are positive)."""
    values = [v for row in result.cost[split] for v in row if v is not None and v > 0]
    return math.log10(max(values) / min(values)) if len(values) > 1 else 0.0


def surface_figure(result: SurfaceResult, *, split: str, plot: str = "surface", log_z: bool = False,
                   camera: tuple[float, ...] | None = None, title: str = "", color: str = "auto") -> dict:
    """The surface (or heat map / contour) with the SGD trajectory on it, from a SurfaceResult.
    A heat map's or contour's colour scale is `color`: linear, log, or auto (log where the cost spans
    more than LOG_DECADES decades, else linear; a log cost axis `log_z` is log too)."""
    xname, yname = axis_names(result)
    tx, ty, tz, sizes, hover = _trajectory_points(result, split)
    planes = result.path is None
    x, y = xname.split()[0], yname.split()[0]
    hovertemplate = ("step %{customdata[0]}<br>" + x + " = %{customdata[1]:.4g}<br>" + y + " = %{customdata[2]:.4g}"
                     "<br>J = %{customdata[3]:.6g}"
                     + ("<br>J(θ(t)) = %{customdata[4]:.6g}<br>off the plane by %{customdata[5]:.4g}" if planes else "")
                     + (" (%{customdata[6]:.3g} % of its distance)" if planes and (result.trajectory or {})
                        .get("off_plane") else "")
                     + "<extra>SGD trajectory</extra>")
    name = "SGD trajectory" + (" (projected)" if planes else "")
    ztitle = f"J ({SPLIT_NAMES.get(split, split)})"
    data: list[dict] = []
    layout = top({"height": HEIGHT, "template": "plotly_white", "font": {"family": FONT, "size": 13},
                  "showlegend": True, "annotations": [], "margin": {}}, title)
    if plot == "surface":
        xs, ys, zs = result.mesh(split)
        custom, surface_hover = _surface_hover(result, ys)
        surface = {"type": "surface", "x": xs, "y": ys, "z": zs, "colorscale": "Viridis", "opacity": 0.92,
                   "name": "J(θ)", "showscale": True, "colorbar": {"title": {"text": "J"}, "thickness": 12, "len": 0.7},
                   "hovertemplate": surface_hover}
        if custom is not None:
            surface["customdata"] = custom
        data.append(surface)
        data.append({"type": "scatter3d", "x": tx, "y": ty, "z": tz, "mode": "lines+markers", "name": name,
                     "customdata": hover, "line": {"color": TRAJECTORY_COLOR, "width": 5},
                     "marker": {"size": sizes, "color": TRAJECTORY_COLOR}, "hovertemplate": hovertemplate,
                     "showlegend": True})
        scene = {"xaxis": {"title": {"text": xname}},
                 # no tick at β's lowest value: its label sat on J's lowest one at the corner they share
                 "yaxis": {"title": {"text": yname}, "tickvals": _ticks_past_start(min(map(min, ys)), max(map(max, ys)))},
                 "zaxis": {"title": {"text": ztitle}, "type": "log" if log_z else "linear"},
                 # room under the scene: its front corner and the β title were clipped at the bottom edge
                 "domain": {"x": [0, 1], "y": [0.04, 1]},
                 # a lower box: the scene is wide and short, and a tall box lost its bottom corner
                 "aspectmode": "manual", "aspectratio": BOX,
                 # the default view a little further out, so that the box's corners and titles stay inside
                 "camera": {"eye": dict(zip("xyz", FIT_EYE))}}
        if camera is not None:
            eye, center, up = camera[:3], (camera[3:6] if len(camera) == 9 else DEFAULT_CAMERA["center"]), \
                (camera[6:9] if len(camera) == 9 else DEFAULT_CAMERA["up"])
            scene["camera"] = {k: dict(zip("xyz", v)) for k, v in (("eye", eye), ("center", center), ("up", up))}
        # the camera in the address is what the plot shows; a new address value is applied, a drag is kept
        layout.update(scene=scene, uirevision=",".join(map(str, camera)) if camera else "default")
        layout["margin"].update(l=0, r=0, b=0)
    else:
        span = decades(result, split)
        log_z = log_z or color == "log" or (color == "auto" and span > LOG_DECADES)
        alpha, rows = _cells(result, split, log_z)
        trace = {"type": "heatmap" if plot == "heatmap" else "contour", "x": alpha, "y": result.beta,
                 "z": [list(col) for col in zip(*rows)],  # z[j][i]: row i (α) at β_j
                 "colorscale": "Viridis", "name": "J(θ)",
                 "colorbar": {"title": {"text": ("log₁₀ J" if log_z else "J")
                                                + (f"<br>({span:.1f} decades)" if log_z and color == "auto" else "")},
                              "thickness": 12},
                 "hovertemplate": f"{x} = %{{x:.4g}}, {y} = %{{y:.4g}}<br>"
                                  + ("log₁₀ J" if log_z else "J") + " = %{z:.6g}<extra></extra>"}
        if plot == "contour":
            trace["contours"] = {"coloring": "heatmap"}
        data.append(trace)
        data.append({"type": "scatter", "x": tx, "y": ty, "mode": "lines+markers", "name": name, "customdata": hover,
                     "line": {"color": TRAJECTORY_COLOR, "width": 2},
                     "marker": {"size": [s + 2 if s else 0 for s in sizes], "color": TRAJECTORY_COLOR},
                     "hovertemplate": hovertemplate})
        layout.update(xaxis={"title": {"text": xname}, "automargin": True},
                      yaxis={"title": {"text": yname}, "automargin": True}, hovermode="closest")
        layout["margin"].update(l=60, r=10, b=56)
    # the title's rest (app/figures/style.py top) and the rows' largest turn: one note under the plot
    # area (and under the α axis's ticks and title, on a heat map)
    notes = [a for a in layout["annotations"] if a.get("name") == NOTE]
    layout["annotations"] = [a for a in layout["annotations"] if a.get("name") != NOTE]
    turn = _turn_note(result) if result.path is not None else None
    shown = plane_note(result, split)
    parts = [a["text"] for a in notes] + [wrap(t, NOTE_CHARACTERS) for t in (turn, shown) if t]
    if parts:
        text = "<br>".join(parts)
        lines = text.count("<br>") + 1
        shift = 4 if plot == "surface" else 72
        layout["annotations"].append({"name": NOTE, "text": text, "x": 0, "y": 0, "xref": "paper", "yref": "paper",
                                      "yanchor": "top", "yshift": -shift, "xanchor": "left", "showarrow": False,
                                      "align": "left", "font": {"size": 12, "color": "#666"}})
        layout["margin"]["b"] = shift + 16 * lines + 8
    elif plot == "surface":
        layout["margin"]["b"] = 8
    return {"data": data, "layout": layout}


def _cells(result: SurfaceResult, split: str, log_z: bool) -> tuple[list[float], list[list]]:
    """Rows in order of α (a heat map's x must increase) with their grid samples; log₁₀ if asked."""
    order = sorted(range(len(result.alpha)), key=lambda i: result.alpha[i])
    rows = []
    for i in order:
        row = result.cost[split][i]
        rows.append([None if v is None else (math.log10(max(v, 1e-300)) if log_z else v) for v in row])
    return [result.alpha[i] for i in order], rows
