"""The dashboard's views, listed here: the one place that says which views there are.

Each view is one module that defines its `VIEW` (app/views/base.py says what a view is). The
table below, in nav order, is what the shell, the address (app/urls.py) and the API twin are
built from; the parameter table is built from the views' own parameters.

Adding a view, e.g. the α/β surface (app/views/surface.py):

    from compute.kinds.surface.query import SurfaceQuery
    from .. import params, widgets
    from .base import View

    CAMERA = params.Param("camera", ...)                     # only for params that are new

    def layout(state, catalog):                             # controls + graphs, ids from widgets
        return html.Div([widgets.dropdown(NAME, params.RUN, "Run", state, catalog), ...,
                         widgets.graph(NAME, "surface", "landscape-surface")])

    def queries(state, catalog):                            # raise BadInput for what cannot run
        return {"surface": SurfaceQuery(...)}

    def draw(state, catalog, outcomes):                     # {graph name: figure}
        ...

    def export(state, outcomes):                            # (JSON object, CSV text)
        ...

    VIEW = View("surface", "Surface", (params.RUN, ..., CAMERA), layout, queries, draw, export)

then add `surface.VIEW` to the table below. That is all: the nav link, the URL, the jobs, the API
twin, the PDF (/figure/surface.pdf) and the CLI command on /help (from the queries' kinds,
app/views/commands.py, or the view's own `cli=`) follow from it. The shell lays out only the view
on screen, calling `layout(state, catalog)` with the address's state when the view is opened (and
again when a param named in `relayout_on=` changes, e.g. the surface's kind, so that labels follow
it); its own callbacks (`callbacks(app)`) must use prevent_initial_call=True, as their components
exist only while the view is on screen.
"""

from __future__ import annotations

from ..params import Param
from . import compare, controls, curvature, line, surface, trajectory
from .base import View, params_table, views_table

VIEWS: dict[str, View] = views_table(line.VIEW, trajectory.VIEW, compare.VIEW, surface.VIEW, controls.VIEW,
                                     curvature.VIEW)
PARAMS: dict[str, Param] = params_table(VIEWS.values())
DEFAULT_VIEW = "line"
