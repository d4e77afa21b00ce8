"""The shell's callbacks, the same for every view (they find a view's components by the
pattern-matching ids of app/ids.py):

  sync    address <-> form. From the address (page load, Back/Forward, a link): parse it, the
          one time an address is parsed; submit the view's queries to the job layer (cached ones
          are done at once) and keep the state and the jobs' keys in the ADDRESS store; show what
          was ignored. A view opened (page load, a nav link, or a param of its `relayout_on`
          changed) is laid out here, alone, its controls filled from the state, and with its
          figures when every query is cached: a cached address is drawn by this one round trip.
          The same view at another address gets its form's values instead (the coarse curve and
          the camera stay on screen). /, /runs and /help (app/pages/) are laid out the same way.
          From the form (or a view's own edit: a zoom window, a camera): validate what was edited
          against the stored state (message next to the field), write the new address without
          reloading.
  track   ADDRESS store -> while a job runs, polls it: progress bar (or where it waits: "queued
          behind 2 other jobs, ~40 s"), and `tick`, which changes only when a job's state
          changes. Redis unreachable is not a failed job: the page says so and polls on, backing
          off (POLL_MS doubled up to MAX_POLL_MS), and draws the result once Redis is back.
  draw    ADDRESS store + jobs' results -> the view's figures (none when `sync` drew them).

The address is the single source of truth: jobs follow the address, never the form, so a
view opened from a shared link is computed exactly as the one it was copied from.

Not Dash's `pages` (register_page, layout(**query)): its router re-renders the page's layout on
every change of the query string, i.e. at every edit here (each α typed, each zoom), which would
drop the coarse curve kept on screen while a zoomed one computes, the Plotly camera and the
focus of the field being typed in, and parse the address a second time; its views are found by
importing modules (pages_folder) rather than listed. One shell whose page `sync` lays out only
when the view changes, with the address read once by `sync`, keeps all of that.
"""

from __future__ import annotations

import json

from dash import ALL, Input, Output, State, ctx as dash_ctx, html, no_update
from dash.exceptions import PreventUpdate

from models.errors import BadInput
from compute.service_errors import RedisUnavailable, ServiceError

from . import ids, jobclient, pages, params, urls
from .runs import load_catalog
from .views import PARAMS, VIEWS

POLL_MS = 250  # the progress poll while jobs run (app/layout.py starts it at this)
MAX_POLL_MS = 8000  # the longest wait between polls while Redis is unreachable
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


def _progress_bar(done: int, total: int, running: int, waiting: str | None = None):
    if running == 0:
        return None
    pct = 100.0 * done / total if total else None
    label = f"computing {running} job{'s' if running > 1 else ''}" + (f": part {done} of {total}" if total else "…")
    if waiting and not done:
        label = waiting
    bar = html.Div(className="bar" + ("" if pct is not None else " indeterminate"),
                   style={"width": f"{pct:.1f}%"} if pct is not None else {})
    return html.Div([html.Div(bar, className="track"), html.Span(label, className="progress-label"),
                     html.Button("cancel", id=ids.CANCEL, className="btn btn-quiet btn-small")],
                    className="progress-box")


