"""The Surface and Controls views in headless Chromium (dash_duo): real app, real run, real jobs."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.browser

from tests.browser_support import SCREENSHOTS, wait_for


def plot(browser, view: str, name: str) -> dict | None:
    """What Plotly drew in a graph: traces (type, name, x, y, z) and the 3-D camera."""
    gid = json.dumps({"graph": name, "view": view}, sort_keys=True, separators=(",", ":"))
    return browser.driver.execute_script("""
        const box = document.getElementById(arguments[0]);
        const gd = box && box.querySelector('.js-plotly-plot');
        if (!gd || !gd.data || !gd._fullLayout) return null;
        const arr = v => v ? Array.from(v) : [];
        const scene = gd._fullLayout.scene;
        return {traces: gd.data.map(t => ({type: t.type, name: t.name || null, x: arr(t.x), y: arr(t.y),
                                          z: arr(t.z)})),
                eye: scene ? scene.camera.eye : null};
    """, gid)


def screenshot(browser, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def drawn_surface(browser):
    got = plot(browser, "surface", "surface")
    return got if got and any(t["type"] == "surface" for t in got["traces"]) else None


def test_surface_view_draws_the_trajectory_and_keeps_the_camera_in_the_url(dashboard, relu_run):
    duo = dashboard
    duo.driver.get(f"{duo.server_url}/surface?run={relu_run.id}&kind=paper&grid=4x3&camera=1.8,0.4,0.9")
    try:
        got = wait_for(lambda: drawn_surface(duo), what="the 3-D surface")
    except AssertionError:
        screenshot(duo, "surface-failed")
        raise
    traj = next(t for t in got["traces"] if t["type"] == "scatter3d")
    assert traj["name"] == "SGD trajectory"
    # 4 rows < 21 checkpoints: 4 recorded steps are rows, and each trajectory point's height is
    # the exact cost of that checkpoint, recorded when the run was trained
    recorded = {s["step"]: s["cost"]["train"] for s in relu_run.manifest["steps"]}
    steps = [relu_run.init_step, relu_run.final_step]
    assert len(traj["z"]) == 4 and traj["x"][0] == 0.0
    assert traj["z"][0] == pytest.approx(recorded[steps[0]], abs=1e-5)
    assert any(abs(z - recorded[steps[1]]) < 1e-5 for z in traj["z"])
    assert got["eye"] == {"x": 1.8, "y": 0.4, "z": 0.9}
    screenshot(duo, "surface-view")

    # Rotate (as a drag does): the camera goes into the address, and a reload shows that angle.
    duo.driver.execute_script("""
        const box = document.getElementById(arguments[0]);
        Plotly.relayout(box.querySelector('.js-plotly-plot'),
                        {'scene.camera': {eye: {x: 0.3, y: -1.9, z: 0.7}, center: {x: 0, y: 0, z: 0},
                                          up: {x: 0, y: 0, z: 1}}});
    """, json.dumps({"graph": "surface", "view": "surface"}, sort_keys=True, separators=(",", ":")))
    url = wait_for(lambda: duo.driver.current_url if "camera=0.3,-1.9,0.7" in duo.driver.current_url else None,
                   what="the camera in the address")
    duo.driver.get(url)
    wait_for(lambda: (lambda g: g and g["eye"] == {"x": 0.3, "y": -1.9, "z": 0.7})(drawn_surface(duo)),
             what="the reloaded page at the same angle")

    # The heat map alternative draws the same trajectory in 2-D.
    duo.driver.get(url.replace("plot=surface", "plot=heatmap"))
    heat = wait_for(lambda: (lambda g: g if g and g["traces"][0]["type"] == "heatmap" else None)(
        plot(duo, "surface", "surface")), what="the heat map")
    assert heat["traces"][1]["x"] == traj["x"] and heat["traces"][1]["y"] == traj["y"]


def test_controls_view_draws_the_factored_model(dashboard):
    duo = dashboard
    duo.driver.get(f"{duo.server_url}/controls?exp=factored&w1=-2:2&w2=-1:2")
    got = wait_for(lambda: (lambda g: g if g and g["traces"][0]["type"] == "heatmap" else None)(
        plot(duo, "controls", "control")), what="the factored model's heat map")
    heat, hyperbola, sgd = got["traces"]
    assert heat["x"][0] == -2.0 and heat["y"][-1] == 2.0
    assert sgd["name"] == "SGD trajectory"
    last = (sgd["x"][-1], sgd["y"][-1])
    assert abs(1 - last[0] * last[1]) < 1e-3  # SGD ends on the hyperbola of solutions
    screenshot(duo, "controls-factored")
