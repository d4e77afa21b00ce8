"""The Dash app and `landscape serve`.

    landscape serve --demo --host 127.0.0.1 --port 8050     # what `make serve` runs
    landscape serve --access-log                             # one line per request on stderr

`landscape serve` runs the app on waitress, a production WSGI server (threads in one process: the
embedded default's jobs run in this process, so it must stay one). Embedded default: one process,
jobs on a local executor, results in the on-disk cache under $LANDSCAPE_HOME/cache. With REDIS_URL
set the same app uses the Redis cache and the Celery workers behind compute.jobs.backend.get_jobs().
`create_app()` is also what tests and gunicorn use (`gunicorn 'app.server:wsgi()'`, with Redis).
"""

from __future__ import annotations

import sys
from pathlib import Path

from compute.store import Store


def create_app():
    """A fresh Dash app: the shell, the views (app/views), their callbacks and the JSON API."""
    from dash import Dash, Input, Output

    from . import api, callbacks, figure_files, ids, layout, training_banner
    from .runs import load_catalog
    from .views import VIEWS

    app = Dash(__name__, title="Landscape", update_title=None, suppress_callback_exceptions=True,
               assets_folder=str(Path(__file__).parent / "assets"))
    # a function: each page load lists the runs as they are now
    app.layout = lambda: layout.shell(load_catalog())
    callbacks.register(app)
    training_banner.register(app)
    app.clientside_callback(layout.REPLACE_STATE, Output(ids.CANONICAL_SINK, "children"), Input(ids.CANONICAL, "data"))
    for view in VIEWS.values():
        if view.callbacks is not None:
            view.callbacks(app)
    api.register(app.server)
    figure_files.register(app.server)
    return app


def wsgi():
    return create_app().server


THREADS = 8  # waitress's request threads: pages poll while jobs run on compute's own threads


def access_logged(wsgi_app, stream=sys.stderr):
    """`wsgi_app` writing one line per request to `stream`: 'GET /line?... 200 12.3 ms'."""
    import time

    def logged(environ, start_response):
        t0, seen = time.perf_counter(), {}

        def start(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        try:
            return wsgi_app(environ, start)
        finally:
            query = environ.get("QUERY_STRING")
            print(f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}{'?' + query if query else ''} "
                  f"{seen.get('status', '-')} {(time.perf_counter() - t0) * 1000:.1f} ms", file=stream, flush=True)
    return logged


def make_server(wsgi_app, host: str, port: int, access_log: bool = False):
    """A waitress server of `wsgi_app` (the access log off unless asked for): `.run()` serves until
    interrupted, `.close()` stops it."""
    from waitress.server import create_server

    return create_server(access_logged(wsgi_app) if access_log else wsgi_app, host=host, port=port,
                         threads=THREADS, ident="landscape")


def serve(host: str = "127.0.0.1", port: int = 8050, demo: bool = False, access_log: bool = False) -> None:
    """Serve at once on waitress; with `demo`, the missing demo runs are submitted as training jobs to
    the job layer (app/demo.py) from a background thread, which watches them until they are over (so
    they are never cancelled as unwatched); the pages show their progress and each run as it finishes.
    The access log is off unless `access_log`: the demo's progress lines stay readable."""
    store = Store()
    if demo:
        import threading

        from .demo import ensure_demo_runs

        threading.Thread(target=ensure_demo_runs, args=(store,), name="landscape-demo", daemon=True).start()
    app = create_app()
    runs = len(store.list_runs())
    print(f"Landscape: http://{host}:{port}/  ({runs} runs in {store.runs_dir}; Ctrl-C stops)",
          file=sys.stderr, flush=True)
    # jobs run on compute's executor, so a request never waits for one
    make_server(app.server, host, port, access_log).run()
