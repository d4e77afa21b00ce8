"""The views' JSON/CSV twins (app/api.py) on real runs and real jobs, through Flask's test
client: the same parser, queries, jobs and cache as the page. The API answers at once (202 while
computing); `wait=S` asks it to wait for the result, as these tests do where they want it."""

from __future__ import annotations

import csv
import io

import pytest


@pytest.fixture(scope="module")
def client():
    from app.server import create_app

    return create_app().server.test_client()


def test_second_request_of_a_view_computes_nothing(client, scalar_run, evaluations):
    address = f"/api/line.json?run={scalar_run.id}&pair=init&alpha=-1:2&points=31&splits=train,valid"
    first = client.get(address + "&wait=60")
    assert first.status_code == 200 and first.headers["X-Landscape-Cache"] == "miss"
    assert len(evaluations) > 0
    computed = len(evaluations)
    second = client.get(address)
    assert second.status_code == 200 and second.headers["X-Landscape-Cache"] == "hit"
    assert len(evaluations) == computed  # served from the cache: nothing evaluated
    assert second.json == first.json
    body = first.json
    assert len(body["alpha"]) == 31 and body["alpha"][0] == -1.0 and body["alpha"][-1] == 2.0
    assert set(body["cost"]) == {"train", "valid"}
    # y = w1 w2 x fit to 1: theta_f (alpha = 1, the 21st point) is a solution, cost ~ 0
    assert body["alpha"][20] == pytest.approx(1.0) and body["cost"]["train"][20] < 1e-6

    rows = list(csv.reader(io.StringIO(client.get(address.replace(".json", ".csv")).get_data(as_text=True))))
    assert rows[0][:3] == ["alpha", "cost_train", "cost_valid"] and len(rows) == 32
    assert len(evaluations) == computed


def test_trajectory_and_compare_data(client, scalar_run, scalar_run_seed1):
    traj = client.get(f"/api/trajectory.json?run={scalar_run.id}&wait=60").json
    assert traj["step"] == scalar_run.steps and traj["alpha"][0] == 0.0 and traj["beta"][0] == 0.0
    assert traj["alpha"][traj["step"].index(scalar_run.final_step)] == pytest.approx(1.0)
    response = client.get(f"/api/compare.csv?runs={scalar_run.id},{scalar_run_seed1.id}&points=7&splits=train&wait=60")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 14 and {r["run"] for r in rows} == {scalar_run.id, scalar_run_seed1.id}
    assert response.headers["Content-Disposition"].startswith("attachment")


def test_bad_input_is_a_4xx_with_the_one_error_body(client, scalar_run):
    response = client.get(f"/api/line.json?run={scalar_run.id}&points=5000")
    assert response.status_code == 400
    assert response.json == {"ok": False, "field": "points", "status": 400, "jobs": None,
                             "error": "points='5000': number of points must be between 2 and 2001, got 5000"}
    response = client.get("/api/line.json?run=ghost")
    assert response.status_code == 400 and response.json["field"] == "run"
    response = client.get("/api/nothing.json")
    assert response.status_code == 404 and response.json["ok"] is False


def test_a_failing_job_reports_its_error(client, scalar_run, monkeypatch):
    from compute.evaluator import Evaluator

    original = Evaluator.evaluate

    def failing(self, basis, coeffs, *args, **kwargs):
        if len(coeffs) == 13:  # only this test's query: a 13-point line
            raise RuntimeError("injected failure")
        return original(self, basis, coeffs, *args, **kwargs)

    monkeypatch.setattr(Evaluator, "evaluate", failing)
    response = client.get(f"/api/line.json?run={scalar_run.id}&points=13&alpha=0:1&wait=60")
    assert response.status_code == 422 and "injected failure" in response.json["error"]
    assert response.json["jobs"]["main"]["state"] == "failed"
    # and the rest keeps working
    assert client.get(f"/api/line.json?run={scalar_run.id}&points=14&alpha=0:1&wait=60").status_code == 200


def test_two_tabs_asking_for_the_same_new_line_share_one_job(scalar_run, evaluations):
    from concurrent.futures import ThreadPoolExecutor

    from app.server import create_app

    app = create_app()

    def ask(address: str):
        return app.server.test_client().get(address)

    alone = ask(f"/api/line.json?run={scalar_run.id}&alpha=-3:3&points=47&wait=60")
    assert alone.status_code == 200
    one_job = len(evaluations)
    address = f"/api/line.json?run={scalar_run.id}&alpha=-4:4&points=47&wait=60"
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(ask, [address, address])
    assert first.status_code == second.status_code == 200
    assert first.json == second.json
    assert len(evaluations) - one_job == one_job  # computed once for both


