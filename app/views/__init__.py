"""The dashboard's views: a small registry. Each view is one module that registers a `View`.

A view says which URL parameters it uses (declared in app/urls.py, or registered by the view
module itself with `urls.register_param`), lays out its controls and graphs with the helpers of
app/widgets.py, turns a state into the compute queries it needs, and draws their results. The
shell (app/callbacks.py) does the rest for every view alike: address <-> form sync, validation
messages, submitting jobs, progress, drawing, and the JSON/CSV twin at /api/<view>.json|csv.

Adding a view, e.g. the α/β surface (app/views/surface.py):

    from compute.queries import SurfaceQuery
    from .. import urls, widgets
    from . import View, register

    urls.register_param(urls.Param("camera", ...))          # only for params that are new

    def layout(catalog):                                        # controls + graphs, ids from widgets
        return html.Div([widgets.dropdown("surface", "run", "Run", catalog), ...,
                         widgets.graph("surface", "surface", "landscape-surface")])

    def queries(state, catalog):                                # raise BadInput for what cannot run
        return {"surface": SurfaceQuery(...)}

    def draw(state, catalog, outcomes):                         # {graph name: figure}
        ...

    def export(state, outcomes):                            # (JSON object, CSV text)
        ...

    register(View("surface", "Surface", ("run", ..., "camera"), layout, queries, draw, export))

then add `surface` to the import line at the bottom of this file. That is all: the nav link,
the URL, the jobs and the API twin follow from the registration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from compute.queries import Query

from .. import urls
from ..runs import RunCatalog


@dataclass
class Outcome:
    """A query's job as a view sees it when drawing."""

    key: str
    state: str  # pending | running | done | failed | cancelled | missing
    done: int = 0
    total: int = 0
    error: str | None = None
    result: dict | None = None  # the result's JSON once done

    @property
    def ready(self) -> bool:
        return self.result is not None


@dataclass(frozen=True)
class View:
    name: str  # path segment: /<name>
    title: str  # nav label
    params: tuple[str, ...]  # URL parameters, in dependency order (run before step)
    layout: Callable[[RunCatalog], Any]  # the view's controls and graphs
    queries: Callable[[dict, RunCatalog], dict[str, Query]]  # state -> named queries (BadInput if none can run)
    draw: Callable[[dict, RunCatalog, dict[str, Outcome]], dict[str, Any]]  # -> {graph name: figure}
    export: Callable[[dict, dict[str, Outcome]], tuple[Any, str]]  # -> (JSON object, CSV text)
    callbacks: Callable[[Any], None] | None = None  # view-specific callbacks: callbacks(app)
    description: str = ""


VIEWS: dict[str, View] = {}


def register(view: View) -> View:
    urls.register_view(view.name, view.params)
    VIEWS[view.name] = view
    return view


from . import line, trajectory, compare, surface, controls  # noqa: E402,F401  (registration order = nav order)
