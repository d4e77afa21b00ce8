"""The address holds the whole view: URL <-> state, the one place that reads or writes it.

A view's address is `/<view>?<param>=<value>&...`, e.g.

    /line?run=relu-mnist-small-s0-64f65c7582&pair=init&alpha=-0.25:1.25&points=50
          &splits=train,valid&metric=cost&y=linear&zoom=0:0.01

A *state* is a plain dict: {"view": name, param: value, ...} with typed values (str, int,
float, tuples). `parse` turns an address into a state and `search`/`href` turn a state back into
its canonical address; every link, download URL, history entry and API call is made by them.
`parse` never fails: an unknown or invalid value falls back to its default and is reported in
`notices` (the page shows them); with `strict=True` (the JSON API) the first problem raises
`BadInput` instead.

These are plain functions over the tables of app/views/__init__.py: the views (`VIEWS`), each
listing its parameters (app/params.py), and every parameter by name (`PARAMS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

from models.errors import BadInput

from .params import Param, State, control_text
from .runs import RunCatalog
from .views import DEFAULT_VIEW, PARAMS, VIEWS


# --- parse / format --------------------------------------------------------------------------

@dataclass
class Parsed:
    state: State
    notices: list[str] = field(default_factory=list)


def view_of(pathname: str | None) -> str | None:
    """'/line' -> 'line'; '/' or '' -> the default view; an unknown path -> None."""
    name = (pathname or "/").strip("/").split("/")[0]
    if name == "":
        return DEFAULT_VIEW
    return name if name in VIEWS else None


def parse(pathname: str | None, search: str | None, catalog: RunCatalog, strict: bool = False) -> Parsed:
    """The state an address asks for; what cannot be used is replaced by defaults and noticed."""
    notices: list[str] = []

    def problem(message: str, name: str | None, strict_message: str | None = None) -> None:
        if strict:
            raise BadInput(strict_message or message, field=name)
        notices.append(message)

    view = view_of(pathname)
    if view is None:
        problem(f"unknown page {pathname!r}: showing the {DEFAULT_VIEW} view", "view")
        view = DEFAULT_VIEW
    given: dict[str, str] = {}
    for key, value in parse_qsl((search or "").lstrip("?"), keep_blank_values=True):
        given[key] = value  # a repeated key: the last one wins, as in most web frameworks
    state: State = {"view": view}
    for param in VIEWS[view].params:
        name = param.name
        text = given.pop(name, None)
        if text is None or (text == "" and not _accepts_empty(param, state, catalog)):
            if text is not None and strict:  # the API: an empty value is not "the default"
                raise BadInput(f"{name}='': empty (leave the parameter out for its default)", field=name)
            state[name] = param.default(state, catalog)
            continue
        try:
            state[name] = param.parse(text, state, catalog)
        except BadInput as exc:
            state[name] = param.default(state, catalog)
            shown = param.format(state[name])
            problem(f"{name}={text!r} ignored: {exc.message}" + (f" (using {shown})" if shown else ""), name,
                    f"{name}={text!r}: {exc.message}")
    for param in VIEWS[view].params:  # a value the view would not use: say so, it was typed by someone
        name = param.name
        if name in state and not param.relevant(state) and name in _given_names(search):
            problem(f"{name} ignored: not used with pair={state.get('pair')}", name)
    for key in given:
        where = "not used by the " + view + " view" if key in PARAMS else "unknown parameter"
        problem(f"{key} ignored: {where}", key)
    return Parsed(state, notices)


def _given_names(search: str | None) -> set[str]:
    return {k for k, _ in parse_qsl((search or "").lstrip("?"), keep_blank_values=True)}


def _accepts_empty(param: Param, state: State, catalog: RunCatalog) -> bool:
    try:
        param.parse("", state, catalog)
        return True
    except BadInput:
        return False


def path(state: State) -> str:
    return f"/{state['view']}"


def search(state: State) -> str:
    """The canonical query string of `state` (with the leading '?'; '' when there is nothing)."""
    parts = []
    for param in VIEWS[state["view"]].params:
        name = param.name
        if name not in state or state[name] is None or not param.relevant(state):
            continue  # left out: parsing fills in the default
        text = param.format(state[name])
        if text != "":
            parts.append(f"{name}={quote(text, safe=':,-._~')}")
    return "?" + "&".join(parts) if parts else ""


def href(state: State, view: str | None = None) -> str:
    """The address of `state` (or of the same run and settings in another view)."""
    if view is not None and view != state["view"]:
        state = carry(state, view)
    return path(state) + search(state)


def api_href(state: State, fmt: str = "json") -> str:
    """The view's JSON (or CSV) twin, à la Datasette: /api/line.json?<the same query string>."""
    return f"/api/{state['view']}.{fmt}{search(state)}"


def carry(state: State, view: str) -> State:
    """The state of `view` keeping what it shares with `state` (run, ranges, splits...).
    Values that do not fit the other view are re-derived when the address is parsed."""
    out = {"view": view}
    for name in VIEWS[view].param_names:
        if name in state and name != "y":  # the y scale's default differs per view (log for compare)
            out[name] = state[name]
    return out


def canonical(state: State, catalog: RunCatalog) -> State:
    """The state its own address parses to: values the view does not use are re-derived."""
    return parse(path(state), search(state), catalog).state


def default_state(view: str, catalog: RunCatalog) -> State:
    """`view` with every parameter at its default: the state `/<view>` opens, made without parsing."""
    state: State = {"view": view}
    for param in VIEWS[view].params:
        state[param.name] = param.default(state, catalog)
    return state


# --- form controls -------------------------------------------------------------------------------

def to_control(name: str, value: Any) -> Any:
    """A value as its form control holds it (a list for multi controls, text otherwise)."""
    return PARAMS[name].control_value(value)


def from_controls(base: State, values: dict[str, Any], edited: set[str],
                  catalog: RunCatalog) -> tuple[State, dict[str, str]]:
    """The state a form asks for: `base` (the current address's state) with the form's values.

    Returns the new state and, for the controls the person just `edited`, a message per
    invalid value. Any invalid value keeps the address's value (or falls back to its default
    where the address's value no longer fits, e.g. a step of another run), so the address only
    ever holds a valid view.
    """
    view = base["view"]
    state: State = {"view": view}
    errors: dict[str, str] = {}
    for param in VIEWS[view].params:
        name = param.name
        candidates = []
        if name in values:
            candidates.append(control_text(values[name]))
        if name in base:
            candidates.append(param.format(base[name]))
        state[name] = _MISSING
        for i, text in enumerate(candidates):
            if text == "" and not _accepts_empty(param, state, catalog):
                continue
            try:
                state[name] = param.parse(text, state, catalog)
                break
            except BadInput as exc:
                if i == 0 and name in values and name in edited and param.relevant(state):
                    errors[name] = exc.message
        if state[name] is _MISSING:
            state[name] = param.default(state, catalog)
    return state, errors


_MISSING = object()
