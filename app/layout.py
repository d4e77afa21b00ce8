"""The shell: header with the views' nav links, the notice and progress bars, every view's
layout (only the active one shown), and the stores the shell's callbacks use.
"""

from __future__ import annotations

from dash import dcc, html

from . import ids, training_banner, urls
from .runs import RunCatalog
from .views import VIEWS

PAPER = "https://arxiv.org/abs/1412.6544"


def shell(catalog: RunCatalog) -> html.Div:
    nav = [dcc.Link(view.title, href=f"/{name}", id=ids.nav(name), className="nav-link", title=view.description)
           for name, view in VIEWS.items()]
    first = next(iter(VIEWS))
    # every view is laid out (the nav links switch views without a reload); each view's controls are
    # first filled from its default state, made once per view; the address fills them right after
    views = [html.Div(view.layout(urls.default_state(name, catalog), catalog), id=ids.view_box(name),
                      style={} if name == first else {"display": "none"}) for name, view in VIEWS.items()]
    return html.Div([
        dcc.Location(id=ids.URL, refresh="callback-nav"),
        dcc.Store(id=ids.ADDRESS), dcc.Store(id=ids.TICK), dcc.Store(id=ids.CANONICAL), dcc.Store(id=ids.EDIT),
        html.Div(id=ids.CANONICAL_SINK, style={"display": "none"}),
        dcc.Interval(id=ids.POLL, interval=250, disabled=True),
        html.Header([
            html.Div([html.Span("Landscape", className="brand"),
                      html.Span(["exact cost along lines in parameter space · after ",
                                 html.A("Goodfellow, Vinyals & Saxe (ICLR 2015)", href=PAPER, target="_blank")],
                                className="tagline")], className="brand-box"),
            html.Nav(nav, className="nav"),
        ], className="header"),
        training_banner.placeholder(catalog),
        html.Div(id=ids.NOTICE, className="notice"),
        html.Div([html.Div(id=ids.PROGRESS, className="progress"), html.Div(id=ids.STATUS, className="status")],
                 className="status-row"),
        html.Main(views, className="content"),
        html.Footer(f"{len(catalog.runs)} run{'s' if len(catalog.runs) != 1 else ''} recorded · every view is its "
                    "address: copy it to share · data downloads are the view's /api twin", className="footer"),
    ], className="page")


# The canonical address replaces the typed one without a new history entry (see callbacks.sync).
# dcc.Location pushes its `href` prop when that differs from the address bar, so it must learn of
# the replacement, or its next update would push the stale address back. Location has no
# "replace" option (writing its href always pushes), but it follows the address bar on
# `popstate`, the browser's own event for a history change made outside it: we send that one
# (public DOM API) rather than Dash's private `_dashprivate_pushstate`.
REPLACE_STATE = """
function(href) {
    if (href && window.location.pathname + window.location.search !== href) {
        window.history.replaceState(window.history.state, "", href);
        window.dispatchEvent(new PopStateEvent("popstate", {state: window.history.state}));
    }
    return "";
}
"""
