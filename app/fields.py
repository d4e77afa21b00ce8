"""One parameter, three names: the alias table of each query type.

A parameter of a line or a surface has a name in the query (its JSON field: what the cache key is
made of), in the address (a short one, for addresses people read and share) and on the command
line (an option). The names differ where the address was made short (`dropout`, `grid`) or the
CLI kept a word of its own (`--kind`, `--points 41x41`), and both are in shared addresses and
scripts, while the JSON fields are in every key: none can change. So the names are written here,
once per query type, and the views' parameters (app/views/) and the CLI's options (app/cli/) take
theirs from this table; tests/app/test_fields.py checks that every view, command and query says
what the table says, and docs/cli.md's tables are printed by `markdown_table`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from compute.kinds.line import LineQuery
from compute.kinds.surface.query import SurfaceQuery


@dataclass(frozen=True)
class Field:
    """One parameter: its query fields (two for a range or a grid: A:B, NxM), its address parameter
    and its CLI option (None: not given that way; the address's `run`+`pair` make both endpoints)."""

    query: tuple[str, ...]
    url: str | None
    cli: str | None


class FieldTable:
    """The fields of one query type, each query field named once."""

    def __init__(self, query_type: type, *fields: Field):
        names = [f.name for f in dataclasses.fields(query_type)]
        given = [q for f in fields for q in f.query]
        if sorted(given) != sorted(names):
            raise ValueError(f"{query_type.__name__}: the table names {sorted(given)}, the query has {sorted(names)}")
        self.query_type, self.fields = query_type, fields

    def _of(self, query_field: str) -> Field:
        return next(f for f in self.fields if query_field in f.query)

    def url(self, query_field: str) -> str:
        """The address parameter of `query_field`."""
        name = self._of(query_field).url
        if name is None:
            raise KeyError(f"{query_field} is not in an address")
        return name

    def cli(self, query_field: str) -> str:
        """The CLI option of `query_field`, e.g. '--dropout-samples'."""
        name = self._of(query_field).cli
        if name is None:
            raise KeyError(f"{query_field} is not a CLI option")
        return name

    def markdown_table(self) -> str:
        """The table as docs/cli.md prints it: address, CLI option, JSON field(s)."""
        rows = ["| address | CLI | JSON field |", "| --- | --- | --- |"]
        for f in self.fields:
            rows.append(f"| {_code(f.url)} | {_code(f.cli)} | {', '.join(f'`{q}`' for q in f.query)} |")
        return "\n".join(rows)


def _code(name: str | None) -> str:
    return "—" if name is None else ", ".join(f"`{n}`" for n in name.split(" "))


LINE_FIELDS = FieldTable(
    LineQuery,
    Field(("start", "end"), "run pair other step rseed scale", "--from --to"),
    Field(("alpha_min", "alpha_max"), "alpha", "--alpha"),
    Field(("points",), "points", "--points"),
    Field(("tolerance",), "tolerance", "--tolerance"),
    Field(("splits",), "splits", "--splits"),
    Field(("dropout_samples",), "dropout", "--dropout-samples"),
    Field(("bn",), "bn", "--bn"),
    Field(("dtype",), "dtype", "--dtype"),
    Field(("derivatives",), "derivatives", "--derivatives"),
    Field(("sharpness",), "sharpness", "--sharpness-every"),
    Field(("curve",), "curve", "--curve"),
)

SURFACE_FIELDS = FieldTable(
    SurfaceQuery,
    Field(("run",), "run", "RUN"),
    Field(("surface",), "kind", "--kind"),
    Field(("alpha_min", "alpha_max"), "arange", "--alpha"),
    Field(("beta_min", "beta_max"), "brange", "--beta"),
    Field(("rows", "columns"), "grid", "--points"),
    Field(("splits",), "split", "--splits"),
    Field(("seed",), "dseed", "--seed"),
    Field(("scale",), None, "--scale"),
    Field(("normalization",), "norm", "--normalization"),
    Field(("bn",), "bn", "--bn"),
    Field(("dtype",), "dtype", "--dtype"),
)
