"""How long from asking for a line to seeing it: a new 50-point init→final line of a small preset
(relu-mnist/small), and the same line again (from the cache). Targets: < 2 s new, < 150 ms cached.

    .venv/bin/python benchmarks/dashboard.py                 # uses (or trains) a run in a temporary home
    .venv/bin/python benchmarks/dashboard.py --home ~/.landscape --repeats 7
    .venv/bin/python benchmarks/dashboard.py --no-browser    # server times only

Two measures, medians printed side by side with the targets:
  server   the view's JSON twin (GET /api/line.json through the Flask app in this process; a new
           line with wait=60, as the API answers 202 at once without it): parse the address, build the query, the job layer (cache lookup, or a job computing it), the
           result back; plus building the Plotly figure from it (what the page's draw callback does)
  browser  headless Chromium (Debian's /usr/bin/chromium) opening the view's address, until the
           curve is drawn with all its points: page load, Dash callbacks, job polling, Plotly
The engine row is the same new lines through compute.jobs.backend.run_job without the app: the difference
is what the dashboard adds. Each "new" line has an α range not asked for before (so nothing is cached); the first new line
of the process also builds the evaluator (data onto the device) and is reported on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODEL, PRESET, SEED, POINTS = "relu-mnist", "small", 0, 50
TARGET_NEW_S, TARGET_CACHED_S = 2.0, 0.150  # server: /api/line.json
BROWSER_NEW_S, BROWSER_CACHED_S = 1.0, 0.400  # browser: address opened -> curve drawn (issue 23)


def ensure_run(store):
    from compute.training import train

    for run in store.list_runs():
        if (run.model_id, run.preset, run.manifest.get("seed")) == (MODEL, PRESET, SEED):
            return run
    print(f"training {MODEL}/{PRESET} seed {SEED} once (about half a minute)…", file=sys.stderr)
    return train(MODEL, PRESET, SEED, store=store, progress=False)


def line_address(run_id: str, lo: float) -> str:
    return f"run={run_id}&pair=init&alpha={lo!r}:1.25&points={POINTS}&splits=train,valid"


def server_times(client, run_id: str, repeats: int, offset: float) -> dict[str, list[float]]:
    from app.figures.line import line_figure

    out = {"first": [], "new": [], "cached": [], "figure": [], "engine": []}
    for i in range(repeats + 1):
        if i > 0:  # interleaved, so that both see the same load on a shared machine
            out["engine"] += engine_times(run_id, 1, offset + 0.2 + 1e-4 * i)
        query = line_address(run_id, -0.25 - offset - 1e-4 * i)
        t0 = time.perf_counter()
        response = client.get(f"/api/line.json?{query}&wait=60")  # the API answers 202 at once without wait
        elapsed = time.perf_counter() - t0
        assert response.status_code == 200 and response.headers["X-Landscape-Cache"] == "miss", response.status_code
        (out["first"] if i == 0 else out["new"]).append(elapsed)
        for _ in range(3):
            t0 = time.perf_counter()
            cached = client.get(f"/api/line.json?{query}")
            out["cached"].append(time.perf_counter() - t0)
            assert cached.headers["X-Landscape-Cache"] == "hit"
        t0 = time.perf_counter()
        json.dumps(line_figure(cached.json))  # what the draw callback sends
        out["figure"].append(time.perf_counter() - t0)
    return out


def engine_times(run_id: str, repeats: int, offset: float) -> list[float]:
    """The same new lines through compute's job layer alone (no app): the dashboard's baseline."""
    from compute.jobs.backend import run_job
    from compute.kinds.line import LineQuery

    times = []
    for i in range(repeats):
        query = LineQuery(f"init:{run_id}", f"final:{run_id}", -0.25 - offset - 1e-5 * i, 1.25, POINTS,
                          ("train", "valid"))
        t0 = time.perf_counter()
        run_job(query)
        times.append(time.perf_counter() - t0)
    return times


WATCH = """
(function () {
  const points = Number(new URLSearchParams(window.location.search).get('points'));
  const id = JSON.stringify({graph: 'line', view: 'line'});
  window.__drawnAt = null;
  function watch() {
    const box = document.getElementById(id);
    const gd = box && box.querySelector('.js-plotly-plot');
    if (gd && gd.data && gd.data.length && gd.data.every(t => t.x && t.x.length === points)) {
      window.__drawnAt = performance.now();  // ms since this navigation started
      return;
    }
    requestAnimationFrame(watch);
  }
  requestAnimationFrame(watch);
})();
"""


# where a cached address's time goes: ms since navigation start at which each step ended
PHASES = """
const r = performance.getEntriesByType('resource');
const end = (re) => Math.max(0, ...r.filter(e => re.test(e.name)).map(e => e.responseEnd));
const nav = performance.getEntriesByType('navigation')[0];
const updates = r.filter(e => /_dash-update-component/.test(e.name));
return {html: nav.responseEnd, scripts: nav.domContentLoadedEventEnd, layout: end(/_dash-layout/),
        plotly_js: end(/plotly.*\\.js/), first_callback: updates.length ? updates[0].responseEnd : 0,
        callbacks_before_drawn: updates.filter(e => e.responseEnd < window.__drawnAt).length,
        drawn: window.__drawnAt};
