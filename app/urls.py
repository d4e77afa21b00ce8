"""The address holds the whole view: URL <-> state, the one place that reads or writes it.

A view's address is `/<view>?<param>=<value>&...`, e.g.

    /line?run=relu-mnist-small-s0-64f65c7582&pair=init&alpha=-0.25:1.25&points=50
          &splits=train,valid&metric=cost&y=linear&zoom=0:0.01

A *state* is a plain dict: {"view": name, param: value, ...} with typed values (str, int,
float, tuples). `parse` turns an address into a state and `format`/`href` turn a state back into
its canonical address; every link, download URL, history entry and API call is made by them.
`parse` never fails: an unknown or invalid value falls back to its default and is reported in
`notices` (the page shows them); with `strict=True` (the JSON API) the first problem raises
`BadInput` instead.

Parameters are a small registry (`Param`, `register_param`); each view lists the ones it uses
(`register_view`). A value's text form is the same in the address and in its form control, so
the form is validated by the very parsers that validate addresses: compute.queries' parsers,
which raise BadInput with a field and a message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl, quote

from models.errors import BadInput
from compute.queries import Endpoint, parse_dropout_samples, parse_points, parse_range, parse_splits

from .figures import METRIC_LABELS, SPLIT_NAMES
from .runs import RunCatalog

State = dict  # {"view": str, param name: value}


def _always(state: State) -> bool:
    return True


@dataclass(frozen=True)
class Param:
    """One URL parameter and form control.

    parse(text, state, catalog) -> value, raising BadInput; `state` holds the params parsed before
    this one (a view lists `run` before the params that depend on it).
    """

    name: str
    parse: Callable[[str, State, RunCatalog], Any]
    format: Callable[[Any], str]
    default: Callable[[State, RunCatalog], Any]
    relevant: Callable[[State], bool] = _always  # shown and written to the URL only when true
    options: Callable[[State, RunCatalog], list[dict]] | None = None  # for choice controls
    multi: bool = False  # the control's value is a list (checklist, multi-select)
    help: str = ""


PARAMS: dict[str, Param] = {}
VIEW_PARAMS: dict[str, tuple[str, ...]] = {}  # view name -> its params, in dependency order
DEFAULT_VIEW = "line"


def register_param(param: Param) -> Param:
    PARAMS[param.name] = param
    return param


def register_view(name: str, params: tuple[str, ...]) -> None:
    unknown = [p for p in params if p not in PARAMS]
    if unknown:
        raise KeyError(f"view {name}: unregistered params {unknown}")
    VIEW_PARAMS[name] = tuple(params)


# --- value <-> text ---------------------------------------------------------------------------

def num(x: float) -> str:
    """Shortest text that reads back as the same float: 1.0 -> '1', 0.25 -> '0.25'."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def _range_text(r: tuple[float, float] | None) -> str:
    return "" if r is None else f"{num(r[0])}:{num(r[1])}"


def _text(v: Any) -> str:
    return "" if v is None else str(v)


def _int(text: str, name: str, minimum: int = 0) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise BadInput(f"{text!r} is not an integer", field=name) from None
    if value < minimum:
        raise BadInput(f"must be >= {minimum}, got {value}", field=name)
    return value


def _choice(name: str, choices: dict[str, str]):
    def parse(text: str, state: State, catalog: RunCatalog) -> str:
        if text not in choices:
            raise BadInput(f"{text!r} is not one of {', '.join(choices)}", field=name)
        return text

    def options(state: State, catalog: RunCatalog) -> list[dict]:
        return [{"label": label, "value": value} for value, label in choices.items()]

    return parse, options


# --- the parameters of the line, trajectory and compare views --------------------------------

def _parse_run(text: str, state: State, catalog: RunCatalog) -> str:
    run = catalog.find(str(text).strip())
    if run is None:
        raise BadInput(f"unknown run {text!r}", field="run")
    return run.id


def _run_options(state: State, catalog: RunCatalog) -> list[dict]:
    return [{"label": r.label, "value": r.id} for r in sorted(catalog.runs, key=lambda r: (r.model, r.preset, r.seed))]


register_param(Param("run", _parse_run, _text,
                     lambda s, c: c.default_run().id if c.default_run() else None,
                     options=_run_options, help="the run: full id or a unique prefix such as relu-mnist-small-s0"))

