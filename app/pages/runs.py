"""`/runs`: every recorded run in a table sortable by any column (a click on its header) — id,
name, model, built-in or imported (and from where), data, parameters, steps, θ_f step, the final
train and validation cost, created — each row linking to the run's views. Read from the store's
manifests (compute/store.py); nothing is computed."""

from __future__ import annotations

import datetime as dt
import os

from dash import dash_table, html

from compute.store import Store

from ..demo import waiting_for_demo
from ..runs import RunCatalog

COLUMNS = (("id", "id"), ("name", "name"), ("model", "model"), ("source", "built-in / imported"),
           ("data", "data"), ("parameters", "parameters"), ("steps", "steps"), ("final_step", "θf step"),
           ("train", "final train cost"), ("valid", "final valid cost"), ("created", "created"), ("views", "views"))
LINKED = ("id", "views")
FONT = 'Inter, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif'  # the page's (app/assets/landscape.css)


def _source(manifest: dict) -> str:
    source = manifest.get("source")
    if not source:
        return "built-in"
    model = source.get("model") or {}
    where = f"{model.get('module', '?')}:{model.get('function', '?')}"
    return f"imported from {where}" + (f" ({model['path']})" if model.get("path") else "")


def _data(manifest: dict) -> str:
    data = manifest.get("dataset") or {}
    if data.get("name") == "imported":
        ref = data.get("data") or {}
        return ref.get("file") or f"{ref.get('module', '?')}:{ref.get('function', '?')}"
    return data.get("name", "") + (f" ({data['data_dir']})" if data.get("data_dir") else " (demo data)")


def _created(run) -> str:
    stamp = run.manifest.get("created")
    if isinstance(stamp, (int, float)):
        when = dt.datetime.fromtimestamp(stamp, dt.timezone.utc)
    elif isinstance(stamp, str) and stamp:
        return stamp[:19].replace("T", " ")
    else:
        when = dt.datetime.fromtimestamp(os.stat(run.path).st_mtime, dt.timezone.utc) if hasattr(run, "path") \
            else None
    return when.strftime("%Y-%m-%d %H:%M") if when else ""


def row(run) -> dict:
    """One run's row: plain values (numbers stay numbers, so that they sort as numbers)."""
    m = run.manifest
    final = next((s for s in m["steps"] if s["step"] == run.final_step), {})
    cost = final.get("cost") or {}
    views = " · ".join(f"[{v}](/{v}?run={run.id})" for v in ("line", "trajectory", "surface"))
    return {"id": f"[{run.id}](/line?run={run.id})", "name": m.get("name") or run.model_id, "model": run.model_id,
            "source": _source(m), "data": _data(m), "parameters": run.layout.numel, "steps": len(m["steps"]),
            "final_step": run.final_step, "train": _round(cost.get("train")), "valid": _round(cost.get("valid")),
            "created": _created(run), "views": views}


def _round(value):
    return None if value is None else float(f"{value:.5g}")


def layout(search: str | None, catalog: RunCatalog) -> html.Div:
    rows = [row(r) for r in Store().list_runs()]
    table = dash_table.DataTable(
        id="runs-table", data=rows, sort_action="native", sort_mode="single",
        columns=[{"id": c, "name": name, "type": "numeric" if c in ("parameters", "steps", "final_step", "train",
                                                                    "valid") else "text",
                  **({"presentation": "markdown"} if c in LINKED else {})} for c, name in COLUMNS],
        markdown_options={"link_target": "_self"}, style_table={"overflowX": "auto"},
        style_cell={"fontFamily": FONT, "fontSize": "13px", "textAlign": "left", "padding": "4px 8px",
                    "whiteSpace": "normal", "height": "auto", "maxWidth": "260px"},
        style_header={"fontWeight": "600", "backgroundColor": "#f3f5f8"})
    if rows:
        note = f"{len(rows)} run{'s' if len(rows) != 1 else ''}; click a column's header to sort by it"
    elif waiting_for_demo(catalog.trained()):
        note = "Waiting for the demo runs: they appear here as each finishes training."
    else:
        note = "No runs yet: train one with landscape train relu-mnist, or start landscape serve --demo."
    return html.Div([html.H1("Runs"), html.P(note, className="muted", id="runs-note"), table],
                    className="page-text wide", id="runs-page")
