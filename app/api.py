"""Every view's JSON (and CSV) twin, à la Datasette: /api/<view>.json?<the view's query string>.

    curl 'http://127.0.0.1:8050/api/line.json?run=relu-mnist-small-s0&pair=init&alpha=0:1&points=50'
    curl 'http://127.0.0.1:8050/api/compare.csv?runs=relu-mnist-small-s0,sigmoid-mnist-small-s0'
    curl 'http://127.0.0.1:8050/api/runs.json'

The same parser as the page reads the query string, but strictly: a value the page would
replace by its default is a 400 here with the one error body {"ok": false, "error", "field",
"status"}. A result not in the cache is computed first (the request waits up to WAIT_S seconds,
then answers 202 with the jobs' progress: ask again). The header X-Landscape-Cache says hit or
miss.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request

from models.errors import BadInput

from . import jobclient, urls
from .runs import load_catalog
from .views import VIEWS

WAIT_S = 300.0


def _error(exc: BadInput):
    return jsonify(exc.to_json()), exc.status


def register(server: Flask) -> None:
    @server.route("/api/runs.json")
    def runs_json():
        return jsonify([{"id": r.id, "model": r.model, "preset": r.preset, "seed": r.seed, "steps": list(r.steps),
                         "final_step": r.final_step, "final_valid_cost": r.final_valid_cost}
                        for r in load_catalog().runs])

    @server.route("/api/<view>.<fmt>")
    def view_data(view: str, fmt: str):
        if view not in VIEWS or fmt not in ("json", "csv"):
            return _error(BadInput(f"no such data: /api/{view}.{fmt}; views: {', '.join(VIEWS)}; "
                                   "formats: json, csv", field="view", status=404))
        catalog = load_catalog()
        try:
            state = urls.parse(f"/{view}", request.query_string.decode(), catalog, strict=True).state
            queries = VIEWS[view].queries(state, catalog)
        except BadInput as exc:
            return _error(exc)
        try:
            keys, cached = jobclient.submit(queries)
        except BadInput as exc:  # e.g. Redis unreachable: 503 with the same error body
            return _error(exc)
        outcomes = jobclient.wait(keys, WAIT_S)
        failed = [o for o in outcomes.values() if o.state in ("failed", "cancelled", "missing")]
        if failed:
            return _error(BadInput("; ".join(f"{o.state}: {o.error or 'no result'}" for o in failed), status=422))
        if not all(o.ready for o in outcomes.values()):
            body = {"ok": False, "status": 202, "error": "still computing: ask again",
                    "jobs": {name: {"key": o.key, "state": o.state, "done": o.done, "total": o.total}
                             for name, o in outcomes.items()}}
            return jsonify(body), 202, {"Retry-After": "2"}
        data, csv_text = VIEWS[view].export(state, outcomes)
        headers = {"X-Landscape-Cache": "hit" if cached else "miss", "Link": f'<{urls.href(state)}>; rel="alternate"'}
        if fmt == "csv":
            headers["Content-Disposition"] = f'attachment; filename="landscape-{view}.csv"'
            return Response(csv_text, mimetype="text/csv", headers=headers)
        response = jsonify(data)
        response.headers.update(headers)
        return response
