"""Curvature through the CLI (`landscape hessian`, `line --sharpness`, `surface --kind hessian`), the
API twin (/api/hessian.json|csv), the /curvature view's figures, on the session's scalar-linear run
(two parameters: every Hessian here is 2 x 2, so each job takes moments)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.app.test_cli import run_cli


def test_cli_hessian_top_and_trace(capsys, scalar_run):
    code, out, err = run_cli(capsys, "hessian", f"final:{scalar_run.id}", "--top", "2", "--trace",
                             "--trace-probes", "6", "--local")
    assert code == 0, err
    result = json.loads(out)
    eigen = result["splits"]["train"]["eigen"]
    assert len(eigen["top"]["values"]) == 2 and eigen["top"]["values"][0] >= eigen["top"]["values"][1]
    assert eigen["converged"] and result["splits"]["train"]["trace"]["probes"] == 6
    assert result["key"].startswith("hessian-") and result["meta"]["parameters"] == 2
    code, out, _ = run_cli(capsys, "hessian", f"final:{scalar_run.id}", "--top", "2", "--trace", "--trace-probes",
                           "6", "--local", "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["split", "quantity", "index", "value", "error"]
    assert [r[1] for r in rows[1:]] == ["eigenvalue_top", "eigenvalue_top", "trace"]
    assert float(rows[1][3]) == pytest.approx(eigen["top"]["values"][0], rel=1e-12)


@pytest.mark.parametrize("argv, says", [
    (["--top", "99"], "top"), (["--top", "0"], "ask for"), (["--dtype", "bfloat16"], "float32 or float64"),
    (["--bn", "recompute"], "point on a line"), (["--alpha", "0.5"], "both"), (["--trace", "--trace-probes", "1"], "probes"),
])
def test_cli_hessian_bad_input_exits_2_with_one_line(capsys, scalar_run, argv, says):
    code, out, err = run_cli(capsys, "hessian", f"final:{scalar_run.id}", "--local", *argv)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and says in err


def test_cli_hessian_refuses_a_random_point(capsys, scalar_run):
    code, _, err = run_cli(capsys, "hessian", "random:3", "--local")
    assert code == 2 and "run's point" in err


def test_cli_line_sharpness_and_hessian_surface(capsys, scalar_run):
    code, out, err = run_cli(capsys, "line", "--from", f"init:{scalar_run.id}", "--to", f"final:{scalar_run.id}",
                             "--points", "4", "--splits", "train", "--sharpness", "--local")
    assert code == 0, err
    line = json.loads(out)
    assert line["query"]["sharpness"] == 1 and all(v > 0 for v in line["sharpness"]["train"])
    code, out, err = run_cli(capsys, "surface", scalar_run.id, "--kind", "hessian", "--points", "3x3",
                             "--alpha=-1:1", "--beta=-1:1", "--local")
    assert code == 0, err
    surface = json.loads(out)
    assert len(surface["meta"]["eigenvalues"]) == 2 and len(surface["cost"]["train"]) == 3


@pytest.fixture(scope="module")
def client():
    from app.server import create_app

    return create_app().server.test_client()


def test_api_twin_json_and_csv(client, scalar_run):
    address = f"/api/hessian.json?run={scalar_run.id}&top=2&splits=train&wait=60"
    response = client.get(address)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = json.loads(response.get_data(as_text=True))  # strict: no NaN
    assert body["splits"]["train"]["eigen"]["top"]["values"][0] > 0
    assert "density" in body["splits"]["train"] and "trace" in body["splits"]["train"]
    same = client.get(address.replace("hessian.json", "curvature.json"))
    assert same.status_code == 200 and same.headers["X-Landscape-Cache"] == "hit"
    text = client.get(address.replace(".json", ".csv")).get_data(as_text=True)
    assert text.splitlines()[0] == "split,quantity,index,value,error" and "density" in text


def test_api_bad_input_is_the_one_error_body(client, scalar_run):
    response = client.get(f"/api/hessian.json?run={scalar_run.id}&top=abc")
    assert response.status_code == 400
    assert response.json["ok"] is False and response.json["field"] == "top"


def test_figures_of_a_result(scalar_run, store):
    from app.figures.curvature import convergence_figure, density_figure, with_sharpness
    from app.figures.line import line_figure
    from compute.kinds.hessian import HessianQuery, HessianResult, compute_hessian
    from compute.kinds import resolve
    from compute.kinds.line_result import LineResult

    query = resolve(HessianQuery(f"final:{scalar_run.id}", top=2, trace=True, trace_probes=4, density=True,
                                 density_probes=2, density_steps=2), store)
    result = HessianResult.from_json(compute_hessian(query, store).to_json())
    fig = density_figure(result)
    assert fig["data"][0]["type"] == "scatter" and "tr H" in fig["data"][0]["name"]
    assert sum(1 for a in fig["layout"]["annotations"] if a["text"].startswith("λ")) == 2
    assert fig["layout"]["xaxis"]["ticktext"]  # the symmetric-log ticks, labelled in λ
    conv = convergence_figure(result)
    assert len(conv["data"]) == 3 and conv["layout"]["yaxis2"]["type"] == "log"
    line = LineResult([0.0, 0.5, 1.0], {"train": [1.0, 0.5, 0.1]}, {"train": None}, {}, "",
                      sharpness={"train": [3.0, None, 4.0]})
    fig = with_sharpness(line_figure(line), line)
    assert fig["data"][-1]["yaxis"] == "y3" and fig["layout"]["xaxis"]["anchor"] == "y3"


def test_the_view_draws_a_real_result(scalar_run):
    from app import urls
    from app.runs import load_catalog
    from app.views import VIEWS
    from tests.app.test_views import outcomes

    catalog = load_catalog()
    state = urls.parse("/curvature", f"?run={scalar_run.id}&top=2&splits=train", catalog).state
    assert state["point"] == "final" and state["trace"] == "1" and state["density"] == "1"
    queries = VIEWS["curvature"].queries(state, catalog)
    assert str(queries["hessian"].at) == f"final:{scalar_run.id}"
    figs = VIEWS["curvature"].draw(state, catalog, outcomes(queries))
    assert "tr H" in figs["spectrum"]["data"][0]["name"] and figs["convergence"]["data"]
    step = scalar_run.steps[1]
    state = urls.parse("/curvature", f"?run={scalar_run.id}&point=step&t={step}", catalog).state
    assert str(VIEWS["curvature"].queries(state, catalog)["hessian"].at) == f"step:{scalar_run.id}:{step}"


def test_the_page_in_chromium(dashboard, scalar_run):
    from tests.app.conftest import screenshot, traces, wait_for

    duo = dashboard
    duo.driver.get(f"{duo.server_url}/curvature?run={scalar_run.id}&top=2&splits=train")
    spectrum = wait_for(lambda: (lambda d: d if d and "tr H" in (d[0]["name"] or "") else None)(
        traces(duo, "curvature", "spectrum")), what="the spectral density")
    assert len(spectrum[0]["x"]) == len(spectrum[0]["y"]) > 100
    convergence = traces(duo, "curvature", "convergence")
    assert len(convergence) == 3  # lambda_1, lambda_2 and the error bound
    screenshot(duo, "curvature-view")


def test_the_spectrum_title_is_one_line_and_the_summary_lies_under_the_plot(scalar_run):
    """Issue 23 §2: the title '…: Hessian spectrum at θf<br>train: λ = …' was cut after 'train' (its
    first word on the title's line, 'λ = …' under the plot), and the axis title's second line ran into
    the note; the error bound's log axis read '2 4 7' and '0.00115809'."""
    from app import urls
    from app.figures.style import NOTE
    from app.runs import load_catalog
    from app.views import VIEWS
    from tests.app.test_views import outcomes

    catalog = load_catalog()
    state = urls.parse("/curvature", f"?run={scalar_run.id}&top=2&splits=train,valid", catalog).state
    figs = VIEWS["curvature"].draw(state, catalog, outcomes(VIEWS["curvature"].queries(state, catalog)))
    layout = figs["spectrum"]["layout"]
    assert "<br>" not in layout["title"]["text"] and layout["title"]["text"].endswith("Hessian spectrum at θ<sub>f</sub>")
    assert "<br>" not in layout["xaxis"]["title"]["text"]
    notes = [a["text"].replace("\u00a0", " ") for a in layout["annotations"] if a.get("name") == NOTE]
    assert len(notes) == 1 and "stochastic Lanczos quadrature" in notes[0]
    assert "train: λ = " in notes[0] and "valid: λ = " in notes[0], notes
    assert all(len(line) <= 84 for line in notes[0].split("<br>"))
    bound = figs["convergence"]["layout"]["yaxis2"]
    assert bound["type"] == "log" and bound["exponentformat"] == "power" and bound["side"] == "right"
