"""The Dash app and `landscape serve`.

    landscape serve --demo --host 127.0.0.1 --port 8050     # what `make serve` runs

Embedded default: one process, jobs on a local executor, results in the on-disk cache under
$LANDSCAPE_HOME/cache. With REDIS_URL set the same app uses the Redis cache and the Celery
workers behind compute.jobs.get_jobs(). `create_app()` is also what tests and gunicorn use
(`gunicorn 'app.server:wsgi()'`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from compute.store import Store


def create_app():
    """A fresh Dash app: the shell, the views (app/views), their callbacks and the JSON API."""
    from dash import Dash, Input, Output

    from . import api, callbacks, ids, layout, training_banner
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
    return app


def wsgi():
    return create_app().server


def serve(host: str = "127.0.0.1", port: int = 8050, demo: bool = False) -> None:
    """Serve at once; with `demo`, the missing demo runs are submitted as training jobs to the job
    layer (app/demo.py) from a background thread, which watches them until they are over (so they
    are never cancelled as unwatched); the pages show their progress and each run as it finishes."""
    store = Store()
    if demo:
        import threading

        from .demo import ensure_demo_runs

        threading.Thread(target=ensure_demo_runs, args=(store,), name="landscape-demo", daemon=True).start()
    app = create_app()
    runs = len(store.list_runs())
    print(f"Landscape: http://{host}:{port}/  ({runs} runs in {store.runs_dir}; Ctrl-C stops)",
          file=sys.stderr, flush=True)
    # Flask's threaded server: jobs run on compute's executor, so a request never waits for one
    app.run(host=host, port=port, debug=False, threaded=True)
