"""Form fields, graphs and export links built with the shell's ids (see app/ids.py), so that
the shell's callbacks fill, validate and sync them with the address. Values and options are
filled from the address when the page loads; what is given here is only the first paint.
"""

from __future__ import annotations

from dash import dcc, html

from . import ids, urls
from .runs import RunCatalog


def field(view: str, param: str, label: str, control, hint: str | None = None) -> html.Div:
    """Label, control, a hint and the place for the control's validation message."""
    children = [html.Label(label, className="field-label"), control]
    if hint:
        children.append(html.Div(hint, className="field-hint"))
    children.append(html.Div(id=ids.field_error(view, param), className="field-error"))
    return html.Div(children, id=ids.field_box(view, param), className="field")


def _initial(view: str, param: str, catalog: RunCatalog):
    state = urls.parse(f"/{view}", "", catalog).state
    return urls.to_control(param, state.get(param)), urls.PARAMS[param].options(state, catalog) \
        if urls.PARAMS[param].options else None


def dropdown(view: str, param: str, label: str, catalog: RunCatalog, hint: str | None = None, multi: bool = False,
             placeholder: str = "") -> html.Div:
    value, options = _initial(view, param, catalog)
    return field(view, param, label, dcc.Dropdown(
        id=ids.control(view, param, ids.CHOICE), options=options, value=value, multi=multi, clearable=multi,
        placeholder=placeholder, className="control"), hint)


def radio(view: str, param: str, label: str, catalog: RunCatalog, hint: str | None = None,
          inline: bool = False) -> html.Div:
    value, options = _initial(view, param, catalog)
    return field(view, param, label, dcc.RadioItems(
        id=ids.control(view, param, ids.CHOICE), options=options, value=value, inline=inline,
        className="control radio" + (" inline" if inline else "")), hint)


def checklist(view: str, param: str, label: str, catalog: RunCatalog, hint: str | None = None) -> html.Div:
    value, options = _initial(view, param, catalog)
    return field(view, param, label, dcc.Checklist(
        id=ids.control(view, param, ids.CHOICE), options=options, value=value, inline=True,
        className="control radio inline"), hint)


def text(view: str, param: str, label: str, catalog: RunCatalog, hint: str | None = None,
         placeholder: str = "") -> html.Div:
    value, _ = _initial(view, param, catalog)
    # debounce: validate and recompute when the person presses Enter or leaves the field,
    # not at every keystroke
    return field(view, param, label, dcc.Input(
        id=ids.control(view, param, ids.TEXT), type="text", value=value, debounce=True,
        placeholder=placeholder, className="control text", spellCheck=False), hint)


def graph(view: str, name: str, filename: str, height: int = 460) -> dcc.Graph:
    """A figure with Plotly's toolbar: its camera icon downloads the figure as a PNG."""
    return dcc.Graph(
        id=ids.graph(view, name), className="graph", style={"height": f"{height}px"},
        config={"displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2},
                "modeBarButtonsToRemove": ["lasso2d", "select2d"]})


def export_links(view: str) -> html.Div:
    """Download the data of what is drawn; the hrefs are the view's API twin (app/api.py)."""
    return html.Div([
        html.Span("Data:", className="export-label"),
        html.A("CSV", id=ids.export(view, "csv"), href="#", className="export-link", target="_blank"),
        html.A("JSON", id=ids.export(view, "json"), href="#", className="export-link", target="_blank"),
        html.Span("· PNG: camera icon on the plot", className="export-hint"),
    ], className="export")
