"""The shell's callbacks, the same for every view (they find a view's components by the
pattern-matching ids of app/ids.py):

  sync    address <-> form. From the address (page load, Back/Forward, a link): parse it, fill
          the form, show what was ignored. From the form: validate what was edited (message
          next to the field), write the new address without reloading.
  track   address -> the view's queries -> the job layer (cached ones are done at once); then,
          while a job runs, polls it: progress bar, and `tick`, which changes only when a
          job's state changes.
  draw    jobs' results -> the view's figures.

The address is the single source of truth: jobs follow the address, never the form, so a
view opened from a shared link is computed exactly as the one it was copied from.
"""

from __future__ import annotations

import json

from dash import ALL, Input, Output, State, ctx as dash_ctx, html, no_update
from dash.exceptions import PreventUpdate

from models.errors import BadInput

from . import ids, jobclient, urls
from .runs import load_catalog
from .views import PARAMS, VIEWS

HIDDEN = {"display": "none"}
SHOWN: dict = {}


def _active_controls(inputs: list[dict], view: str) -> dict:
    return {i["id"]["ctl"]: i.get("value") for i in inputs if i["id"]["view"] == view}


def _edited(view: str) -> set[str]:
    out = set()
    for t in dash_ctx.triggered:
        prop = t.get("prop_id", "")
        if prop.startswith("{"):
            cid = json.loads(prop.rsplit(".", 1)[0])
            if cid.get("view") == view and "ctl" in cid:
                out.add(cid["ctl"])
    return out


def _notice(notices: list[str]):
    if not notices:
        return None
    return html.Div([html.Strong("Some of the address could not be used and was replaced by defaults:"),
                     html.Ul([html.Li(n) for n in notices])], className="notice-box")


def _progress_bar(done: int, total: int, running: int):
    if running == 0:
        return None
    pct = 100.0 * done / total if total else None
    label = f"computing {running} job{'s' if running > 1 else ''}" + (f": part {done} of {total}" if total else "…")
    bar = html.Div(className="bar" + ("" if pct is not None else " indeterminate"),
                   style={"width": f"{pct:.1f}%"} if pct is not None else {})
    return html.Div([html.Div(bar, className="track"), html.Span(label, className="progress-label"),
                     html.Button("cancel", id=ids.CANCEL, className="btn btn-quiet btn-small")],
                    className="progress-box")


