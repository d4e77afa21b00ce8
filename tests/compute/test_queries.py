"""What every kind shares (compute/queries.py, compute/kinds/__init__.py): typed endpoints parsed
once, the rules that need a run applied by `resolve` (the CLI's path; the page applies the same
functions against its catalog), and the kind table as the one place a kind is named."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from compute.kinds import KINDS, estimate, kind_of, resolve
from compute.kinds.hessian import HessianQuery
from compute.kinds.line import LineQuery
from compute.kinds.surface.query import SurfaceQuery
from compute.queries import Endpoint, check_bn, check_dropout
from models.errors import BadInput

ROOT = Path(__file__).resolve().parents[2]


def test_a_line_holds_endpoints_parsed_once_and_writes_their_text():
    query = LineQuery("init:abc", "random:3:10")
    assert query.start == Endpoint("init", run="abc") and query.end == Endpoint("random", seed=3, scale=10.0)
    assert query.endpoints == (query.start, query.end)
    assert query.to_json()["start"] == "init:abc" and query.to_json()["end"] == "random:3:10"
    again = LineQuery.from_json(query.to_json())
    assert again == query and again.key() == query.key()
    typed = LineQuery(Endpoint("init", run="abc"), Endpoint.parse("random:3:10"))
    assert typed.key() == query.key()
    assert dataclasses.replace(query, start=Endpoint("init", run="abc")).key() == query.key()
    with pytest.raises(BadInput, match="malformed endpoint") as refused:
        LineQuery("init:abc", "random:3:x:y")
    assert refused.value.field == "to"


def test_the_hessian_point_is_typed_too():
    query = HessianQuery("final:abc", to="init:abc", alpha=0.5, top=1)
    assert query.at == Endpoint("final", run="abc") and query.endpoints == (query.at, query.to)
    assert query.to_json()["at"] == "final:abc" and query.describe() == "(1 - 0.5) final:abc + 0.5 init:abc"
    assert HessianQuery.from_json(query.to_json()).key() == query.key()


def test_resolve_names_runs_by_full_id(relu_run, store):
    prefix = relu_run.id[:-4]
    query = resolve(LineQuery(f"init:{prefix}", f"final:{prefix}"), store)
    assert query.start == Endpoint("init", run=relu_run.id) and query.end.run == relu_run.id
    assert resolve(SurfaceQuery(prefix), store).run == relu_run.id
    assert resolve(HessianQuery(f"final:{prefix}"), store).at.run == relu_run.id


def test_resolve_refuses_what_the_run_rules_out(relu_run, store):
    with pytest.raises(BadInput, match="has no dropout") as refused:
        resolve(LineQuery(f"init:{relu_run.id}", f"final:{relu_run.id}", dropout_samples=4), store)
    assert refused.value.field == "dropout_samples"
    recompute = [LineQuery(f"init:{relu_run.id}", f"final:{relu_run.id}", bn="recompute"),
                 SurfaceQuery(relu_run.id, bn="recompute"),
                 HessianQuery(f"init:{relu_run.id}", to=f"final:{relu_run.id}", alpha=0.5, bn="recompute")]
    for query in recompute:  # refused, never reset to the default behind the asker's back
        with pytest.raises(BadInput, match="has no BatchNorm") as refused:
            resolve(query, store)
        assert refused.value.field == "bn"


def test_the_rules_are_plain_functions_the_page_calls_too():
    check_dropout(0, False, "m/p")
    check_dropout(3, True, "m/p")
    with pytest.raises(BadInput, match="m/p has no dropout") as refused:
        check_dropout(3, False, "m/p", "dropout")
    assert refused.value.field == "dropout"
    check_bn("interpolate", False, "m/p")
    with pytest.raises(BadInput, match="m/p has no BatchNorm"):
        check_bn("recompute", False, "m/p")


def test_each_kind_is_one_table_line_with_its_estimate_and_resolve(relu_run, store):
    assert sorted(KINDS) == ["control", "curve", "hessian", "line", "surface", "train", "trajectory"]
    for name, kind in KINDS.items():
        assert kind.kind == name == kind.query_type.kind and kind_of(name) is kind
    assert {n for n, k in KINDS.items() if k.estimate is not None} == {"line", "surface", "hessian"}
    line = LineQuery(f"init:{relu_run.id}", f"final:{relu_run.id}", points=11)
    found = estimate(line, store)
    assert found.work == pytest.approx(11 * found.per_point) and found.field == "points"
    assert estimate(LineQuery("init:no-such-run", "final:no-such-run"), store) is None  # its job says why


def _imports(path: Path, module: str) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            out |= {base} | {f"{base}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


def test_no_import_cycle_through_the_kinds():
    """compute/kinds/ and what it stands on (queries, chunks, budget, endpoints, the curvature
    operators): no module imports back up, not even inside a function."""
    modules = {}
    for path in (ROOT / "compute").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {m: {t for t in _imports(p, m) if t in modules and t != m and not m.startswith(t + ".")}
             for m, p in modules.items()}
    watched = {m for m in modules if m.startswith("compute.kinds")} | {
        "compute.queries", "compute.chunks", "compute.budget", "compute.endpoints", "compute.hessian",
        "compute.results", "compute.training"}

    def reaches(start: str, goal: str, seen: set) -> bool:
        for nxt in graph[start]:
            if nxt == goal or (nxt not in seen and not seen.add(nxt) and reaches(nxt, goal, seen)):
                return True
        return False

    assert [m for m in sorted(watched) if reaches(m, m, set())] == []
