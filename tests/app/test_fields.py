"""The alias table (app/fields.py) is what the views, the CLI, the queries and docs/cli.md say: one
parameter's address name, CLI option and JSON field, and the page and the CLI, given the same values
under those names, ask for the very same query (the same key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compute.kinds.line import LineQuery
from compute.kinds.surface.query import SurfaceQuery

from app import urls
from app.cli.results import cmd_line, cmd_surface
from app.fields import LINE_FIELDS, SURFACE_FIELDS
from app.runs import RunCatalog, RunInfo
from app.views import VIEWS

CLI_PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
RUN = RunInfo("relu-mnist-small-s0-0123456789", "relu-mnist", "small", 0, (0, 10, 20), (0.0, 0.5, 1.0), 20,
              family="relu-mnist/small", dropout=True)
CATALOG = RunCatalog((RUN,))
TABLES = [(LINE_FIELDS, "line", cmd_line), (SURFACE_FIELDS, "surface", cmd_surface)]


def _options(command) -> set[str]:
    return {o for p in command.params for o in (*p.opts, p.name.upper())}


@pytest.mark.parametrize("table, view, command", TABLES)
def test_every_name_of_the_table_is_a_name_of_the_view_and_the_command(table, view, command):
    params, options = set(VIEWS[view].param_names), _options(command)
    for field in table.fields:
        assert field.url is None or set(field.url.split()) <= params, field
        assert field.cli is None or set(field.cli.split()) <= options, field


@pytest.mark.parametrize("table, view, command", TABLES)
def test_the_cli_page_prints_the_table(table, view, command):
    assert table.markdown_table() in CLI_PAGE.read_text()


def test_a_table_must_name_every_field_of_its_query():
    from app.fields import Field, FieldTable

    with pytest.raises(ValueError, match="the query has"):
        FieldTable(SurfaceQuery, Field(("run",), "run", "RUN"))


def _page_query(view: str, values: dict[str, str]):
    search = "?" + "&".join(f"{k}={v}" for k, v in values.items())
    parsed = urls.parse(f"/{view}", search, CATALOG, strict=True)
    return VIEWS[view].queries(parsed.state, CATALOG)


def test_a_surface_asked_by_the_page_and_by_the_cli_is_one_query():
    given = {"surface": "random-plane", "alpha_min": "-1:2", "beta_min": "-0.5:0.5", "rows": "7x5",
             "splits": "valid", "seed": "3", "normalization": "filter", "dtype": "bfloat16"}
    page = _page_query("surface", {"run": RUN.id, **{SURFACE_FIELDS.url(f): v for f, v in given.items()}})["surface"]
    argv = [RUN.id, *(x for f, v in given.items() for x in (SURFACE_FIELDS.cli(f), v))]
    p = cmd_surface.make_context("surface", argv).params
    cli = SurfaceQuery.from_args(p["run"], p["kind"], p["alpha"], p["beta"], p["points"], p["splits"], p["dtype"],
                                 p["seed"], p["scale"], p["normalization"], p["bn"])
    assert page.key() == cli.key()


def test_a_line_asked_by_the_page_and_by_the_cli_is_one_query():
    given = {"alpha_min": "-0.5:1.5", "points": "auto", "tolerance": "0.01", "splits": "train", "dtype": "float16",
             "derivatives": "1"}
    page = _page_query("line", {"run": RUN.id, **{LINE_FIELDS.url(f): v for f, v in given.items()}})["main"]
    argv = ["--from", f"init:{RUN.id}", "--to", f"final:{RUN.id}"]
    for f, v in given.items():
        argv += [LINE_FIELDS.cli(f)] if f == "derivatives" else [LINE_FIELDS.cli(f), v]
    p = cmd_line.make_context("line", argv).params
    cli = LineQuery.from_args(p["start"], p["end"], p["alpha"], p["points"], p["splits"], p["dtype"],
                              p["dropout_samples"], p["bn"], p["derivatives"], p["tolerance"],
                              p["sharpness_every"] or 0)
    assert page.key() == cli.key()


def test_dropout_samples_and_sharpness_asked_by_the_page_and_by_the_cli_are_one_query():
    for field, value in (("dropout_samples", "4"), ("sharpness", "3")):
        page = _page_query("line", {"run": RUN.id, LINE_FIELDS.url(field): value})["main"]
        p = cmd_line.make_context("line", ["--from", f"init:{RUN.id}", "--to", f"final:{RUN.id}", "--alpha",
                                           "-0.25:1.25", LINE_FIELDS.cli(field), value]).params
        cli = LineQuery.from_args(p["start"], p["end"], p["alpha"], p["points"], p["splits"], p["dtype"],
                                  p["dropout_samples"], p["bn"], sharpness=p["sharpness_every"] or 0)
        assert page.key() == cli.key() and str(getattr(page, field)) == value
