"""What each view draws for real results (computed by the real job layer), and for no runs."""

from __future__ import annotations

from app import urls
from app.runs import RunCatalog, load_catalog
from app.jobclient import Outcome
from app.views import VIEWS
from compute.jobs.backend import run_job


def outcomes(queries: dict, ready: set[str] | None = None) -> dict[str, Outcome]:
    out = {}
    for name, query in queries.items():
        if ready is None or name in ready:
            out[name] = Outcome(query.key(), "done", 1, 1, result=run_job(query))
        else:
            out[name] = Outcome(query.key(), "running", 1, 2)
    return out


def test_empty_store_says_how_to_get_runs():
    for name in ("line", "trajectory", "compare"):
        state = urls.parse(f"/{name}", "", RunCatalog()).state
        figures = VIEWS[name].draw(state, RunCatalog(), {})
        texts = [a["text"] for f in figures.values() for a in f["layout"]["annotations"]]
        assert any("No runs yet" in t and "landscape train" in t for t in texts), name


def test_line_keeps_the_coarse_curve_until_the_zoomed_one_is_ready(scalar_run):
    catalog = load_catalog()
    state = urls.parse("/line", f"run={scalar_run.id}&alpha=-0.5:1.5&points=21&zoom=0.99:1", catalog).state
    queries = VIEWS["line"].queries(state, catalog)
    waiting = VIEWS["line"].draw(state, catalog, outcomes(queries, ready={"main"}))["line"]
    assert [len(t["x"]) for t in waiting["data"]] == [21, 21] and waiting["data"][0]["x"][0] == -0.5
    assert any(s["type"] == "rect" and (s["x0"], s["x1"]) == (0.99, 1.0) for s in waiting["layout"]["shapes"])
    assert any("computing zoom α ∈ [0.99, 1]" in a["text"] for a in waiting["layout"]["annotations"])

    zoomed = VIEWS["line"].draw(state, catalog, outcomes(queries))["line"]
    assert all(0.99 <= a <= 1.0 for t in zoomed["data"] for a in t["x"]) and len(zoomed["data"][0]["x"]) == 21
    assert zoomed["layout"]["xaxis"]["range"] == [0.99, 1.0]
    # α = 1 is θ_f, a solution of y = w1 w2 x
    assert zoomed["data"][0]["y"][-1] < 1e-6

    data, text = VIEWS["line"].export(state, outcomes(queries))
    assert data["alpha"][0] == 0.99 and text.splitlines()[0] == "alpha,cost_train,cost_valid"


def test_compare_draws_what_is_ready_and_says_what_is_not(scalar_run, scalar_run_seed1):
    catalog = load_catalog()
    state = urls.parse("/compare", f"runs={scalar_run.id},{scalar_run_seed1.id}&points=9&splits=train", catalog).state
    queries = VIEWS["compare"].queries(state, catalog)
    fig = VIEWS["compare"].draw(state, catalog, outcomes(queries, ready={scalar_run.id}))["compare"]
    assert [t["name"] for t in fig["data"]] == ["scalar-linear (small, seed 0) · train"]
    assert fig["layout"]["yaxis"]["type"] == "log"
    assert any("computing 1 more line" in a["text"] for a in fig["layout"]["annotations"])


def test_trajectory_figures_hold_every_checkpoint(scalar_run):
    catalog = load_catalog()
    state = urls.parse("/trajectory", f"run={scalar_run.id}&y=log", catalog).state
    figs = VIEWS["trajectory"].draw(state, catalog, outcomes(VIEWS["trajectory"].queries(state, catalog)))
    n = len(scalar_run.steps)
    assert all(len(t["x"]) == n for t in figs["curve"]["data"]) and figs["curve"]["layout"]["yaxis"]["type"] == "log"
    sgd = figs["ab"]["data"][1]
    assert len(sgd["x"]) == n and sgd["x"][0] == 0.0 and min(sgd["y"]) >= 0.0
    assert [c[3] for c in sgd["customdata"]] == figs["ratio"]["data"][0]["y"]  # β/‖θ‖ on hover and plotted


def test_a_dragged_box_becomes_the_zoom_window():
    from app.views.line import _window

    lo, hi = _window({"xaxis.range[0]": 0.1000012345678, "xaxis.range[1]": 0.2})
    assert (lo, hi) == (0.100001, 0.2)  # about 5 significant digits of the window: a short address
    assert _window({"xaxis.range": [0.3, 0.2]}) == (0.2, 0.3)
    assert _window({"xaxis.autorange": True}) is None  # double-click: back to the whole line
    assert _window({"autosize": True}) is False  # not about α: nothing to do
    assert _window({"xaxis.range[0]": 1, "xaxis.range[1]": 1}) is False


def test_no_runs_while_the_demo_trains_says_it_waits_and_never_how_to_get_a_run(monkeypatch, tmp_path):
    """Issue 23 §3: no page says 'No runs yet' or 'no run chosen: train one' under the banner that
    says the demo runs are training; the refusals carry no literal backticks either way."""
    from app import demo
    from app.pages import home, runs as runs_page
    from models.errors import BadInput

    def said(view: str) -> tuple[list[str], str]:
        state = urls.parse(f"/{view}", "", RunCatalog()).state
        figures = VIEWS[view].draw(state, RunCatalog(), {})
        texts = [a["text"] for f in figures.values() for a in f["layout"].get("annotations", ())]
        try:
            VIEWS[view].queries(state, RunCatalog())
            refusal = ""
        except BadInput as refused:
            refusal = str(refused)
        return texts, refusal

    views = ("line", "trajectory", "compare", "surface", "curvature")
    idle = {v: said(v) for v in views}
    for view, (texts, refusal) in idle.items():
        assert any("No runs yet" in t for t in texts), view
        assert "`" not in refusal and "`" not in "".join(texts), view
    assert "no run chosen" in idle["curvature"][1] and "landscape train" in idle["curvature"][1]

    monkeypatch.setattr(demo, "demo_status", lambda present: {"training": [], "active": True})
    monkeypatch.setenv("LANDSCAPE_HOME", str(tmp_path / "empty"))  # /runs reads the store: none in it
    for view in views:
        texts, refusal = said(view)
        assert any("Waiting for the demo runs" in t for t in texts), (view, texts)
        assert not any("No runs yet" in t for t in texts) and "no run chosen" not in refusal, view
    assert "waiting for the demo runs" in said("curvature")[1]
    for page in (home, runs_page):
        text = str(page.layout("", RunCatalog()))
        assert "Waiting for the demo runs" in text and "No runs yet" not in text, page.__name__


def test_a_surface_under_way_leaves_the_count_of_parts_to_the_progress_bar(scalar_run):
    """Issue 23 §2: the bar said 'part 12 of 402' while the plot, drawn at the job's last change of
    state, still said 'part 8 of 402'; the plot names no count now."""
    catalog = load_catalog()
    state = urls.parse("/surface", f"run={scalar_run.id}&grid=5x5", catalog).state
    query = VIEWS["surface"].queries(state, catalog)["surface"]
    drawn = VIEWS["surface"].draw(state, catalog, {"surface": Outcome(query.key(), "running", 8, 402)})["surface"]
    texts = [a["text"] for a in drawn["layout"]["annotations"]]
    assert any("computing the surface" in t and "the bar above" in t for t in texts), texts
    assert not any("part" in t or "402" in t for t in texts), texts
