"""Form fields, graphs and export links built with the shell's ids (see app/ids.py), so that
the shell's callbacks fill, validate and sync them with the address. Values and options are
filled from the address when the page loads; what a `Form` is given (one state for the
whole layout of a view) is only the first paint.
"""

from __future__ import annotations

from dataclasses import dataclass

from dash import dcc, html

from . import ids
from .params import Param, State, rich
from .runs import RunCatalog


def field(view: str, param: str, label: str, control, hint: str | None = None, shown: bool = True) -> html.Div:
    """Label, control, a hint and the place for the control's validation message; hidden where
    the parameter does not apply to the state the view is laid out for."""
    children = [html.Label(rich(label), className="field-label"), control]
    if hint:
        children.append(html.Div(rich(hint), className="field-hint"))
    children.append(html.Div(id=ids.field_error(view, param), className="field-error"))
    return html.Div(children, id=ids.field_box(view, param), className="field", style={} if shown else HIDDEN)


HIDDEN = {"display": "none"}


@dataclass(frozen=True)
class Form:
    """The controls of one view, first filled from one `state` (made once for the whole layout)."""

    view: str
    state: State
    catalog: RunCatalog

    def _initial(self, param: Param):
        options = param.options(self.state, self.catalog) if param.options else None
        return param.control_value(self.state.get(param.name)), options

    def _shown(self, param: Param) -> bool:
        return param.shown(self.state, self.catalog)

    def dropdown(self, param: Param, label: str, hint: str | None = None, multi: bool = False,
                 placeholder: str = "") -> html.Div:
        value, options = self._initial(param)
        return field(self.view, param.name, label, dcc.Dropdown(
            id=ids.control(self.view, param.name, ids.CHOICE), options=options, value=value, multi=multi,
            clearable=multi, placeholder=placeholder, className="control"), hint, self._shown(param))

    def radio(self, param: Param, label: str, hint: str | None = None, inline: bool = False) -> html.Div:
        value, options = self._initial(param)
        return field(self.view, param.name, label, dcc.RadioItems(
            id=ids.control(self.view, param.name, ids.CHOICE), options=options, value=value, inline=inline,
            className="control radio" + (" inline" if inline else "")), hint, self._shown(param))

    def checklist(self, param: Param, label: str, hint: str | None = None) -> html.Div:
        value, options = self._initial(param)
        return field(self.view, param.name, label, dcc.Checklist(
            id=ids.control(self.view, param.name, ids.CHOICE), options=options, value=value, inline=True,
            className="control radio inline"), hint, self._shown(param))

    def text(self, param: Param, label: str, hint: str | None = None, placeholder: str = "") -> html.Div:
        value, _ = self._initial(param)
        # debounce: validate and recompute when the person presses Enter or leaves the field,
        # not at every keystroke
        return field(self.view, param.name, label, dcc.Input(
            id=ids.control(self.view, param.name, ids.TEXT), type="text", value=value, debounce=True,
            placeholder=placeholder, className="control text", spellCheck=False), hint, self._shown(param))


def graph(view: str, name: str, filename: str, height: int | None = 460) -> dcc.Graph:
    """A figure with Plotly's toolbar: its camera icon offers the figure as a PNG or an SVG (the
    menu is app/assets/export-menu.js). A double-click autoscales: the Line view reads that as
    "no zoom" (a reset to the first range would be a zoom to the whole range)."""
    return dcc.Graph(
        # height None: the figure's own (a table sized to its rows)
        id=ids.graph(view, name), className="graph", style={"height": f"{height}px"} if height else {},
        config={"displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2},
                "modeBarButtonsToRemove": ["lasso2d", "select2d"], "doubleClick": "autosize"})


def export_links(view: str) -> html.Div:
    """Download the data of what is drawn; the hrefs are the view's API twin (app/api.py)."""
    return html.Div([
        html.Span("Data:", className="export-label"),
        html.A("CSV", id=ids.export(view, "csv"), href="#", className="export-link", target="_blank"),
        html.A("JSON", id=ids.export(view, "json"), href="#", className="export-link", target="_blank"),
        html.Span(["· PNG, SVG or PDF: the camera icon on the plot (or ", html.Code("--plot FILE.pdf"),
                   " on the command line)"], className="export-hint"),
    ], className="export")
