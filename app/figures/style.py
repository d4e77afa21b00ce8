"""The look shared by every figure: colours, fonts, axes, the empty plot that says why, notes on a
plot (banner, shaded window, marked α), and the print layout of a figure written for a paper.

Figures are plain Plotly JSON dicts ({"data": [...], "layout": {...}}), which dcc.Graph takes as
they are: building them through plotly.graph_objects validates every property against the schema
and took 130 ms for one line figure on this CPU, most of the time of a cached view.
"""

from __future__ import annotations

import copy
import math
import re

from ..labels import THETA_F

SPLIT_COLORS = {"train": "#1f6fb4", "valid": "#e4572e", "test": "#4c9a2a"}
SPLIT_DASH = {"train": "solid", "valid": "dash", "test": "dot"}
RUN_COLORS = ["#1f6fb4", "#e4572e", "#4c9a2a", "#8e44ad", "#f0a202", "#17a2b8", "#6c757d", "#d63384",
              "#20c997", "#343a40"]
FONT = "Inter, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"
GRID, AXIS_LINE = "#e9ecf1", "#bbbbbb"
TRAJECTORY_COLOR = "#e4572e"
NOTE = "note"  # the name of an annotation that explains the figure under it (left out in print)


def label(text: str) -> str:
    """Text as Plotly draws it: θ_f with a real subscript (the names the views pass write "θ_f")."""
    return text.replace("θ_f", THETA_F)


def axis(title: str, log: bool = False, **more) -> dict:
    out = {"title": {"text": label(title)}, "type": "log" if log else "linear", "gridcolor": GRID, "zeroline": False,
           "showline": True, "linecolor": AXIS_LINE, "mirror": True, "ticks": "outside", "tickcolor": AXIS_LINE,
           "automargin": True}
    if log:
        out["exponentformat"] = "power"
    out.update(more)
    return out


def decade_ticks(fig: dict, panels) -> None:
    """A tick a decade on each log y axis (`panels`: the axes' numbers, "" for y) that spans more
    than a decade and a half: Plotly's own choice labelled 2 and 5 between the powers of ten, small
    and crowded."""
    for n in panels:
        values = [v for t in fig["data"] if t.get("yaxis", "y") == f"y{n}" for v in t["y"] if v is not None and v > 0]
        if values and math.log10(max(values) / min(values)) > 1.5:
            fig["layout"][f"yaxis{n}"]["dtick"] = 1


TITLE_CHARACTERS = 62  # a title line that fits the narrowest graph (1024-wide window) at 15 px
NOTE_CHARACTERS = 84  # a line of the 12 px note under the plot that fits the narrowest graph
NOTE_SHIFT = 62  # px from the plot area's bottom to the note: under the x ticks and the x title


def wrap(text: str, width: int = TITLE_CHARACTERS) -> str:
    """Text broken into lines of at most `width` characters at spaces (Plotly does not wrap), never
    inside a formula: the spaces around '=', '−', '×' and '→' do not break."""
    for op in (" = ", " − ", " × ", " → "):
        text = text.replace(op, "\u00a0" + op.strip() + "\u00a0")
    lines, line = [], ""
    for word in text.split(" "):
        if line and _visible(line) + 1 + _visible(word) > width:  # markup (<sub>f</sub>) takes no room
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "<br>".join(lines)


def split_title(title: str, width: int = TITLE_CHARACTERS) -> tuple[str, str]:
    """A title as one line that fits and the rest: cut at the last ': ', ' (', '; ' or ' — ' that
    leaves a head of at most `width` characters (never inside a formula: no cut at other spaces)."""
    if _visible(title) <= width:
        return title, ""
    cuts = [i for sep in (": ", " (", "; ", " — ", " · ") for i in _positions(title, sep) if 0 < _visible(title[:i]) <= width]
    if not cuts:
        return title, ""
    at = max(cuts)
    head, rest = title[:at], title[at:].lstrip(":;—· ").strip()
    if rest.startswith("(") and rest.endswith(")"):
        rest = rest[1:-1]
    return head, rest


