"""The line under the header of every view while the demo runs train (app/demo.py):

    training demo runs: relu-mnist/small seed 0 42% (epoch 6/12), 2 more queued

polled every second from the job layer (app.demo.demo_status) and gone once every training job is
over. Each poll also notes the runs recorded (the RUNS store); when a run appears, the run pickers
of the view on screen get their new options (`refresh_pickers`), so a finished demo run can be
picked without a reload. Redis unreachable: the banner stays as it was and the poll backs off.
"""

from __future__ import annotations

from dash import ALL, Input, Output, State, ctx as dash_ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from compute.service_errors import RedisUnavailable

from . import ids, pages, params, urls
from .callbacks import choice_options
from .demo import demo_status, label_of
from .runs import RunCatalog, load_catalog

POLL_MS = 1000
MAX_POLL_MS = 8000


def placeholder(catalog: RunCatalog) -> html.Div:
    """The banner's place in the shell, its poll and the runs it last saw. The poll starts only
    where demo runs train when the page is laid out: other pages make no request for it."""
    try:
        active = demo_status(catalog.trained())["active"]
    except RedisUnavailable:  # the page asks, with back-off
        active = True
    return html.Div([
        html.Div(id=ids.TRAINING, className="training"),
        dcc.Interval(id=ids.TRAINING_POLL, interval=POLL_MS, disabled=not active),
        dcc.Store(id=ids.RUNS, data=run_ids(catalog)),
    ])


def run_ids(catalog: RunCatalog) -> list[str]:
    return sorted(r.id for r in catalog.runs)


def banner_text(status: dict) -> str | None:
    """'training demo runs: relu-mnist/small seed 0 42% (epoch 6/12), 2 more queued' (with a
    failed job's message after it); None when no training job is active or failed."""
    entries = status["training"]
    running = [e for e in entries if e["state"] == "running"]
    queued = [e for e in entries if e["state"] == "pending"]
    failed = [e for e in entries if e["state"] in ("failed", "cancelled")]
    parts = []
    for e in running:
        where = f" (epoch {e['epoch']}/{e['epochs']})" if e["epoch"] is not None else ""
        parts.append(f"{label_of(e)} {e['percent']:.0f}%{where}")
    if queued:
        parts.append(f"{len(queued)} more queued" if running else f"{len(queued)} queued")
    text = "training demo runs: " + ", ".join(parts) if parts else ""
    problems = "; ".join(f"{label_of(e)} {e['state']}" + (f": {e['error']}" if e["error"] else "") for e in failed)
    if problems:
        text = f"{text} — demo run {problems}" if text else f"demo run {problems}"
    return text or None


def _banner(text: str, status: dict) -> html.Div:
    running = [e["percent"] for e in status["training"] if e["state"] == "running"]
    children = [html.Span(text, className="training-text", id="training-text")]
    if running:  # the bar of the run under way
        bar = html.Div(className="bar", style={"width": f"{running[0]:.1f}%"})
        children.insert(0, html.Div(bar, className="track"))
    return html.Div(children, className="training-box", id="training-banner", role="status")


def register(app) -> None:
    choice_all = {"ctl": ALL, "view": ALL, "kind": ids.CHOICE}

    @app.callback(
        Output(ids.TRAINING, "children"), Output(ids.TRAINING_POLL, "disabled"),
        Output(ids.TRAINING_POLL, "interval"), Output(ids.RUNS, "data"),
        Input(ids.TRAINING_POLL, "n_intervals"), State(ids.RUNS, "data"), State(ids.TRAINING_POLL, "interval"))
    def poll(_n, seen, interval):
        catalog = load_catalog()
        runs = run_ids(catalog)
        try:
            status = demo_status(catalog.trained())
        except RedisUnavailable:  # the training goes on (or waits) meanwhile: ask again, less often
            return no_update, False, min(MAX_POLL_MS, 2 * int(interval or POLL_MS)), no_update
        text = banner_text(status)
        shown = _banner(text, status) if text else None
        return shown, not status["active"], POLL_MS, runs if runs != seen else no_update

    @app.callback(Output(choice_all, "options", allow_duplicate=True), Output(ids.URL, "href", allow_duplicate=True),
                  Output(ids.PAGE, "children", allow_duplicate=True), Input(ids.RUNS, "data"),
                  State(ids.ADDRESS, "data"), prevent_initial_call=True)
    def refresh_pickers(_runs, address):
        if not address:
            raise PreventUpdate
        catalog = load_catalog()
        if address.get("page"):  # /, /runs: laid out again with the new runs
            page = pages.PAGES[address["view"]]
            return [no_update] * len(dash_ctx.outputs_list[0]), no_update, page.layout(
                address["href"].partition("?")[2], catalog)
        state = params.load_state(address["state"])
        options = choice_options(state, catalog, dash_ctx.outputs_list[0])
        if "run" in state and state["run"] is None and catalog.runs:
            # a view opened before any run existed: it shows the first run as soon as there is one
            return options, urls.href(urls.canonical(state, catalog)), no_update
        return options, no_update, no_update
