"""`landscape surface` and `landscape control`: the JSON shapes of the issue, exit 2 on bad input."""

from __future__ import annotations

import json

import pytest

from app.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_surface_json_shape(relu_run, capsys):
    code, out, _ = _run(capsys, "surface", relu_run.id[:22], "--kind", "alpha-random", "--alpha=-0.5:1.5",
                        "--beta=-1:1", "--points", "3x4", "--splits", "train,valid", "--local")
    assert code == 0
    obj = json.loads(out)
    assert {"alpha", "beta", "cost", "trajectory", "query", "key"} <= set(obj)
    assert obj["alpha"] == [-0.5, 0.5, 1.5] and len(obj["beta"]) == 4
    for split in ("train", "valid"):  # cost rows follow alpha, columns follow beta
        assert len(obj["cost"][split]) == 3 and all(len(r) == 4 for r in obj["cost"][split])
    traj = obj["trajectory"]
    assert traj["step"] == relu_run.steps
    assert {"step", "alpha", "beta", "cost"} <= set(traj) and len(traj["cost"]["train"]) == len(relu_run.steps)
    assert obj["query"]["run"] == relu_run.id and obj["query"]["surface"] == "alpha-random"
    assert obj["key"].startswith("surface-")


def test_paper_surface_csv(relu_run, capsys):
    code, out, _ = _run(capsys, "surface", relu_run.id, "--points", "2x2", "--format", "csv", "--local")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == "alpha,beta,path_point,cost_train"
    assert len(lines) == 1 + 2 * (2 + 1)  # each row: its grid and its path point


def test_control_factored_json_shape(capsys):
    code, out, _ = _run(capsys, "control", "factored", "--w1=-1:1", "--w2=-1:1", "--points", "3x5",
                        "--steps", "10", "--local")
    assert code == 0
    obj = json.loads(out)
    assert obj["w1"] == [-1.0, 0.0, 1.0] and len(obj["w2"]) == 5
    assert len(obj["cost"]) == 3 and all(len(r) == 5 for r in obj["cost"])  # rows follow w1
    assert obj["cost"][1] == [1.0] * 5  # w1 = 0: (1 - 0)^2
    assert len(obj["trajectory"]["w1"]) == 11 and obj["query"]["experiment"] == "factored"


def test_control_random_walk_json_shape(capsys):
    code, out, _ = _run(capsys, "control", "random-walk", "--dims", "3,5", "--seeds", "4", "--steps", "20",
                        "--solution-step", "18", "--local")
    assert code == 0
    obj = json.loads(out)
    assert [(w["dim"], w["seed"]) for w in obj["walks"]] == [(3, 4), (5, 4)]
    assert all(len(w["alpha"]) == 21 and len(w["beta"]) == 21 for w in obj["walks"])


@pytest.mark.parametrize("argv", [
    ["surface", "no-such-run"],
    ["surface", "RUN", "--points", "3x500"],
    ["surface", "RUN", "--kind", "sphere"],
    ["surface", "RUN", "--beta", "1:0"],
    ["surface", "RUN", "--seed", "1"],
    ["control", "convex", "--lrs", "4", "--momenta", "0"],
    ["control", "random-walk", "--dims", "2,x"],
])
def test_bad_input_exits_2_with_one_line(relu_run, capsys, argv):
    argv = [relu_run.id if a == "RUN" else a for a in argv]
    code, out, err = _run(capsys, *argv, "--local")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("landscape: error: ")


@pytest.mark.parametrize("spaced, joined", [
    (["surface", "RUN", "--kind", "alpha-random", "--alpha", "-0.5:1.5", "--beta", "-1:1", "--points", "3x3"],
     ["surface", "RUN", "--kind", "alpha-random", "--alpha=-0.5:1.5", "--beta=-1:1", "--points", "3x3"]),
    (["control", "factored", "--w1", "-1:1", "--w2", "-1:1", "--points", "3x3", "--steps", "5"],
     ["control", "factored", "--w1=-1:1", "--w2=-1:1", "--points", "3x3", "--steps", "5"]),
    (["control", "scalar-lines", "--alpha", "-1:1", "--points", "3", "--steps", "5"],
     ["control", "scalar-lines", "--alpha=-1:1", "--points", "3", "--steps", "5"]),
])
def test_negative_ranges_need_no_equals_sign(relu_run, capsys, spaced, joined):
    """Every flag that takes a range takes one starting with '-' as its value, with or without '='."""
    spaced, joined = ([relu_run.id if a == "RUN" else a for a in argv] for argv in (spaced, joined))
    code, out, err = _run(capsys, *spaced, "--local")
    assert code == 0, err
    assert _run(capsys, *joined, "--local")[:2] == (0, out)
