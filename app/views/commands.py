"""The `landscape ...` command that computes a query, for /help ("the view on screen, from the command
line"): one function per query kind, from the query's own fields, so the command asks for the same
query (the same cache key) as the page. A view whose queries are not of these kinds gives its own
`cli` (app/views/base.py)."""

from __future__ import annotations

from compute import validate
from compute.queries import Query

from ..runs import RunCatalog


def _num(x) -> str:
    return validate.format_number(x)


def line(q) -> str:
    parts = [f"landscape line --from {q.start} --to {q.end} --alpha {_num(q.alpha_min)}:{_num(q.alpha_max)}",
             f"--points {q.points}", f"--splits {','.join(q.splits)}"]
    if q.tolerance is not None:
        parts.append(f"--tolerance {_num(q.tolerance)}")
    if q.derivatives:
        parts.append("--derivatives")
    if q.dropout_samples:
        parts.append(f"--dropout-samples {q.dropout_samples}")
    if q.bn != validate.DEFAULT_BN:
        parts.append(f"--bn {q.bn}")
    if q.dtype != "float32":
        parts.append(f"--dtype {q.dtype}")
    return " ".join(parts)


def surface(q) -> str:
    parts = [f"landscape surface {q.run} --kind {q.surface} --points {q.rows}x{q.columns}",
             f"--splits {','.join(q.splits)}"]
    if q.alpha_min is not None:
        parts.append(f"--alpha {_num(q.alpha_min)}:{_num(q.alpha_max)}")
    if q.beta_min is not None:
        parts.append(f"--beta {_num(q.beta_min)}:{_num(q.beta_max)}")
    if q.seed is not None:
        parts.append(f"--seed {q.seed}")
    if q.normalization:
        parts.append(f"--normalization {q.normalization}")
    if getattr(q, "bn", validate.DEFAULT_BN) != validate.DEFAULT_BN:
        parts.append(f"--bn {q.bn}")
    return " ".join(parts)


def control(q) -> str:
    parts = [f"landscape control {q.experiment}"] + ([q.run] if q.run else [])
    for name, value in q.params:
        text = ",".join(_num(v) if isinstance(v, float) else str(v) for v in value) \
            if isinstance(value, (tuple, list)) else (_num(value) if isinstance(value, float) else str(value))
        parts.append(f"--{name.replace('_', '-')} {text}")
    return " ".join(parts)


def trajectory(q) -> str:
    return f"landscape trajectory {q.run} --format csv"


BY_KIND = {"line": line, "surface": surface, "control": control, "trajectory": trajectory}


def commands(queries: dict[str, Query]) -> str | None:
    """One command per query (a zoom is a second line), None when a kind has no command here."""
    out = []
    for query in queries.values():
        make = BY_KIND.get(query.kind)
        if make is None:
            return None
        out.append(make(query))
    return "\n".join(out) or None


def of_view(view, state: dict, catalog: RunCatalog) -> str | None:
    """The command of `view` showing `state`: its own `cli`, else the commands of its queries."""
    from models.errors import BadInput

    if view.cli is not None:
        return view.cli(state, catalog)
    try:
        return commands(view.queries(state, catalog))
    except BadInput as exc:
        return f"# nothing to compute yet: {exc.message}"