def register(app) -> None:
    ctl_all = {"ctl": ALL, "view": ALL, "kind": ALL}
    choice_all = {"ctl": ALL, "view": ALL, "kind": ids.CHOICE}

    @app.callback(
        Output(ids.URL, "href"), Output(ids.PAGE, "children"),
        Output(ctl_all, "value"), Output(choice_all, "options"),
        Output({"err": ALL, "view": ALL}, "children"), Output({"fieldbox": ALL, "view": ALL}, "style"),
        Output({"export": ALL, "view": ALL}, "href"), Output({"nav": ALL}, "href"), Output({"nav": ALL}, "className"),
        Output(ids.NOTICE, "children"), Output(ids.CANONICAL, "data"),
        Output(ids.ADDRESS, "data"), Output(ids.HELP_LINK, "href"),
        Input(ids.URL, "pathname"), Input(ids.URL, "search"), Input(ctl_all, "value"), Input(ids.EDIT, "data"),
        State(ids.ADDRESS, "data"))
    def sync(pathname, search, _values, edit, current):
        catalog = load_catalog()
        trigger = dash_ctx.triggered_id
        raw = (pathname or "/") + (search or "")
        if trigger is None and current:
            raise PreventUpdate  # the controls of a page this callback has just laid out, not an edit
        from_address = trigger is None or trigger == ids.URL or not current
        if from_address:
            if current and raw == current["href"]:
                # the address already read: our own canonical replacement of a typed address
                # arriving back (its notice stays), or nothing new
                raise PreventUpdate
            page = pages.page_of(pathname)
            if page is not None:  # /, /runs, /help: no form, no jobs
                return (no_update, page.layout(search, catalog), *_untouched(), *_nav_links(None),
                        None, no_update, pages.address(raw, page.name), no_update)
            parsed = urls.parse(pathname, search, catalog)
            state, notices, errors = parsed.state, parsed.notices, {}
        else:
            if current.get("page"):
                raise PreventUpdate
            state, notices = params.load_state(current["state"]), []
            if trigger == ids.EDIT:  # a view's own edit (a zoom window, a camera), as the form holds it
                if edit.get("view") != state["view"]:
                    raise PreventUpdate
                values, edited = edit["values"], set(edit["values"])
            else:
                values, edited = _active_controls(dash_ctx.inputs_list[2], state["view"]), _edited(state["view"])
            state, errors = urls.from_controls(state, values, edited, catalog)
        new_href = urls.href(state)
        help_href = pages.help_href(new_href)
        if not from_address:  # a new history entry, so that Back returns to the previous view
            return (new_href if new_href != raw else no_update, no_update, *_form(state, errors, catalog),
                    *_nav_links(state), _notice(notices), no_update, no_update, help_href)
        address = _address(state, catalog)
        canonical = new_href if new_href != raw else no_update
        # The address bar gets the canonical form by replaceState (app/layout.py), not a new
        # history entry: pushing one here would trap Back on an address that redirects.
        if current and not current.get("page") and current["view"] == state["view"] and not _relayout(state, current):
            # the same view (Back/Forward, our own edit's address): its controls follow; `draw` draws
            return (no_update, no_update, *_form(state, errors, catalog), *_nav_links(state), _notice(notices),
                    canonical, address, help_href)
        # a view opened (page load, a nav link): only it is laid out, with its figures when every
        # query is cached, so that a cached address is drawn by this one round trip
        return (no_update, _laid_out(state, catalog, address), *_untouched(), *_nav_links(state), _notice(notices),
                canonical, address, help_href)

    @app.callback(
        Output(ids.TICK, "data"), Output(ids.POLL, "disabled"), Output(ids.PROGRESS, "children"),
        Output(ids.POLL, "interval"),
        Input(ids.ADDRESS, "data"), Input(ids.POLL, "n_intervals"), State(ids.TICK, "data"),
        State(ids.POLL, "interval"))
    def track(address, _n, tick, interval):
        # Dash drops the answer of a call that a newer call of the same callback supersedes, so a
        # late poll of the previous address can never overwrite the tick (or stop the polling) of
        # the current one.
        if not address or not address["keys"]:
            return None, True, None, POLL_MS
        if address.get("cached"):  # every job was done when submitted: nothing to poll
            return no_update, True, None, POLL_MS
        try:
            outs = jobclient.outcomes(address["keys"], with_results=False)
        except RedisUnavailable as exc:  # the jobs go on (or wait) meanwhile: poll on, less often
            later = min(MAX_POLL_MS, max(POLL_MS, int(interval or POLL_MS)) * 2)
            return no_update, False, html.Div(f"{exc.message}; asking again in {later / 1000:g} s",
                                              className="status-error", id="status-outage"), later
        new_tick = {"href": address["href"], "states": {k: o.state for k, o in outs.items()}}
        all_done = all(jobclient.finished(o.state) for o in outs.values())
        waiting = next((o.waiting for o in outs.values() if o.waiting), None)
        return (new_tick if new_tick != tick else no_update, all_done,
                _progress_bar(*jobclient.progress(outs), waiting), POLL_MS)

    @app.callback(Output(ids.STATUS, "children", allow_duplicate=True), Input(ids.CANCEL, "n_clicks"),
                  State(ids.ADDRESS, "data"), prevent_initial_call=True)
    def cancel(n, address):
        if not n or not address:
            return no_update
        jobclient.cancel(address.get("keys") or {})
        return html.Span("cancelled", className="status-note")

    @app.callback(
        Output({"graph": ALL, "view": ALL}, "figure"), Output(ids.STATUS, "children"),
        Input(ids.ADDRESS, "data"), Input(ids.TICK, "data"))
    def draw(address, tick):
        graphs = dash_ctx.outputs_list[0]
        if not address:
            return [no_update] * len(graphs), no_update
        if address.get("page"):  # /, /runs, /help: no figures, no jobs' status
            return [no_update] * len(graphs), None
        view = VIEWS[address["view"]]
        # laid out with its figures by `sync` (every query cached): only the status is left to show
        drawn = address.get("drawn") and (tick or {}).get("href") != address["href"]
        try:
            outs = jobclient.outcomes(address["keys"])
        except RedisUnavailable:  # `track` says so and polls on; drawn when Redis is back
            return [no_update] * len(graphs), no_update
        if drawn:
            return [no_update] * len(graphs), _status(address, outs)
        figures = view.draw(params.load_state(address["state"]), load_catalog(), outs)
        out = [figures.get(g["id"]["graph"], no_update) if g["id"]["view"] == view.name else no_update
               for g in graphs]
        return out, _status(address, outs)