PAIRS = {"init": "init → final", "seeds": "final → final of two seeds", "random": "random → final",
         "step": "step t → final"}
_pair_parse, _pair_options = _choice("pair", PAIRS)
register_param(Param("pair", _pair_parse, _text, lambda s, c: "init", options=_pair_options,
                     help="endpoint pair: init (θ_i→θ_f), seeds (θ_f→θ_f of another seed), random, step"))


def _parse_other(text: str, state: State, catalog: RunCatalog) -> str:
    other, run = catalog.find(str(text).strip()), catalog.get(state.get("run"))
    if other is None:
        raise BadInput(f"unknown run {text!r}", field="other")
    if run is not None and other.family != run.family:
        raise BadInput(f"{other.label} is not the same model as {run.label}", field="other")
    if other.id == state.get("run"):
        raise BadInput("pick a different seed than the first run", field="other")
    return other.id


def _other_default(state: State, catalog: RunCatalog) -> str | None:
    siblings = catalog.siblings(state.get("run"))
    return siblings[0].id if siblings else None


register_param(Param(
    "other", _parse_other, _text, _other_default, relevant=lambda s: s.get("pair") == "seeds",
    options=lambda s, c: [{"label": r.label, "value": r.id} for r in c.siblings(s.get("run"))],
    help="the second run of a final→final pair (same model, another seed)"))


def _parse_step(text: str, state: State, catalog: RunCatalog) -> int:
    step = _int(text, "step")
    run = catalog.get(state.get("run"))
    if run is not None and step not in run.steps:
        shown = ", ".join(map(str, run.steps[:8])) + (", …" if len(run.steps) > 8 else "")
        raise BadInput(f"the run has no checkpoint at step {step} (recorded: {shown})", field="step")
    return step


