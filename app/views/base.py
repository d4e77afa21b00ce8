"""What a view is (`View`), and the tables the shell is built from (`views_table`, `params_table`).

A view lists the URL parameters it uses (`Param` objects: the shared ones of app/params.py, or
its own, defined beside it in its module), lays out its controls and graphs with the helpers of
app/widgets.py, turns a state into the compute queries it needs, and draws their results. The
shell (app/callbacks.py) does the rest for every view alike: address <-> form sync, validation
messages, submitting jobs, progress, drawing, and the JSON/CSV twin at /api/<view>.json|csv.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from compute.queries import Query

from ..jobclient import Outcome
from ..params import Param, State
from ..runs import RunCatalog


@dataclass(frozen=True)
class View:
    name: str  # path segment: /<name>
    title: str  # nav label
    params: tuple[Param, ...]  # URL parameters, in dependency order (run before step)
    layout: Callable[[State, RunCatalog], Any]  # the view's controls and graphs, first filled from a state
    queries: Callable[[State, RunCatalog], dict[str, Query]]  # state -> named queries (BadInput if none can run)
    draw: Callable[[State, RunCatalog, dict[str, Outcome]], dict[str, Any]]  # -> {graph name: figure}
    export: Callable[[State, dict[str, Outcome]], tuple[Any, str]]  # -> (JSON object, CSV text)
    callbacks: Callable[[Any], None] | None = None  # view-specific callbacks: callbacks(app)
    description: str = ""
    # state -> the `landscape ...` command that computes what the view shows (shown on /help)
    cli: Callable[[State, RunCatalog], str] | None = None
    # params whose change lays the view out again (its labels and help follow them, e.g. a surface's kind)
    relayout_on: tuple[str, ...] = ()

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)


def views_table(*views: View) -> dict[str, View]:
    """{name: view}, in the order given (the nav order)."""
    table: dict[str, View] = {}
    for view in views:
        if view.name in table:
            raise ValueError(f"two views named {view.name!r}")
        table[view.name] = view
    return table


def params_table(views: Iterable[View]) -> dict[str, Param]:
    """{name: param} over every view: a name means one parameter wherever it is used."""
    table: dict[str, Param] = {}
    for view in views:
        for param in view.params:
            if table.setdefault(param.name, param) is not param:
                raise ValueError(f"view {view.name}: a second parameter named {param.name!r}")
    return table


def export_result(name: str, result_type: type) -> Callable[[State, dict[str, Outcome]], tuple[Any, str]]:
    """The `export` of a view that shows one result: its JSON, and its CSV by `result_type`."""
    def export(state: State, outcomes: dict[str, Outcome]) -> tuple[Any, str]:
        return outcomes[name].result, outcomes[name].read(result_type).to_csv()
    return export