def _visible(text: str) -> int:
    """The characters of `text` a reader sees (Plotly's <sub>, <br>, ... are not)."""
    return len(re.sub(r"<[^>]+>", "", text))


def _positions(text: str, sep: str) -> list[int]:
    out, at = [], text.find(sep)
    while at >= 0:
        out.append(at)
        at = text.find(sep, at + 1)
    return out


def top(layout: dict, title: str, legend: bool = True) -> dict:
    """The title on one line at the top left, what does not fit of it in grey under the plot (the
    title's "rest", a NOTE annotation); the legend on its own row under the title, above the plot
    area at the left: a title never runs into the legend, the legend never covers data nor the
    frame. `layout` has its height already."""
    head, rest = split_title(label(title)) if title else ("", "")
    text = wrap(head) if head else ""
    lines = text.count("<br>") + 1 if text else 0
    if rest:
        layout.setdefault("annotations", []).append(
            {"name": NOTE, "text": wrap(rest, NOTE_CHARACTERS), "x": 0, "y": 0, "xref": "paper",
             "yref": "paper", "yanchor": "top", "yshift": -NOTE_SHIFT, "xanchor": "left", "showarrow": False,
             "align": "left", "font": {"size": 12, "color": "#666"}})
        layout.setdefault("margin", {})["b"] = max(layout["margin"].get("b", 0),
                                                   NOTE_SHIFT + 8 + 16 * (rest.count("<br>") + 1))
    # Plotly puts the first line's baseline at `y` whatever the anchor and line count (a "top"-anchored
    # title of two lines lost its top): the first baseline 26 px under the top edge, the lines below it
    height = layout.get("height") or 460
    layout["title"] = {"text": text, "x": 0.01, "xanchor": "left", "y": 1 - 26 / height, "yref": "container",
                       "yanchor": "bottom", "font": {"size": 15}}
    # the legend's row sits a few px above the plot area: its box leaves the top frame line whole
    layout["legend"] = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0.0,
                        "yref": "paper", "bgcolor": "rgba(0,0,0,0)"}
    layout.setdefault("margin", {})["t"] = 24 + 20 * lines + (30 if legend else 0)
    return layout


def base(title: str, x: str, y: str, log_y: bool = False, height: int = 460) -> dict:
    """An empty 2-D figure in the house style, `height` px tall."""
    layout = {
        "height": height, "font": {"family": FONT, "size": 13, "color": "#1d2330"},
        "paper_bgcolor": "white", "plot_bgcolor": "white",
        "margin": {"l": 70, "r": 24, "t": 56, "b": 56}, "hovermode": "x unified",
        "xaxis": axis(x), "yaxis": axis(y, log_y), "shapes": [], "annotations": [],
        "colorway": RUN_COLORS}

    return {"data": [], "layout": top(layout, title)}


def message_figure(text: str, title: str = "", height: int = 460) -> dict:
    """An empty plot that says why it is empty (no runs, computing, failed)."""
    fig = base(title, "", "", height=height)
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


def vline(fig: dict, x: float, text: str, position: str = "right", y: float = 0.0, yanchor: str = "bottom") -> dict:
    """A dotted vertical line with `text` beside it, at height `y` (paper coordinates)."""
    fig["layout"]["shapes"].append({"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
                                    "line": {"color": "#999", "width": 1, "dash": "dot"}})
    fig["layout"]["annotations"].append({
        "text": label(text), "x": x, "y": y, "xref": "x", "yref": "paper", "yanchor": yanchor,
        "showarrow": False,
        "xanchor": "left" if position == "right" else "right", "xshift": 3 if position == "right" else -3,
        "font": {"size": 12, "color": "#555"}, "bgcolor": "rgba(255,255,255,0.8)"})
    return fig


def note(fig: dict, text: str) -> dict:
    """A grey line of explanation under the plot area (what the figure's reader must know)."""
    layout = fig["layout"]
    existing = next((a for a in layout["annotations"] if a.get("name") == NOTE), None)
    if existing is not None:  # under the title's rest: one block of lines, never two on top of each other
        existing["text"] += "<br>" + text
    else:
        layout["annotations"].append({"name": NOTE, "text": text, "x": 0, "y": 0, "xref": "paper", "yref": "paper",
                                      "yanchor": "top", "yshift": -NOTE_SHIFT, "xanchor": "left", "showarrow": False,
                                      "align": "left", "font": {"size": 12, "color": "#666"}})
        existing = layout["annotations"][-1]
    layout["margin"]["b"] = max(layout["margin"].get("b", 0),
                                NOTE_SHIFT + 8 + 16 * (existing["text"].count("<br>") + 1))
    return fig