"""


def browser_times(base: str, run_id: str, repeats: int, offset: float) -> dict[str, list[float]]:
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options)
    out = {"new": [], "cached": [], "phases": []}
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH})
        driver.get(f"{base}/line?{line_address(run_id, -0.3)}")  # warm: browser caches the JS bundles

        def drawn(address: str) -> float:
            driver.get(address)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                at = driver.execute_script("return window.__drawnAt")
                if at is not None:
                    return at / 1000.0
                time.sleep(0.02)
            raise RuntimeError(f"not drawn within 120 s: {address}")

        drawn(f"{base}/line?{line_address(run_id, -0.3)}")
        for i in range(repeats):
            address = f"{base}/line?{line_address(run_id, -0.35 - offset - 1e-4 * i)}"
            out["new"].append(drawn(address))
            out["cached"].append(drawn(address))
            out["phases"].append(driver.execute_script(PHASES))
    finally:
        driver.quit()
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:8.1f} ms" if values else "       -   "


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", help="LANDSCAPE_HOME to use (default: a temporary one)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    os.environ["LANDSCAPE_HOME"] = str(Path(args.home).expanduser()) if args.home else tempfile.mkdtemp(
        prefix="landscape-bench-")
    os.environ.pop("REDIS_URL", None)  # the embedded default

    import torch

    from app.server import create_app
    from compute.store import Store

    load_before = os.getloadavg()
    run = ensure_run(Store())
    app = create_app()
    offset = random.random() * 1e-2  # a rerun on the same home asks for lines not cached yet
    server = server_times(app.server.test_client(), run.id, args.repeats, offset)
    browser = None
    if not args.no_browser and Path("/usr/bin/chromium").exists():
        from app.server import make_server

        port = free_port()
        server_ = make_server(app.server, "127.0.0.1", port)  # what `landscape serve` runs (waitress)
        threading.Thread(target=server_.run, daemon=True).start()
        browser = browser_times(f"http://127.0.0.1:{port}", run.id, args.repeats, offset + 0.5)

    print(f"dashboard: {POINTS}-point init→final line of {MODEL}/{PRESET} (run {run.id}); "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; medians of {args.repeats}")
    print(f"{'':34}{'new':>11}  {'cached':>11}   {'ratio':>6}")
    print(f"{'target':34}{TARGET_NEW_S * 1000:8.1f} ms  {TARGET_CACHED_S * 1000:8.1f} ms")
    ratio = statistics.median(server["new"]) / statistics.median(server["cached"])
    print(f"{'server: GET /api/line.json':34}{fmt(server['new'])}  {fmt(server['cached'])}   {ratio:6.0f}x")
    print(f"{'engine: compute.jobs.backend.run_job':34}{fmt(server['engine'])}")
    print(f"{'server: first line of the process':34}{fmt(server['first'])}")
    print(f"{'server: Plotly figure from result':34}{fmt(server['figure'])}")
    new_ok = statistics.median(server["new"]) < TARGET_NEW_S
    cached_ok = statistics.median(server["cached"]) < TARGET_CACHED_S
    print(f"server targets: new {'met' if new_ok else 'MISSED'}, cached {'met' if cached_ok else 'MISSED'}")
    if browser:
        ratio = statistics.median(browser["new"]) / statistics.median(browser["cached"])
        print(f"{'browser target':34}{BROWSER_NEW_S * 1000:8.1f} ms  {BROWSER_CACHED_S * 1000:8.1f} ms")
        print(f"{'browser: open address -> drawn':34}{fmt(browser['new'])}  {fmt(browser['cached'])}   {ratio:6.1f}x")
        phases = browser["phases"]
        print("  cached, ms after navigation start (medians): " + ", ".join(
            f"{k} {statistics.median(p[k] for p in phases):.0f}" for k in phases[0]))
        for name in ("new", "cached"):
            print(f"  browser {name:6} each: " + ", ".join(f"{v * 1000:.0f}" for v in browser[name]) + " ms")
        new_ok = statistics.median(browser["new"]) <= BROWSER_NEW_S
        cached_ok = statistics.median(browser["cached"]) <= BROWSER_CACHED_S
        print(f"browser targets: new {'met' if new_ok else 'MISSED'}, cached {'met' if cached_ok else 'MISSED'}")
    load_after = os.getloadavg()
    print(f"load average (1, 5, 15 min): before {', '.join(f'{x:.1f}' for x in load_before)}; "
          f"after {', '.join(f'{x:.1f}' for x in load_after)} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
