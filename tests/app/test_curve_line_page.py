"""`landscape line --curve ID` and the Line page's "connect with a curve": a recorded curve drawn
beside the straight line, both barriers in the metrics table (real runs, real job layer)."""

from __future__ import annotations

import json

from app import urls
from app.cli import main
from app.runs import load_catalog
from app.views import VIEWS
from compute.jobs.backend import run_job
from app.jobclient import Outcome


def test_line_curve_on_the_cli_takes_the_curves_own_endpoints(curve_id, relu_run, relu_run_seed1, capsys, tmp_path):
    out = tmp_path / "line.json"
    code = main(["line", "--curve", curve_id, "--points", "5", "--splits", "train", "--local", "--format", "json",
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    result = json.loads(out.read_text())
    assert result["query"]["curve"] == curve_id and result["query"]["start"] == f"final:{relu_run.id}"
    assert len(result["cost"]["train"]) == 5 and result["metrics"]["train"]["barrier"] is not None
    code = main(["line", "--curve", curve_id, "--from", f"final:{relu_run_seed1.id}", "--to", f"final:{relu_run.id}",
                 "--points", "5", "--local"])
    err = capsys.readouterr().err
    assert code == 2 and "joins" in err and len(err.strip().splitlines()) == 1


def test_the_page_draws_the_line_and_the_curve_with_both_barriers(curve_id, relu_run, relu_run_seed1):
    catalog = load_catalog()
    search = f"run={relu_run.id}&pair=seeds&other={relu_run_seed1.id}&points=5&splits=train&curve={curve_id}"
    state = urls.parse("/line", search, catalog).state
    assert state["curve"] == curve_id
    param = next(p for p in VIEWS["line"].params if p.name == "curve")
    assert curve_id in [o["value"] for o in param.options(state, catalog)]  # the recorded curves of the pair
    queries = VIEWS["line"].queries(state, catalog)
    assert queries["curve"].curve == curve_id and queries["main"].curve is None
    drawn = VIEWS["line"].draw(state, catalog, {n: Outcome(q.key(), "done", 1, 1, result=run_job(q))
                                                for n, q in queries.items()})
    assert [t["meta"] for t in drawn["line"]["data"] if t.get("meta", "").endswith("-curve")] == ["train-curve"]
    labels = drawn["metrics"]["data"][0]["cells"]["values"][0]
    assert any(label.startswith("straight line:") for label in labels)
    assert any(label.startswith("curve:") for label in labels)
    # the curve is offered only on a final→final pair
    init_state = urls.parse("/line", f"run={relu_run.id}&curve={curve_id}", catalog).state
    assert "curve" not in VIEWS["line"].queries(init_state, catalog)