# ------------------------------------------------------------------------------------------ print
COLUMN_INCHES = 3.5  # one column of a two-column paper (a full page of text is about 7)
PAGE_INCHES = 7.0
CSS_DPI = 96  # Plotly's static export (Chromium) lays out in CSS pixels, 96 to the inch; PDF points are 72
PRINT_FONT = 10.5  # CSS px: 7.9 pt, the size of a paper's figure labels
PNG_DPI = 300


def print_size(fig: dict) -> tuple[float, float]:
    """(width, height) in inches for print: a column; a page's width for a figure of 3 panels or more."""
    layout = fig["layout"]
    panels = sum(1 for k in layout if k.startswith("xaxis")) if "scene" not in layout else 1
    if panels >= 3:
        return PAGE_INCHES, 2.4
    return COLUMN_INCHES, 3.0 if "scene" in layout else 2.6


def for_print(fig: dict, width_in: float | None = None) -> tuple[dict, int, int]:
    """The figure laid out for a paper: no title (a caption says it), fonts at print size, tight
    margins; returns it with its width and height in CSS pixels. The data are untouched: it is
    the page's figure."""
    fig = copy.deepcopy(fig)
    layout = fig["layout"]
    width, height = print_size(fig)
    if width_in is not None:
        height, width = height * width_in / width, width_in
    w_px, h_px = round(width * CSS_DPI), round(height * CSS_DPI)
    small = PRINT_FONT - 1
    layout.update(width=w_px, height=h_px, title={"text": ""}, font=dict(layout.get("font", {}), size=PRINT_FONT),
                  margin={"l": 8, "r": 8, "t": 8, "b": 8, "pad": 0}, autosize=False)
    for name in [k for k in layout if k == "legend" or k.startswith("legend") and k[6:].isdigit()] or ["legend"]:
        layout[name] = dict(layout.get(name) or {}, font={"size": small}, bgcolor="rgba(255,255,255,0.85)",
                            tracegroupgap=2, itemwidth=30)
    for key, value in list(layout.items()):
        if key.startswith(("xaxis", "yaxis")) and isinstance(value, dict):
            value.update(automargin=True, tickfont={"size": small})
            if isinstance(value.get("title"), dict):
                value["title"] = dict(value["title"], font={"size": PRINT_FONT}, standoff=4)
    if "scene" in layout:
        # the camera further out: at a column's width the scene's corners and axis titles were cut off
        eye = (layout["scene"].get("camera") or {}).get("eye") or {"x": 1.25, "y": 1.25, "z": 1.25}
        layout["scene"]["camera"] = dict(layout["scene"].get("camera") or {},
                                         eye={k: 1.45 * float(v) for k, v in eye.items()})
        for name in ("xaxis", "yaxis", "zaxis"):
            ax = layout["scene"].setdefault(name, {})
            ax.update(tickfont={"size": small - 1}, title=dict(ax.get("title") or {}, font={"size": small}))
    for annotation in layout.get("annotations", []):
        annotation["font"] = dict(annotation.get("font", {}), size=small)
        if annotation.get("name") == NOTE:  # an explanation under the plot: a caption's job in a paper
            annotation["visible"] = False
    for trace in fig["data"]:
        if isinstance(trace.get("colorbar"), dict):
            trace["colorbar"] = dict(trace["colorbar"], thickness=8, tickfont={"size": small},
                                     title=dict(trace["colorbar"].get("title") or {}, font={"size": small}))
        elif isinstance(trace.get("marker"), dict) and isinstance(trace["marker"].get("colorbar"), dict):
            trace["marker"]["colorbar"] = dict(trace["marker"]["colorbar"], thickness=8, tickfont={"size": small})
    return fig, w_px, h_px
