"""The shell: header with the nav links (Home, the views, Runs, Help), the notice and progress
bars, the container of the page on screen (laid out by app/callbacks.py `sync`), and the stores
the shell's callbacks use.
"""

from __future__ import annotations

from dash import dcc, html

from . import ids, training_banner
from .runs import RunCatalog
from .views import VIEWS

PAPER = "https://arxiv.org/abs/1412.6544"


def shell(catalog: RunCatalog) -> html.Div:
    """The page's frame. Its content (`ids.PAGE`) is laid out by `callbacks.sync` from the address:
    only the view (or page) asked for, so that nothing else is built or sent before it."""
    def link(title: str, href: str, description: str, cid) -> dcc.Link:
        return dcc.Link(title, href=href, className="nav-link", title=description, id=cid)

    nav = ([link("Home", "/", "what Landscape is, the runs, the paper's figures", "nav-home")]
           + [link(view.title, f"/{name}", view.description, ids.nav(name)) for name, view in VIEWS.items()]
           + [link("Runs", "/runs", "every run in a sortable table", "nav-runs"),
              link("Help", "/help", "the glossary, and the CLI command of the view on screen", ids.HELP_LINK)])
    return html.Div([
        dcc.Location(id=ids.URL, refresh="callback-nav"),
        dcc.Store(id=ids.ADDRESS), dcc.Store(id=ids.TICK), dcc.Store(id=ids.CANONICAL), dcc.Store(id=ids.EDIT),
        html.Div(id=ids.CANONICAL_SINK, style={"display": "none"}),
        dcc.Interval(id=ids.POLL, interval=250, disabled=True),
        # a hidden empty graph: Plotly's script loads and compiles while the first callback runs,
        # not after it (the view's graphs arrive with that callback's answer)
        dcc.Graph(id="plotly-preload", figure={"data": [], "layout": {}}, style={"display": "none"},
                  config={"staticPlot": True}),
        html.Header([
            html.Div([dcc.Link("Landscape", href="/", className="brand"),
                      html.Span(["exact cost along lines in parameter space · after ",
                                 html.A("Goodfellow, Vinyals & Saxe (ICLR 2015)", href=PAPER, target="_blank")],
                                className="tagline")], className="brand-box"),
            html.Nav(nav, className="nav"),
        ], className="header"),
        training_banner.placeholder(catalog),
        html.Div(id=ids.NOTICE, className="notice"),
        html.Div([html.Div(id=ids.PROGRESS, className="progress"), html.Div(id=ids.STATUS, className="status")],
                 className="status-row"),
        html.Main(id=ids.PAGE, className="content"),
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