BODY_KEYS = {"ok", "status", "error", "field", "jobs"}


def test_a_new_result_is_a_202_at_once_then_the_result(client, scalar_run, monkeypatch):
    import threading

    from compute.evaluator import Evaluator

    release, original = threading.Event(), Evaluator.evaluate

    def held(self, basis, coeffs, *args, **kwargs):
        if len(coeffs) == 17:  # only this test's query: a 17-point line
            assert release.wait(60)
        return original(self, basis, coeffs, *args, **kwargs)

    monkeypatch.setattr(Evaluator, "evaluate", held)
    address = f"/api/line.json?run={scalar_run.id}&alpha=0:1&points=17"
    try:
        pending = client.get(address)  # answers at once: the job is held
        assert pending.status_code == 202 and set(pending.json) == BODY_KEYS
        assert pending.json["ok"] is False and pending.json["status"] == 202 and pending.json["field"] is None
        assert pending.json["jobs"]["main"]["state"] in ("pending", "running")
        assert pending.headers["Location"] == address and int(pending.headers["Retry-After"]) >= 1
        assert client.get(address + "&wait=0.2").status_code == 202  # a bounded wait, still computing
    finally:
        release.set()
    done = client.get(address + "&wait=60")
    assert done.status_code == 200 and len(done.json["alpha"]) == 17
    again = client.get(address)  # wait is not part of the view: the same cached result
    assert again.status_code == 200 and again.headers["X-Landscape-Cache"] == "hit" and again.json == done.json


def test_every_refusal_has_the_one_body(client, scalar_run, monkeypatch):
    for address, status, field in [(f"/api/line.json?run={scalar_run.id}&points=1", 400, "points"),
                                   (f"/api/line.json?run={scalar_run.id}&wait=61", 400, "wait"),
                                   (f"/api/line.json?run={scalar_run.id}&wait=soon", 400, "wait"),
                                   ("/api/nothing.json", 404, "view")]:
        response = client.get(address)
        assert response.status_code == status and set(response.json) == BODY_KEYS, address
        assert response.json["status"] == status and response.json["field"] == field
        assert response.json["ok"] is False and response.json["jobs"] is None
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")  # nothing listens on port 9
    response = client.get(f"/api/line.json?run={scalar_run.id}&points=9")
    assert response.status_code == 503 and set(response.json) == BODY_KEYS
    assert response.json["field"] == "REDIS_URL" and "unreachable" in response.json["error"]


def test_no_json_body_holds_nan_or_infinity(tmp_path, capsys):
    """Results, the cache, the CLI's --format json and the API write non-finite numbers as null
    (compute.results.dumps), and the tests' client refuses a body that holds one."""
    import json
    import math

    import numpy as np
    from flask import Response

    from app.cli.options import emit
    from app.server import create_app
    from compute.jobs.cache import FileBackend
    from compute.kinds.line_result import LineResult
    from compute.results import dumps, json_safe
    from tests.app.conftest import strict_json

    nan, inf = float("nan"), float("inf")
    line = LineResult(alpha=[0.0, 0.5, 1.0], cost={"train": [1.0, nan, inf]}, error={"train": None},
                      query={"kind": "line"}, key="line-" + "0" * 40, meta={"distance": nan, "scale": np.float32(-inf)})
    body = line.to_json(metrics=False)
    assert body["cost"]["train"] == [1.0, None, None] and body["meta"] == {"distance": None, "scale": None}
    assert json_safe({"a": (np.float64(2.5), np.int64(3), nan)}) == {"a": [2.5, 3, None]}
    assert strict_json(dumps(line.to_json()))["cost"] == {"train": [1.0, None, None]}
    with pytest.raises(ValueError):  # the guard: json itself refuses what json_safe did not see
        json.dumps([nan], allow_nan=False)

    FileBackend(tmp_path).set(line.key, {"cost": [nan, -inf, 2.0]})
    assert strict_json((tmp_path / f"{line.key}.json").read_text()) == {"cost": [None, None, 2.0]}

    emit(line, "json", None)
    printed = strict_json(capsys.readouterr().out)
    assert printed["cost"]["train"] == [1.0, None, None] and printed["meta"]["distance"] is None

    app = create_app()
    assert app.server.json.dumps({"x": nan, "y": [inf, 1.5]}) == '{"x": null, "y": [null, 1.5]}'
    app.server.add_url_rule("/raw-nan", "raw_nan", lambda: Response('{"x": NaN}', mimetype="application/json"))
    client = app.server.test_client()
    with pytest.raises(AssertionError, match="not strict JSON"):
        client.get("/raw-nan")
    assert math.isnan(json.loads(Response('{"x": NaN}').get_data())["x"])  # what a lax parser would take
