"""Compare view (Fig. 3): the init→final lines of several runs, of different models, on one
axis with a log y axis by default.
"""

from __future__ import annotations

import csv
import io

from dash import html

from models.errors import BadInput
from compute.kinds.line import LineQuery

from .. import params, widgets
from ..figures.line import compare_figure
from ..figures.style import banner, message_figure
from ..jobclient import Outcome
from ..runs import RunCatalog
from .base import View
from .line import empty_text

NAME = "compare"


def queries(state: dict, catalog: RunCatalog) -> dict[str, LineQuery]:
    if not state.get("runs"):
        raise BadInput("pick at least one run", field="runs")
    lo, hi = state["alpha"]
    return {run: LineQuery(f"init:{run}", f"final:{run}", lo, hi, state["points"], state["splits"])
            for run in state["runs"]}


def _labels(state: dict, catalog: RunCatalog) -> dict[str, str]:
    """The model's name, with preset and seed only where they tell two compared runs apart."""
    runs = [catalog.get(r) for r in state["runs"] if catalog.get(r) is not None]
    models = [r.model for r in runs]
    return {r.id: r.model if models.count(r.model) == 1 else f"{r.model} ({r.preset}, seed {r.seed})" for r in runs}


# Costs on one scale share a panel: a squared error is not a negative log-likelihood
SCALES = {"cross-entropy": "cross-entropy (negative log-likelihood)",
          "adversarial-cross-entropy": "cross-entropy (negative log-likelihood)",
          "token-nll": "cross-entropy (negative log-likelihood)",
          "multi-prediction": "cross-entropy (negative log-likelihood)",
          "squared-error": "squared error", "mse-one-hot": "squared error", "mse": "squared error"}


def _groups(state: dict, catalog: RunCatalog, labels: dict[str, str]) -> dict[str, str]:
    """{label: the panel its line is drawn in}: runs grouped by their objective's scale."""
    runs = [catalog.get(r) for r in state["runs"] if catalog.get(r) is not None]
    return {labels[r.id]: SCALES.get(r.objective, r.objective or "other cost") for r in runs}


def draw(state: dict, catalog: RunCatalog, outcomes: dict[str, Outcome]) -> dict:
    if not catalog.runs:
        return {"compare": message_figure(empty_text())}
    labels = _labels(state, catalog)
    ready = [(labels.get(k, k), o.result) for k, o in outcomes.items() if o.ready]
    waiting = [k for k, o in outcomes.items() if not o.ready]
    failed = [f"{labels.get(k, k)}: {o.error}" for k, o in outcomes.items() if o.state == "failed"]
    title = "init → final of each run"
    if not ready:
        text = "<br>".join(["the jobs failed"] + failed) if failed else f"computing {len(waiting)} lines…"
        return {"compare": message_figure(text, title)}
    fig = compare_figure(ready, metric=state["metric"], log_y=state["y"] == "log", title=title,
                                 groups=_groups(state, catalog, labels))
    pending = len(waiting) - len(failed)
    notes = ([f"computing {pending} more line{'s' if pending > 1 else ''}…"] if pending > 0 else []) + \
        [f"failed: {f}" for f in failed]
    if notes:
        banner(fig, "<br>".join(notes))
    return {"compare": fig}


def export(state: dict, outcomes: dict[str, Outcome]) -> tuple[dict, str]:
    lines = [o.result for o in outcomes.values()]
    # one long table: a row per (run, α); columns are the union over runs (a regression model
    # has no error column)
    columns = ["run", "alpha"]
    for r in lines:
        for kind in ("cost", "error"):
            for split, values in r[kind].items():
                name = f"{kind}_{split}"
                if values is not None and name not in columns:
                    columns.append(name)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for run, r in zip(outcomes, lines):
        for i, alpha in enumerate(r["alpha"]):
            row = {"run": run, "alpha": alpha}
            for kind in ("cost", "error"):
                for split, values in r[kind].items():
                    if values is not None:
                        row[f"{kind}_{split}"] = values[i]
            writer.writerow(["" if row.get(c) is None else repr(row[c]) if isinstance(row[c], float) else row[c]
                             for c in columns])
    return {"lines": lines}, buf.getvalue()


def layout(state: dict, catalog: RunCatalog) -> html.Div:
    v, form = NAME, widgets.Form(NAME, state, catalog)
    controls = html.Div([
        form.dropdown(params.RUNS, "Runs", multi=True, placeholder="pick runs to compare"),
        form.text(params.ALPHA, "α range", placeholder="A:B", hint="A:B, e.g. 0:1"),
        form.text(params.POINTS, "Points", hint="2 to 2001 α values per line"),
        form.checklist(params.SPLITS, "Splits"),
        form.radio(params.METRIC, "Metric", inline=True),
        form.radio(params.Y, "y axis", inline=True),
    ], className="controls")
    main = html.Div([widgets.graph(v, "compare", "landscape-compare", height=520), widgets.export_links(v)],
                    className="main")
    return html.Div([controls, main], className="view-grid")


VIEW = View(NAME, "Compare", (params.RUNS, params.ALPHA, params.POINTS, params.SPLITS, params.METRIC, params.Y),
            layout, queries, draw, export, None, "init→final lines of several models on one axis (Fig. 3)")
