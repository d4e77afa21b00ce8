"""`line --curve ID`: a recorded curve evaluated as a line (LineQuery.curve), through the real job layer."""

from __future__ import annotations

import pytest
import torch

from compute.jobs.backend import run_job
from compute.kinds import resolve
from compute.kinds.curve import CurveQuery
from compute.kinds.line import LineQuery
from compute.resources import evaluator_for
from models.errors import BadInput


@pytest.fixture(scope="module")
def curve(relu_run, relu_run_seed1, store):
    """One epoch of a Bézier bend, evaluated by its job at the 5 points the lines below ask for."""
    query = resolve(CurveQuery(f"final:{relu_run.id}", f"final:{relu_run_seed1.id}", "bezier", epochs=1, points=5),
                    store)
    return run_job(query)


def _line(relu_run, relu_run_seed1, store, **options) -> LineQuery:
    return resolve(LineQuery(f"final:{relu_run.id}", f"final:{relu_run_seed1.id}", 0.0, 1.0, 5, ("train",),
                             **options), store)


def test_the_curve_as_a_line_is_the_curve_jobs_own_values(curve, relu_run, relu_run_seed1, store):
    query = _line(relu_run, relu_run_seed1, store, curve=curve["curve"])
    result = run_job(query)
    assert result["alpha"] == curve["t"] and result["query"]["curve"] == curve["curve"]
    assert result["cost"]["train"] == curve["cost"]["train"]  # one evaluator path: bit for bit
    metrics = result["metrics"]["train"]
    assert metrics["barrier"] is not None and "monotone" in metrics
    straight = run_job(_line(relu_run, relu_run_seed1, store))
    assert straight["cost"]["train"] != result["cost"]["train"]  # the bend moved off the line
    # the endpoints are the two solutions: J there is theirs, exactly
    ends = evaluator_for(relu_run).evaluate_points(
        torch.stack([relu_run.theta(relu_run.final_step), relu_run_seed1.theta(relu_run_seed1.final_step)]),
        ["train"]).splits["train"].cost.tolist()
    assert [result["cost"]["train"][0], result["cost"]["train"][-1]] == ends


def test_the_key_names_the_curve_only_when_asked(curve, relu_run, relu_run_seed1, store):
    plain = _line(relu_run, relu_run_seed1, store)
    assert "curve" not in plain.to_json()
    on_curve = _line(relu_run, relu_run_seed1, store, curve=curve["curve"])
    assert on_curve.to_json()["curve"] == curve["curve"] and on_curve.key() != plain.key()
    assert LineQuery.from_json(on_curve.to_json()) == on_curve


def test_what_a_curve_line_refuses(curve, relu_run, relu_run_seed1, store):
    with pytest.raises(BadInput, match="joins"):  # the pair the curve does not join (reversed)
        resolve(LineQuery(f"final:{relu_run_seed1.id}", f"final:{relu_run.id}", 0.0, 1.0, 5, ("train",),
                          curve=curve["curve"]), store)
    with pytest.raises(BadInput, match="unknown curve"):
        _line(relu_run, relu_run_seed1, store, curve="curve-bezier-000000000000")
    with pytest.raises(BadInput, match="final:RUN"):
        LineQuery(f"init:{relu_run.id}", f"final:{relu_run.id}", curve=curve["curve"])
    with pytest.raises(BadInput, match="uniform grid"):
        LineQuery(f"final:{relu_run.id}", f"final:{relu_run_seed1.id}", -0.5, 1.5, curve=curve["curve"])
