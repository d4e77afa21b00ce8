"""The Surface and Controls views' address <-> state round trip, without a browser."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from app import urls
from app.runs import RunCatalog, RunInfo
from app.views.surface import camera_of

RUN = RunInfo("relu-mnist-small-s0-0123456789", "relu-mnist", "small", 0, (0, 5, 10), (0.0, 0.5, 1.0), 10)
CATALOG = RunCatalog((RUN,))

finite = st.floats(-50, 50, allow_nan=False).map(lambda x: round(x, 3))
ranges = st.one_of(st.none(), st.tuples(finite, finite).filter(lambda r: r[0] < r[1]))


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["paper", "random-plane", "alpha-random"]), arange=ranges, brange=ranges,
       grid=st.tuples(st.integers(2, 201), st.integers(2, 201)), dseed=st.integers(0, 10**6),
       norm=st.sampled_from(["global", "filter"]), split=st.sampled_from(["train", "valid", "test"]),
       plot=st.sampled_from(["surface", "heatmap", "contour"]), y=st.sampled_from(["linear", "log"]),
       camera=st.one_of(st.none(), st.tuples(finite.filter(bool), finite, finite)),
       color=st.sampled_from(["auto", "linear", "log"]), dtype=st.sampled_from(["float32", "bfloat16", "float16"]))
def test_surface_address_round_trip(kind, arange, brange, grid, dseed, norm, split, plot, y, camera, color, dtype):
    state = {"view": "surface", "run": RUN.id, "kind": kind, "arange": arange, "brange": brange, "grid": grid,
             "dseed": dseed, "norm": norm, "split": split, "bn": "interpolate", "dtype": dtype, "plot": plot,
             "color": color, "y": y,
             "camera": camera}
    parsed = urls.parse("/surface", urls.search(state), CATALOG)
    assert parsed.notices == []
    expected = dict(state)
    if kind == "paper":
        expected["dseed"] = 0  # not in the address: its default
    if kind != "random-plane":
        expected["norm"] = "global"
    if plot != "surface":
        expected["camera"] = None
    else:
        expected["color"] = "auto"  # a heat map's colour scale: not in the address of a 3-D surface
    assert parsed.state == expected


@pytest.mark.parametrize("search, notice", [
    ("?grid=500x3", "grid"), ("?kind=sphere", "kind"), ("?camera=0,0,0", "camera"), ("?camera=1,2", "camera"),
    ("?arange=2:1", "arange"), ("?kind=random-plane&dseed=-3", "dseed"),
])
def test_invalid_surface_addresses_fall_back_with_a_notice(search, notice):
    parsed = urls.parse("/surface", search, CATALOG)
    assert len(parsed.notices) == 1 and parsed.notices[0].startswith(notice)


def test_camera_from_a_rotation_event():
    event = {"scene.camera": {"eye": {"x": 1.23456, "y": -0.5, "z": 0.25}, "center": {"x": 0, "y": 0, "z": 0},
                              "up": {"x": 0, "y": 0, "z": 1}}}
    assert camera_of(event) == (1.235, -0.5, 0.25)
    event["scene.camera"]["center"] = {"x": 0.1, "y": 0, "z": 0}
    assert camera_of(event) == (1.235, -0.5, 0.25, 0.1, 0.0, 0.0, 0.0, 0.0, 1.0)
    assert camera_of({"xaxis.range[0]": 1}) is None and camera_of(None) is None


@pytest.mark.parametrize("search, params", [
    ("?exp=random-walk&dims=100000,2&seeds=3", {"dims": (2, 100000), "seeds": (3,)}),
    ("?exp=convex&cdim=1000&lrs=0.1&momenta=0,0.5", {"cdim": 1000, "lrs": (0.1,), "momenta": (0.0, 0.5)}),
    ("?exp=factored&w1=-1:3&w2=-2:2", {"w1": (-1.0, 3.0), "w2": (-2.0, 2.0)}),
    ("?exp=scalar-lines&solutions=3,-1&rscale=20", {"solutions": (3.0, -1.0), "rscale": 20.0}),
    (f"?exp=extremes&xrun={RUN.id[:22]}", {"xrun": RUN.id}),
])
def test_controls_address_round_trip_and_queries(search, params):
    from app.views import VIEWS

    parsed = urls.parse("/controls", search, CATALOG)
    assert parsed.notices == []
    for name, value in params.items():
        assert parsed.state[name] == value
    again = urls.parse("/controls", urls.search(parsed.state), CATALOG)
    assert again.state == parsed.state
    query = VIEWS["controls"].queries(parsed.state, CATALOG)["control"]
    assert query.experiment == parsed.state["exp"]
