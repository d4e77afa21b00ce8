"""Every view's JSON (and CSV) twin, à la Datasette: /api/<view>.json?<the view's query string>.

    curl 'http://127.0.0.1:8050/api/line.json?run=relu-mnist-small-s0&pair=init&alpha=0:1&points=50&wait=30'
    curl 'http://127.0.0.1:8050/api/compare.csv?runs=relu-mnist-small-s0,sigmoid-mnist-small-s0'
    curl 'http://127.0.0.1:8050/api/runs.json'
    curl 'http://127.0.0.1:8050/api/demo.json'       # the demo runs' training, as the page's banner shows it

The same parser as the page reads the query string, but strictly: a value the page would
replace by its default is a 400 here. The answer comes at once and never holds a server thread
for a computation: the result when it is cached (200; the header X-Landscape-Cache says hit or
miss), else 202 with the jobs' progress, a `Location` (the same URL: ask again) and a
`Retry-After`. `wait=S` (0 to 60 seconds; not part of the view, nor of its cache key) waits up
to S seconds for the result first, for a script that would rather not poll.

Every answer that is not the result has one body, made by `error_body`:
{"ok": false, "status": N, "error": message, "field": name or null, "jobs": {...} or null};
under /api/ that includes an address that names no data (404) and a method other than GET (405,
with `Allow`). Every JSON answer is strict JSON (compute.results.dumps: NaN and Infinity as null).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from flask import Flask, Response, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from models.errors import BadInput
from compute import validate
from compute.service_errors import JobFailed, ServiceError
from compute.results import dumps

from . import jobclient, urls
from .demo import demo_status
from .runs import load_catalog
from .views import VIEWS

MAX_WAIT_S = 60.0
RETRY_AFTER_S = 2
API_ALIASES = {"hessian": "curvature"}  # /api/hessian.json is the curvature view's twin


def error_body(status: int, message: str, field: str | None = None, jobs: dict | None = None) -> dict:
    """The one body of every answer that is not a result (400, 404, 422, 503, 202)."""
    return {"ok": False, "status": status, "error": message, "field": field, "jobs": jobs}


def _refusal(exc: BadInput | ServiceError, jobs: dict | None = None):
    return jsonify(error_body(exc.status, exc.message, exc.field, jobs)), exc.status


def _jobs(outcomes: dict[str, jobclient.Outcome]) -> dict:
    return {name: {"key": o.key, "state": o.state, "done": o.done, "total": o.total, "error": o.error,
                   "waiting": o.waiting} for name, o in outcomes.items()}


def _split_wait(query_string: str) -> tuple[str, float]:
    """The view's own query string, and the seconds `wait=` asks for (BadInput if invalid)."""
    pairs = parse_qsl(query_string, keep_blank_values=True)
    waits = [v for k, v in pairs if k == "wait"]
    wait = validate.parse_float(waits[-1], "wait", 0.0, MAX_WAIT_S) if waits else 0.0
    return urlencode([(k, v) for k, v in pairs if k != "wait"]), wait


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON (jsonify) written by compute.results.dumps: no body ever holds NaN or Infinity,
    which JSON.parse and jq refuse."""

    def dumps(self, obj, **kwargs) -> str:
        kwargs.setdefault("default", self.default)
        kwargs.setdefault("ensure_ascii", self.ensure_ascii)
        kwargs.setdefault("sort_keys", self.sort_keys)
        return dumps(obj, **kwargs)


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def register(server: Flask) -> None:
    server.json = StrictJSONProvider(server)

    @server.errorhandler(HTTPException)
    def api_http_error(exc: HTTPException):
        """Under /api/ every HTTP error (405 for a POST, ...) is the one error body; elsewhere Flask's page."""
        if not _is_api(request.path):
            return exc
        status = exc.code or 500
        if isinstance(exc, MethodNotAllowed):
            allowed = sorted(exc.valid_methods or ("GET", "HEAD", "OPTIONS"))
            body = error_body(status, f"{request.method} is not allowed on {request.path}: it answers "
                                      f"{', '.join(allowed)}", field="method")
        else:
            body = error_body(status, f"{exc.name}: {request.path}")
        response = jsonify(body)
        response.status_code = status
        if isinstance(exc, MethodNotAllowed):
            response.headers["Allow"] = ", ".join(allowed)
        return response

    @server.before_request
    def no_climbing():
        """A path with a '..' segment names nothing here (Dash's asset routes would answer 500)."""
        if ".." in request.path.split("/"):
            return _refusal(BadInput(f"no such page: {request.path}", field="path", status=404))
        return None

    @server.route("/api/runs.json")
    def runs_json():
        return jsonify([{"id": r.id, "model": r.model, "preset": r.preset, "seed": r.seed, "steps": list(r.steps),
                         "final_step": r.final_step, "final_valid_cost": r.final_valid_cost}
                        for r in load_catalog().runs])

    @server.route("/api/demo.json")
    def demo_json():
        """The demo runs' training (the page's banner): app.demo.demo_status."""
        try:
            return jsonify(demo_status(load_catalog().trained()))
        except (BadInput, ServiceError) as exc:  # Redis unreachable: 503
            return _refusal(exc)

    @server.route("/api", defaults={"rest": ""})
    @server.route("/api/", defaults={"rest": ""})
    @server.route("/api/<path:rest>")
    def no_such_data(rest: str):
        """/api/, /api/line, /api/line.json/: no data (not the page, which Dash serves at any other path)."""
        return _refusal(BadInput(f"no such data: {request.path}; ask /api/<view>.json or .csv, views: "
                                 f"{', '.join(VIEWS)}; or /api/runs.json, /api/demo.json", field="path", status=404))

    @server.route("/api/<view>.<fmt>")
    def view_data(view: str, fmt: str):
        view = API_ALIASES.get(view, view)
        if view not in VIEWS or fmt not in ("json", "csv"):
            return _refusal(BadInput(f"no such data: /api/{view}.{fmt}; views: {', '.join(VIEWS)}; "
                                     "formats: json, csv", field="view", status=404))
        catalog = load_catalog()
        try:
            search, wait = _split_wait(request.query_string.decode())
            state = urls.parse(f"/{view}", search, catalog, strict=True).state
            keys, cached = jobclient.submit(VIEWS[view].queries(state, catalog))
            outcomes = jobclient.wait(keys, wait)
        except (BadInput, ServiceError) as exc:  # bad input or above the work budget: 400; Redis unreachable: 503
            return _refusal(exc)
        failed = [o for o in outcomes.values() if o.state in ("failed", "cancelled", "missing")]
        if failed:
            return _refusal(JobFailed("; ".join(f"{o.state}: {o.error or 'no result'}" for o in failed)),
                            _jobs(outcomes))
        if not all(o.ready for o in outcomes.values()):
            message = f"still computing: ask again (or add wait=S, up to {MAX_WAIT_S:g} s, to wait here)"
            return jsonify(error_body(202, message, jobs=_jobs(outcomes))), 202, {
                "Location": request.full_path.rstrip("?"), "Retry-After": str(RETRY_AFTER_S)}
        data, csv_text = VIEWS[view].export(state, outcomes)
        headers = {"X-Landscape-Cache": "hit" if cached else "miss", "Link": f'<{urls.href(state)}>; rel="alternate"'}
        if fmt == "csv":
            headers["Content-Disposition"] = f'attachment; filename="landscape-{view}.csv"'
            return Response(csv_text, mimetype="text/csv", headers=headers)
        response = jsonify(data)
        response.headers.update(headers)
        return response
