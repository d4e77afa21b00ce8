"""The `pca` surface through the CLI, the Surface view and its figure, on the session's relu run."""

from __future__ import annotations

import json

import pytest

from app import urls
from app.cli import main
from app.figures.surface import plane_note, surface_figure
from app.jobclient import Outcome
from app.runs import load_catalog
from app.views import VIEWS
from compute.jobs.backend import run_job
from compute.kinds.surface.result import SurfaceResult


@pytest.fixture(scope="module")
def pca_result(relu_run):
    catalog = load_catalog()
    state = urls.parse("/surface", f"?run={relu_run.id}&kind=pca&grid=3x3", catalog).state
    query = VIEWS["surface"].queries(state, catalog)["surface"]
    return state, catalog, query, run_job(query)


def test_cli_surface_kind_pca(relu_run, capsys):
    code = main(["surface", relu_run.id, "--kind", "pca", "--points", "3x3", "--local"])
    out = capsys.readouterr().out
    assert code == 0
    result = json.loads(out)
    ratio = result["meta"]["explained_variance_ratio"]
    assert len(ratio) == 2 and 1.0 >= ratio[0] >= ratio[1] > 0.0 and ratio[0] + ratio[1] <= 1.0 + 1e-12
    traj = result["trajectory"]
    assert len(traj["off_plane"]) == len(traj["cost"]["train"]) == len(traj["plane_cost"]["train"]) == len(relu_run.steps)
    assert all(0.0 <= f <= 1.0 for f in traj["off_plane"])


def test_cli_refuses_a_seed_for_pca_in_one_line(relu_run, capsys):
    code = main(["surface", relu_run.id, "--kind", "pca", "--seed", "3", "--local"])
    err = capsys.readouterr().err
    assert code == 2 and "seed" in err and len(err.strip().splitlines()) == 1


def test_the_view_asks_for_the_pca_plane_without_a_seed(pca_result, relu_run):
    state, _, query, _ = pca_result
    assert state["kind"] == "pca" and query.surface == "pca" and query.seed is None
    assert "dseed" not in urls.search(state)  # the seed field does not apply: not in the address


def test_the_figure_says_how_much_of_the_path_the_plane_shows(pca_result):
    state, catalog, query, result = pca_result
    ratio = result["meta"]["explained_variance_ratio"]
    for plot in ("surface", "heatmap"):
        fig = surface_figure(SurfaceResult.from_json(result), split="train", plot=plot)
        layout = fig["layout"] if "layout" in fig else fig
        titles = (json.dumps(layout.get("scene", {})) + json.dumps(layout.get("xaxis", {}))
                  + json.dumps(layout.get("yaxis", {})))
        assert f"{ratio[0]:.1%}" in titles and f"{ratio[1]:.1%}" in titles  # explained variance in the axis titles
        path = next(t for t in fig["data"] if t.get("name", "").startswith("SGD trajectory"))
        assert "% of its distance" in path["hovertemplate"]
        assert [row[6] for row in path["customdata"]] == [100 * f for f in result["trajectory"]["off_plane"]]
        note = " ".join(a["text"] for a in layout["annotations"])
        assert "Off the plane" in note
    assert plane_note(SurfaceResult.from_json(result), "train").startswith("Off the plane")
    drawn = VIEWS["surface"].draw(state, catalog, {"surface": Outcome(query.key(), "done", 1, 1, result=result)})
    assert "principal directions" in json.dumps(drawn["surface"]["layout"])  # the title and its note
    VIEWS["surface"].layout(state, catalog)  # the page's form for the kind (its help, the range labels a and b)


def test_a_random_plane_says_its_path_is_a_shadow(relu_run):
    catalog = load_catalog()
    state = urls.parse("/surface", f"?run={relu_run.id}&kind=random-plane&grid=2x2", catalog).state
    result = run_job(VIEWS["surface"].queries(state, catalog)["surface"])
    assert "almost wholly off this plane" in plane_note(SurfaceResult.from_json(result), "train")


@pytest.mark.browser
def test_the_page_draws_the_pca_plane_with_its_honesty(dashboard, relu_run):
    from tests.browser_support import wait_for

    duo = dashboard
    duo.driver.get(f"{duo.server_url}/surface?run={relu_run.id}&kind=pca&grid=3x3&plot=heatmap")
    gid = json.dumps({"graph": "surface", "view": "surface"}, sort_keys=True, separators=(",", ":"))
    drawn = wait_for(lambda: duo.driver.execute_script("""
        const gd = document.getElementById(arguments[0])?.querySelector('.js-plotly-plot');
        if (!gd || !gd.data || !gd._fullLayout || !gd.data.length || gd.data[0].type !== 'heatmap') return null;
        return {x: gd._fullLayout.xaxis.title.text, y: gd._fullLayout.yaxis.title.text,
                notes: (gd._fullLayout.annotations || []).map(a => a.text).join(' '),
                path: Array.from(gd.data[1].x), hover: gd.data[1].hovertemplate};
    """, gid), what="the pca heat map")
    assert "of the variance" in drawn["x"] and "of the variance" in drawn["y"]
    assert "Off the plane" in drawn["notes"] and "% of its distance" in drawn["hover"]
    assert drawn["path"][relu_run.steps.index(relu_run.final_step)] == 0.0  # θ_f at the origin
