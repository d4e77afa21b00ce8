"""The figure on screen as a file for a paper, from the page: `/figure/<view>.pdf?<the view's query
string>&graph=<name>` (the camera menu's PDF entry, app/assets/export-menu.js). The same figure as
`--plot FILE.pdf` on the CLI: the view's own figure (its `draw`) laid out for print by
app/figures/export.py (kaleido, with the Chromium on the machine). Only a figure whose results are
all cached is written (anything else answers with the API's one error body, 409); nothing is
computed for it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, request

from compute.service_errors import ServiceError
from models.errors import BadInput

from . import jobclient, urls
from .api import error_body
from .figures.export import write_figure
from .runs import load_catalog
from .views import VIEWS

FORMATS = ("pdf", "svg", "png")


def figure_of(view_name: str, query: str, graph: str | None) -> dict:
    """The figure `graph` (default: the view's first) of the view at `query`, drawn from the cache."""
    catalog = load_catalog()
    state = urls.parse(f"/{view_name}", query, catalog, strict=True).state
    view = VIEWS[view_name]
    keys, cached = jobclient.submit(view.queries(state, catalog))
    if not cached:
        raise BadInput("the figure is not computed yet: open its view first, then ask again", status=409)
    figures = view.draw(state, catalog, jobclient.outcomes(keys))
    name = graph or next(iter(figures))
    if name not in figures:
        raise BadInput(f"graph={name!r}: the {view_name} view draws {', '.join(figures)}", field="graph")
    return figures[name]


def register(server: Flask) -> None:
    @server.route("/figure/<view_name>.<fmt>")
    def figure_file(view_name: str, fmt: str):
        if view_name not in VIEWS or fmt not in FORMATS:
            return jsonify(error_body(404, f"no figure file {request.path}", "path")), 404
        args = [(k, v) for k, v in request.args.items(multi=True) if k != "graph"]
        query = urlencode(args)
        try:
            fig = figure_of(view_name, query, request.args.get("graph"))
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / f"landscape-{view_name}.{fmt}"
                write_figure(fig, str(path))
                body = path.read_bytes()
        except (BadInput, ServiceError) as exc:  # Redis unreachable: 503
            return jsonify(error_body(exc.status, exc.message, exc.field)), exc.status
        mime = {"pdf": "application/pdf", "svg": "image/svg+xml", "png": "image/png"}[fmt]
        return Response(body, mimetype=mime, headers={
            "Content-Disposition": f'attachment; filename="landscape-{view_name}-{request.args.get("graph") or view_name}.{fmt}"'})