def _step_default(state: State, catalog: RunCatalog) -> int | None:
    run = catalog.get(state.get("run"))
    return run.steps[len(run.steps) // 2] if run else None


def _step_options(state: State, catalog: RunCatalog) -> list[dict]:
    run = catalog.get(state.get("run"))
    if run is None:
        return []
    return [{"label": f"t = {s} (epoch {e:g})", "value": str(s)} for s, e in zip(run.steps, run.epochs)]


register_param(Param("step", _parse_step, _text, _step_default, relevant=lambda s: s.get("pair") == "step",
                     options=_step_options, help="the checkpoint θ(t) of a step→final pair"))
register_param(Param("rseed", lambda t, s, c: _int(t, "rseed"), _text, lambda s, c: 0,
                     relevant=lambda s: s.get("pair") == "random", help="seed of the random point"))


def _parse_scale(text: str, state: State, catalog: RunCatalog) -> float:
    # compute's endpoint parser is the one that says what a random endpoint's scale may be
    return Endpoint.parse(f"random:0:{str(text).strip()}", "scale").scale


register_param(Param("scale", _parse_scale, num, lambda s, c: 1.0, relevant=lambda s: s.get("pair") == "random",
                     help="the random point is the initializer's draw times this (10 or more: large norm, Fig. 5)"))
register_param(Param("alpha", lambda t, s, c: parse_range(t, "alpha"), _range_text, lambda s, c: (-0.25, 1.25),
                     help="α range A:B (may extend below 0 and above 1)"))
register_param(Param("points", lambda t, s, c: parse_points(t, "points"), _text, lambda s, c: 50,
                     help="α values per curve, 2 to 2001"))



def _parse_dropout(text: str, state: State, catalog: RunCatalog) -> int:
    samples = parse_dropout_samples(str(text).strip() or 0, "dropout")
    run = catalog.get(state.get("run"))
    if samples and run is not None and not run.dropout:
        raise BadInput(f"{run.model}/{run.preset} has no dropout: its line is the plain cost", field="dropout")
    return samples


register_param(Param("dropout", _parse_dropout, lambda n: str(n) if n else "", lambda s, c: 0,
                     help="0 or empty: dropout off, weights scaled (the paper's J); N: a Monte-Carlo estimate "
                          "with dropout on, the mean of N passes (models with dropout)"))

register_param(Param("splits", lambda t, s, c: parse_splits(t, "splits"), ",".join, lambda s, c: ("train", "valid"),
                     options=lambda s, c: [{"label": v, "value": k} for k, v in SPLIT_NAMES.items()],
                     multi=True, help="splits drawn, e.g. train,valid"))
_metric_parse, _metric_options = _choice("metric", METRIC_LABELS)
register_param(Param("metric", _metric_parse, _text, lambda s, c: "cost", options=_metric_options,
                     help="cost (the objective) or error (misclassification rate)"))
_y_parse, _y_options = _choice("y", {"linear": "linear", "log": "log"})
register_param(Param("y", _y_parse, _text, lambda s, c: "log" if s.get("view") == "compare" else "linear",
                     options=_y_options, help="y axis scale"))


def _parse_zoom(text: str, state: State, catalog: RunCatalog) -> tuple[float, float] | None:
    text = str(text).strip()
    return None if text == "" else parse_range(text, "zoom")


register_param(Param("zoom", _parse_zoom, _range_text, lambda s, c: None,
                     help="α window recomputed at full resolution, A:B (empty: no zoom)"))

MAX_COMPARE = 10


def _parse_runs(text: str, state: State, catalog: RunCatalog) -> tuple[str, ...]:
    refs = [r.strip() for r in str(text).split(",") if r.strip()]
    if not refs:
        raise BadInput("pick at least one run", field="runs")
    if len(refs) > MAX_COMPARE:
        raise BadInput(f"at most {MAX_COMPARE} runs, got {len(refs)}", field="runs")
    found = [catalog.find(r) for r in refs]
    unknown = [r for r, f in zip(refs, found) if f is None]
    if unknown:
        raise BadInput(f"unknown run{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}", field="runs")
    return tuple(dict.fromkeys(f.id for f in found))  # order kept, duplicates dropped


register_param(Param("runs", _parse_runs, ",".join, lambda s, c: tuple(r.id for r in c.one_per_model()),
                     options=_run_options, multi=True, help="runs compared (init→final of each)"))


# --- parse / format --------------------------------------------------------------------------

@dataclass
class Parsed:
    state: State
    notices: list[str] = field(default_factory=list)


def _load_views() -> None:
    # The views register their params on import (app/views/__init__.py imports this module, so
    # the import cannot be at the top): whoever parses an address gets every view registered.
    if not VIEW_PARAMS:
        from . import views  # noqa: F401


def view_of(pathname: str | None) -> str | None:
    """'/line' -> 'line'; '/' or '' -> the default view; an unknown path -> None."""
    _load_views()
    name = (pathname or "/").strip("/").split("/")[0]
    if name == "":
        return DEFAULT_VIEW
    return name if name in VIEW_PARAMS else None


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
    for name in VIEW_PARAMS[view]:
        param = PARAMS[name]
        text = given.pop(name, None)
        if text is None or (text == "" and not _accepts_empty(param, state, catalog)):
            state[name] = param.default(state, catalog)
            continue
        try:
            state[name] = param.parse(text, state, catalog)
        except BadInput as exc:
            state[name] = param.default(state, catalog)
            shown = param.format(state[name])
            problem(f"{name}={text!r} ignored: {exc.message}" + (f" (using {shown})" if shown else ""), name,
                    f"{name}={text!r}: {exc.message}")
    for name in VIEW_PARAMS[view]:  # a value the view would not use: say so, it was typed by someone
        if name in state and not PARAMS[name].relevant(state) and name in _given_names(search):
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
    _load_views()
    parts = []
    for name in VIEW_PARAMS[state["view"]]:
        param = PARAMS[name]
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
    for name in VIEW_PARAMS[view]:
        if name in state and name != "y":  # the y scale's default differs per view (log for compare)
            out[name] = state[name]
    return out


def canonical(state: State, catalog: RunCatalog) -> State:
    """The state its own address parses to: values the view does not use are re-derived."""
    return parse(path(state), search(state), catalog).state


# --- form controls -------------------------------------------------------------------------------

def to_control(name: str, value: Any) -> Any:
    """A value as its form control holds it (a list for multi controls, text otherwise)."""
    param = PARAMS[name]
    text = param.format(value)
    if param.multi:
        return [t for t in text.split(",") if t]
    return text


def control_text(name: str, control_value: Any) -> str:
    if isinstance(control_value, (list, tuple)):
        return ",".join(str(v) for v in control_value)
    if isinstance(control_value, float) and math.isfinite(control_value):
        return num(control_value)
    return "" if control_value is None else str(control_value)


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
    for name in VIEW_PARAMS[view]:
        param = PARAMS[name]
        candidates = []
        if name in values:
            candidates.append(control_text(name, values[name]))
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