def register(app) -> None:
    ctl_all = {"ctl": ALL, "view": ALL, "kind": ALL}
    choice_all = {"ctl": ALL, "view": ALL, "kind": ids.CHOICE}

    @app.callback(
        Output(ids.URL, "href"),
        Output(ctl_all, "value"), Output(choice_all, "options"),
        Output({"err": ALL, "view": ALL}, "children"), Output({"fieldbox": ALL, "view": ALL}, "style"),
        Output({"viewbox": ALL}, "style"), Output({"nav": ALL}, "href"), Output({"nav": ALL}, "className"),
        Output({"export": ALL, "view": ALL}, "href"), Output(ids.NOTICE, "children"), Output(ids.CANONICAL, "data"),
        Input(ids.URL, "pathname"), Input(ids.URL, "search"), Input(ctl_all, "value"), Input(ids.EDIT, "data"),
        State(ids.CANONICAL, "data"))
    def sync(pathname, search, _values, edit, replaced):
        catalog = load_catalog()
        trigger = dash_ctx.triggered_id
        from_address = trigger is None or trigger == ids.URL
        parsed = urls.parse(pathname, search, catalog)
        state, notices, errors = parsed.state, parsed.notices, {}
        view = state["view"]
        if trigger == ids.EDIT:  # a view's own edit (a zoom window, a camera): values as the form holds them
            if edit.get("view") != view:
                raise PreventUpdate
            state, errors = urls.from_controls(state, edit["values"], set(edit["values"]), catalog)
            notices = []
        elif not from_address:
            values = _active_controls(dash_ctx.inputs_list[2], view)
            state, errors = urls.from_controls(state, values, _edited(view), catalog)
            notices = []
        new_path, new_search = urls.path(state), urls.search(state)
        outputs = dash_ctx.outputs_list

        controls, options = [], []
        for item in outputs[1]:
            cid = item["id"]
            name = cid["ctl"]
            if cid["view"] != view or name in errors:
                controls.append(no_update)  # an invalid entry stays as typed, to be corrected
            else:
                controls.append(urls.to_control(name, state.get(name)))
        for item in outputs[2]:
            cid = item["id"]
            param = PARAMS[cid["ctl"]]
            options.append(param.options(state, catalog) if cid["view"] == view and param.options else no_update)
        field_errors = [errors.get(i["id"]["err"], "") if i["id"]["view"] == view else ""
                        for i in outputs[3]]
        boxes = [(SHOWN if PARAMS[i["id"]["fieldbox"]].relevant(state) else HIDDEN)
                 if i["id"]["view"] == view else no_update for i in outputs[4]]
        views = [SHOWN if i["id"]["viewbox"] == view else HIDDEN for i in outputs[5]]
        navs = [urls.href(state, i["id"]["nav"]) for i in outputs[6]]
        nav_classes = ["nav-link active" if i["id"]["nav"] == view else "nav-link" for i in outputs[7]]
        exports = [urls.api_href(state, i["id"]["export"]) if i["id"]["view"] == view else no_update
                   for i in outputs[8]]
        if from_address:
            # The address bar gets the canonical form by replaceState (app/layout.py), not a new
            # history entry: pushing one here would trap Back on an address that redirects.
            canonical = new_path + new_search
            raw = (pathname or "/") + (search or "")
            # our own replacement of a typed address arriving back: keep the notice about it
            notice = no_update if raw == replaced and not notices else _notice(notices)
            return (no_update, controls, options, field_errors, boxes, views, navs, nav_classes,
                    exports, notice, canonical if canonical != raw else no_update)
        new_href = new_path + new_search
        # a new history entry, so that Back returns to the previous view
        href = new_href if new_href != (pathname or "/") + (search or "") else no_update
        return (href, controls, options, field_errors, boxes, views, navs, nav_classes, exports, _notice(notices),
                no_update)

    @app.callback(
        Output(ids.JOBS, "data"), Output(ids.TICK, "data"), Output(ids.POLL, "disabled"),
        Output(ids.PROGRESS, "children"),
        Input(ids.URL, "pathname"), Input(ids.URL, "search"), Input(ids.POLL, "n_intervals"),
        State(ids.JOBS, "data"), State(ids.TICK, "data"))
    def track(pathname, search, _n, spec, tick):
        # Submitting and polling are one callback on purpose: Dash drops the answer of a call
        # that a newer call of the same callback supersedes, so a late poll of the previous
        # address can never overwrite the jobs (or stop the polling) of the current one.
        catalog = load_catalog()
        state = urls.parse(pathname, search, catalog).state
        if not spec or spec.get("href") != urls.href(state):
            spec = _submit(state, catalog)
            new_spec = spec
        else:
            new_spec = no_update
        if not spec["keys"]:
            return new_spec, None, True, None
        outs = jobclient.outcomes(spec["keys"], with_results=False)
        new_tick = {"href": spec["href"], "states": {k: o.state for k, o in outs.items()}}
        all_done = all(jobclient.finished(o.state) for o in outs.values())
        return (new_spec, new_tick if new_tick != tick else no_update, all_done,
                _progress_bar(*jobclient.progress(outs)))

    @app.callback(Output(ids.STATUS, "children", allow_duplicate=True), Input(ids.CANCEL, "n_clicks"),
                  State(ids.JOBS, "data"), prevent_initial_call=True)
    def cancel(n, spec):
        if not n or not spec:
            return no_update
        jobclient.cancel(spec.get("keys") or {})
        return html.Span("cancelled", className="status-note")

    @app.callback(
        Output({"graph": ALL, "view": ALL}, "figure"), Output(ids.STATUS, "children"),
        Input(ids.JOBS, "data"), Input(ids.TICK, "data"))
    def draw(spec, _tick):
        graphs = dash_ctx.outputs_list[0]
        if not spec:
            return [no_update] * len(graphs), no_update
        catalog = load_catalog()
        path, _, query = spec["href"].partition("?")
        state = urls.parse(path, query, catalog).state
        view = VIEWS[spec["view"]]
        outs = jobclient.outcomes(spec["keys"])
        figures = view.draw(state, catalog, outs)
        out = [figures.get(g["id"]["graph"], no_update) if g["id"]["view"] == view.name else no_update
               for g in graphs]
        return out, _status(spec, outs)


def _submit(state: dict, catalog) -> dict:
    """The view's queries for `state`, submitted (cached ones are done at once)."""
    view = VIEWS[state["view"]]
    spec = {"view": view.name, "href": urls.href(state), "keys": {}, "cached": False, "error": None}
    try:
        spec["keys"], spec["cached"] = jobclient.submit(view.queries(state, catalog))
    except BadInput as exc:  # nothing can run (no runs, a pair without its second run, Redis down...)
        spec["error"] = {"field": exc.field, "message": exc.message}
    return spec


def _status(spec: dict, outs: dict) -> object:
    if spec.get("error"):
        err = spec["error"]
        where = f"{err['field']}: " if err.get("field") else ""
        return html.Span(f"Not computed — {where}{err['message']}", className="status-error")
    failed = [o for o in outs.values() if o.state == "failed"]
    if failed:
        return html.Span("A job failed: " + "; ".join(o.error or "unknown error" for o in failed),
                         className="status-error")
    if outs and all(o.ready for o in outs.values()):
        return html.Span("from the cache" if spec.get("cached") else "computed", className="status-note",
                         id="status-cache", **{"data-cache": "hit" if spec.get("cached") else "miss"})
    return None
