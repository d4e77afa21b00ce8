"""The labels drawn at a line's ends come from one function (app/labels.endpoint_names): the Line
view's and the CLI's `--plot` figure say the same for the same pair."""

from __future__ import annotations

import pytest

from compute.queries import Endpoint

from app.figures.results import result_figure
from app.labels import THETA_F, THETA_I, endpoint_names
from app.runs import RunCatalog, RunInfo
from app.views.line import endpoints

A = RunInfo("relu-mnist-small-s1-0123456789", "relu-mnist", "small", 1, (0, 10), (0.0, 1.0), 10, family="f")
B = RunInfo("relu-mnist-small-s10-abcdef0123", "relu-mnist", "small", 10, (0, 10), (0.0, 1.0), 10, family="f")
CATALOG = RunCatalog((A, B))


@pytest.mark.parametrize("pair, extra, names", [
    ("init", {}, (THETA_I, THETA_F)),
    ("seeds", {"other": B.id}, (f"{THETA_F} seed 1", f"{THETA_F} seed 10")),
    ("random", {"rseed": 3, "scale": 12.5}, ("random ×12.5", THETA_F)),
    ("step", {"step": 10}, ("θ(t=10)", THETA_F)),
])
def test_the_view_labels_its_pair_with_the_one_function(pair, extra, names):
    start, end, labels = endpoints({"view": "line", "run": A.id, "pair": pair, **extra}, CATALOG)
    assert labels == names
    assert endpoint_names(Endpoint.parse(start), Endpoint.parse(end), CATALOG.seed_of) == names


def test_a_solution_of_an_unknown_seed_is_named_by_its_run():
    names = endpoint_names(Endpoint.parse(f"final:{A.id}"), Endpoint.parse("final:other-run"), lambda run_id: None)
    assert names == (f"{THETA_F} {A.id}", f"{THETA_F} other-run")


def test_a_result_type_without_a_figure_is_refused():
    with pytest.raises(ValueError, match="no figure for a dict"):
        result_figure({}, CATALOG.seed_of)


def test_the_random_walks_title_names_the_star_on_its_own_line():
    """Issue 23 §2: the title was cut before '(★)', leaving '(★); high dimension forces the same shape'
    under the plot; the star is explained in the title's line now, the rest under the plot."""
    from app.figures.controls import random_walk_figure
    from app.figures.style import NOTE

    walks = [{"dim": d, "seed": 0, "alpha": [0.1 * i for i in range(11)], "beta": [0.0] * 11} for d in (2, 10)]
    layout = random_walk_figure({"walks": walks, "steps": 10, "solution_step": 9}).to_plotly_json()["layout"]
    assert layout["title"]["text"] == "Random walks: α vs β, the solution ★ at step 9 of 10"
    notes = [a["text"] for a in layout["annotations"] if a.get("name") == NOTE]
    assert notes == ["high dimension forces the same shape"]