def _form(state: dict, errors: dict[str, str], catalog) -> tuple:
    """What the form of the view on screen shows of `state`: its controls (an invalid entry stays
    as typed, to be corrected), their options, messages and visibility, and the data links."""
    view, outputs = state["view"], dash_ctx.outputs_list
    controls = [urls.to_control(i["id"]["ctl"], state.get(i["id"]["ctl"]))
                if i["id"]["view"] == view and i["id"]["ctl"] not in errors else no_update for i in outputs[2]]
    options = choice_options(state, catalog, outputs[3])
    field_errors = [errors.get(i["id"]["err"], "") if i["id"]["view"] == view else "" for i in outputs[4]]
    boxes = [(SHOWN if PARAMS[i["id"]["fieldbox"]].shown(state, catalog) else HIDDEN)
             if i["id"]["view"] == view else no_update for i in outputs[5]]
    exports = [urls.api_href(state, i["id"]["export"]) if i["id"]["view"] == view else no_update
               for i in outputs[6]]
    return controls, options, field_errors, boxes, exports


def _relayout(state: dict, current: dict) -> bool:
    """Whether the view on screen is laid out again for `state`: a param its labels follow changed."""
    before = params.load_state(current["state"])
    return any(state.get(name) != before.get(name) for name in VIEWS[state["view"]].relayout_on)


def _untouched() -> tuple:
    """The form outputs of a page being replaced: its components go with it."""
    return tuple([no_update] * len(dash_ctx.outputs_list[i]) for i in range(2, 7))


def _nav_links(state: dict | None) -> tuple:
    """The nav links' addresses (carrying the run and settings of `state`) and which is active."""
    outputs = dash_ctx.outputs_list
    navs = [urls.href(state, i["id"]["nav"]) if state else f"/{i['id']['nav']}" for i in outputs[7]]
    active = state["view"] if state else None
    return navs, ["nav-link active" if i["id"]["nav"] == active else "nav-link" for i in outputs[8]]


def _laid_out(state: dict, catalog, address: dict):
    """The layout of the view of `state`: its controls filled from it, its data links, and, when
    every query is cached (`address["cached"]`), its figures (`address["drawn"]`)."""
    view = VIEWS[state["view"]]
    tree = view.layout(state, catalog)
    figures: dict = {}
    if address["cached"] and not address["error"]:
        try:
            figures = view.draw(state, catalog, jobclient.outcomes(address["keys"]))
            address["drawn"] = True
        except RedisUnavailable:
            figures = {}
    for component in _walk(tree):
        cid = getattr(component, "id", None)
        if not isinstance(cid, dict) or cid.get("view") != view.name:
            continue
        if "graph" in cid and cid["graph"] in figures:
            component.figure = figures[cid["graph"]]
        elif "export" in cid:
            component.href = urls.api_href(state, cid["export"])
    return tree


def _walk(component):
    yield component
    children = getattr(component, "children", None)
    if isinstance(children, (list, tuple)):
        for child in children:
            yield from _walk(child)
    elif children is not None and hasattr(children, "to_plotly_json"):
        yield from _walk(children)


def choice_options(state: dict, catalog, items: list[dict]) -> list:
    """The options of the choice controls `items` (a Dash outputs list): those of the view on
    screen made from `state` and `catalog` (the runs known now), no_update for the others'."""
    out = []
    for item in items:
        param = PARAMS[item["id"]["ctl"]]
        out.append(param.options(state, catalog) if item["id"]["view"] == state["view"] and param.options
                   else no_update)
    return out


def _address(state: dict, catalog) -> dict:
    """The ADDRESS store of `state`: the view's queries submitted (cached ones are done at once)."""
    view = VIEWS[state["view"]]
    address = {"href": urls.href(state), "view": view.name, "state": params.dump_state(state), "keys": {},
               "cached": False, "error": None}
    try:
        address["keys"], address["cached"] = jobclient.submit(view.queries(state, catalog))
    except (BadInput, ServiceError) as exc:  # nothing can run (no runs, a pair without its second run, Redis down...)
        address["error"] = {"field": exc.field, "message": exc.message}
    return address


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
        note = html.Span("from the cache" if spec.get("cached") else "computed", className="status-note",
                         id="status-cache", **{"data-cache": "hit" if spec.get("cached") else "miss"})
        overflow = nonfinite_note(outs)
        return note if overflow is None else html.Span([note, " — ", html.Span(overflow, className="status-error",
                                                                                  id="status-overflow")])
    return None


def nonfinite_note(outs: dict) -> str | None:
    """'J overflowed (inf/NaN) on train at α = 0.25, 0.5 (3 points)': where a result's cost is not
    a number (a result's `meta.nonfinite_alpha`, per split); None when every value is finite."""
    parts = []
    for o in outs.values():
        where = ((o.result or {}).get("meta") or {}).get("nonfinite_alpha") or {}
        for split, alphas in where.items():
            shown = ", ".join(f"{a:g}" for a in alphas[:4]) + (", …" if len(alphas) > 4 else "")
            parts.append(f"on {split} at α = {shown} ({len(alphas)} point{'s' if len(alphas) > 1 else ''})")
    return "J overflowed (inf/NaN) " + "; ".join(parts) if parts else None
