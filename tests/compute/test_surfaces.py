"""Surfaces on a real recorded run: the trajectory lies on the `paper` surface exactly, its beta = 0
column is the line, the planes contain what they claim, chunked jobs equal one-shot results."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.errors import BadInput
from compute.kinds.line import LineQuery, compute_line
from compute.kinds.surface.query import SurfaceQuery
from compute.kinds.trajectory import TrajectoryQuery, compute_trajectory
from compute.resources import evaluator_for, theta_of
from compute.kinds.surface.kind import compute_surface
from compute.kinds.surface.plane import filter_normalised


def _true_costs(run, steps, splits):
    thetas = torch.stack([theta_of(run, t) for t in steps])
    return {s: m.cost for s, m in evaluator_for(run).evaluate_points(thetas, splits).splits.items()}


def test_trajectory_cost_equals_paper_surface_at_every_step(paper_surface, relu_run, store):
    result = paper_surface
    assert result.trajectory["step"] == relu_run.steps  # every recorded step is a row
    assert len(result.alpha) == len(relu_run.steps) + 4  # and the interpolated rows between them
    true = _true_costs(relu_run, relu_run.steps, ["train", "valid"])
    for split in ("train", "valid"):
        rows_a, rows_b, rows_z = result.mesh(split)
        for t, a, b, expected in zip(result.trajectory["step"], result.trajectory["alpha"],
                                     result.trajectory["beta"], true[split]):
            i = result.path["step"].index(t)
            assert rows_a[i][0] == a
            j = rows_b[i].index(b)  # the trajectory point is a vertex of the drawn surface
            assert abs(rows_z[i][j] - expected) <= 1e-5, (split, t, rows_z[i][j], expected)
    # The frame is that of `landscape trajectory`.
    frame = compute_trajectory(TrajectoryQuery(relu_run.id), store)
    np.testing.assert_allclose(result.trajectory["alpha"], frame.alpha, rtol=0, atol=1e-9)
    np.testing.assert_allclose(result.trajectory["beta"], frame.beta, rtol=1e-9, atol=1e-9)
    assert result.meta["path_mismatch"] < 1e-5


def test_beta_zero_column_is_the_line_init_to_final(paper_surface, relu_run, store):
    result = paper_surface
    assert result.beta[0] == 0.0
    line = compute_line(LineQuery(f"init:{relu_run.id}", f"final:{relu_run.id}", splits=("train", "valid")),
                        store, alphas=np.array(result.alpha))
    for split in ("train", "valid"):
        column = [row[0] for row in result.cost[split]]
        np.testing.assert_allclose(column, line.cost[split], rtol=1e-6, atol=1e-6)
    # theta_i and theta_f rows hold J(theta_i), J(theta_f) at beta = 0.
    true = _true_costs(relu_run, [relu_run.init_step, relu_run.final_step], ["train"])["train"]
    first = result.path["step"].index(relu_run.init_step)
    final = result.path["step"].index(relu_run.final_step)
    assert abs(result.cost["train"][first][0] - true[0]) < 1e-5
    assert abs(result.cost["train"][final][0] - true[1]) < 1e-5


def test_interpolated_rows_pass_through_the_chord_between_checkpoints(paper_surface, relu_run):
    result = paper_surface
    steps = result.path["step"]
    i = next(i for i, t in enumerate(steps) if t is None)  # the first interpolated row
    k0 = relu_run.steps.index(steps[i - 1] if steps[i - 1] is not None else steps[i - 2])
    a0, a1 = (result.trajectory["alpha"][k] for k in (k0, k0 + 1))
    s = (result.alpha[i] - a0) / (a1 - a0)
    chord = (1 - s) * theta_of(relu_run, relu_run.steps[k0]).double() + s * theta_of(relu_run, relu_run.steps[k0 + 1]).double()
    expected = evaluator_for(relu_run).evaluate_points(chord[None].float(), ["train"]).splits["train"].cost[0]
    assert abs(result.path["cost"]["train"][i] - expected) < 1e-5


def test_alpha_random_plane_holds_init_final_and_the_true_frame(relu_run, store):
    q = SurfaceQuery(relu_run.id, "alpha-random", alpha_min=0.0, alpha_max=1.0, beta_min=-1.0, beta_max=1.0,
                     rows=2, columns=3, seed=3)
    result = compute_surface(q, store)
    true = _true_costs(relu_run, [relu_run.init_step, relu_run.final_step], ["train"])["train"]
    assert abs(result.cost["train"][0][1] - true[0]) < 1e-5  # (alpha 0, b 0) = theta_i
    assert abs(result.cost["train"][1][1] - true[1]) < 1e-5  # (alpha 1, b 0) = theta_f
    traj = result.trajectory
    frame = compute_trajectory(TrajectoryQuery(relu_run.id), store)
    np.testing.assert_allclose(traj["alpha"], frame.alpha, atol=1e-9)
    # r is orthogonal to u: the line's residual splits into b(t) along r and what the plane misses.
    np.testing.assert_allclose(np.hypot(traj["beta"], traj["residual"]), frame.beta, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(traj["cost"]["train"], _true_costs(relu_run, relu_run.steps, ["train"])["train"],
                               atol=1e-6)


def test_random_plane_is_centred_on_theta_f(relu_run, store):
    q = SurfaceQuery(relu_run.id, "random-plane", alpha_min=-1.0, alpha_max=1.0, beta_min=-1.0, beta_max=1.0,
                     rows=3, columns=3, seed=1)
    result = compute_surface(q, store)
    true_final = _true_costs(relu_run, [relu_run.final_step], ["train"])["train"][0]
    assert abs(result.cost["train"][1][1] - true_final) < 1e-5
    final = relu_run.steps.index(relu_run.final_step)
    traj = result.trajectory
    assert abs(traj["alpha"][final]) < 1e-9 and abs(traj["beta"][final]) < 1e-9 and traj["residual"][final] < 1e-6
    assert abs(traj["plane_cost"]["train"][final] - true_final) < 1e-5
    assert result.meta["direction_norms"] == pytest.approx([result.meta["distance"]] * 2, rel=1e-9)
    # Same seed, same plane; another seed, another plane.
    again = compute_surface(q, store)
    assert again.cost == result.cost
    other = compute_surface(SurfaceQuery(**{**_fields(q), "seed": 2}), store)
    assert other.cost["train"][0][0] != result.cost["train"][0][0]


def _fields(q):
    return {k: v for k, v in q.to_json().items() if k != "kind"}


def test_filter_normalisation_matches_filter_norms(relu_run):
    theta_f = theta_of(relu_run, relu_run.final_step).double()
    d = filter_normalised(torch.randn(len(theta_f), dtype=torch.float64, generator=torch.Generator().manual_seed(0)),
                          theta_f, relu_run, 0.5)
    for name, (lo, hi) in relu_run.layout.offsets().items():
        shape = relu_run.layout.shapes[relu_run.layout.names.index(name)]
        if len(shape) == 1:
            assert torch.count_nonzero(d[lo:hi]) == 0  # biases are not moved (Li et al.)
        else:
            got = torch.linalg.vector_norm(d[lo:hi].reshape(shape[0], -1), dim=1)
            want = 0.5 * torch.linalg.vector_norm(theta_f[lo:hi].reshape(shape[0], -1), dim=1)
            torch.testing.assert_close(got, want)


def _assembled(q, store, spans):
    from compute.kinds.surface.kind import assemble_surface, check_surface, surface_part

    result = assemble_surface(q, [surface_part(q, store, span) for span in spans])
    check_surface(q, result)
    return result


def _same(a, b):
    return all(a[f] == b[f] for f in ("alpha", "beta", "cost", "path", "trajectory"))


@pytest.mark.parametrize("surface", ["paper", "random-plane"])
def test_chunks_of_whole_rows_equal_one_shot_bit_for_bit(relu_run, store, surface):
    from compute.jobs.base import execute
    from compute.kinds.surface.grid import row_width
    from compute.kinds.surface.kind import split_surface

    q = SurfaceQuery(relu_run.id, surface, rows=4, columns=2)
    whole = compute_surface(q, store).to_json()
    width = row_width(q)
    chunks = split_surface(q, width)  # one row per chunk
    assert chunks == [[i * width, (i + 1) * width] for i in range(4)]
    assert _same(_assembled(q, store, chunks), whole)
    assert _same(execute(q, store).to_json(), whole)  # and through the job layer's own chunks


@pytest.mark.parametrize("surface", ["paper", "alpha-random"])
def test_rows_cut_in_parts_agree_with_whole_rows(relu_run, store, surface, monkeypatch):
    """A row in parts is one evaluator call per part. Off the line fast path every point's value is
    computed alone (first-layer reuse combines each point's own coefficients): bit for bit, for any
    start and end of the parts, across rows too. The line fast path expands about the middle of the
    points of its call, so there the parts agree with the whole row to float rounding."""
    from compute import linefast
    from compute.kinds.surface.kind import MIN_ROW_PART, split_surface
    from compute.kinds.surface.grid import row_width

    q = SurfaceQuery(relu_run.id, surface, rows=3, columns=18 - (surface == "paper"))
    width = row_width(q)
    chunks = split_surface(q, 6)  # parts of 6 points: enough for the line fast path (linefast.MIN_POINTS)
    assert len(chunks) == 3 * 3 and all(hi - lo == 6 >= MIN_ROW_PART for lo, hi in chunks)
    assert [lo for lo, _ in chunks[1:]] == [hi for _, hi in chunks[:-1]] and chunks[-1][1] == 3 * width
    whole = compute_surface(q, store).to_json()
    cut = _assembled(q, store, chunks)
    assert cut["alpha"] == whole["alpha"] and cut["beta"] == whole["beta"]
    for split in q.splits:
        np.testing.assert_allclose(cut["cost"][split], whole["cost"][split], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(cut["trajectory"]["cost"][split], whole["trajectory"]["cost"][split], atol=1e-6)
    if surface == "paper":
        assert cut["path"]["beta"] == whole["path"]["beta"] and cut["path"]["turn"] == whole["path"]["turn"]
        assert cut["meta"]["path_mismatch"] < 1e-5

    monkeypatch.setattr(linefast, "ENABLED", False)
    whole = compute_surface(q, store).to_json()
    odd = [[0, 5], [5, width + 7], [width + 7, 2 * width + 4], [2 * width + 4, 3 * width]]  # any start and end
    assert _same(_assembled(q, store, odd), whole)


def test_a_small_model_s_surface_chunks_hold_about_the_work_of_a_line_chunk(relu_run, store):
    from compute import budget
    from compute.jobs.base import CHUNK_POINTS, chunk_points
    from compute.kinds import estimate, resolve
    from compute.kinds.surface.kind import split_surface

    q = resolve(SurfaceQuery(relu_run.id, "random-plane", -1.0, 1.0, -1.0, 1.0, 201, 201, seed=3), store)
    points = chunk_points(q, store)
    per_point = estimate(q, store).per_point
    assert points == int(budget.CHUNK_WORK // per_point) > CHUNK_POINTS  # the work decides, not a line's cap
    chunks = split_surface(q, points)
    assert max(hi - lo for lo, hi in chunks) <= points < 201  # parts of rows
    assert chunks[-1][1] == 201 * 201 and len(chunks) == 201 * 2


@pytest.mark.parametrize("kwargs, field", [
    (dict(surface="cylinder"), "kind"),
    (dict(alpha_min=1.0, alpha_max=0.0), "alpha"),
    (dict(beta_min=0.0, beta_max=float("nan")), "beta"),
    (dict(beta_min=0.0), "beta"),
    (dict(rows=1), "points"),
    (dict(columns=202), "points"),
    (dict(splits=("train", "holdout")), "splits"),
    (dict(seed=1), "seed"),  # paper has no random direction
    (dict(surface="alpha-random", scale=2.0), "scale"),
    (dict(surface="random-plane", scale=-1.0), "scale"),
    (dict(surface="random-plane", normalization="layer"), "normalization"),
    (dict(surface="random-plane", seed=-1), "seed"),
])
def test_bad_surface_queries_are_refused(kwargs, field):
    with pytest.raises(BadInput) as err:
        SurfaceQuery("some-run", **kwargs)
    assert err.value.field == field


def test_bad_cli_strings_are_refused():
    for args in (dict(points="41"), dict(points="0x5"), dict(alpha="1:0"), dict(beta="a:b"), dict(seed="x")):
        with pytest.raises(BadInput):
            SurfaceQuery.from_args("some-run", **({"surface": "random-plane"} | args))


def test_alpha_range_without_two_recorded_steps_is_refused(relu_run, store):
    q = SurfaceQuery(relu_run.id, "paper", alpha_min=5.0, alpha_max=6.0, rows=3, columns=2)
    with pytest.raises(BadInput) as err:
        compute_surface(q, store)
    assert err.value.field == "alpha"


def test_query_json_round_trip_and_key():
    q = SurfaceQuery.from_args("some-run", "random-plane", "-1:1", "-2:2", "11x7", "valid,train", seed="4",
                               normalization="filter")
    assert q.splits == ("train", "valid") and (q.rows, q.columns) == (11, 7)
    assert SurfaceQuery.from_json(q.to_json()) == q
    assert SurfaceQuery.from_json(q.to_json()).key() == q.key()
    assert SurfaceQuery("some-run", "random-plane").key() == SurfaceQuery("some-run", "random-plane", seed=0).key()
    assert q.key() != SurfaceQuery.from_args("some-run", "random-plane", "-1:1", "-2:2", "11x7", "valid,train",
                                             seed="5", normalization="filter").key()
