"""Side-by-side timing of a 41 x 41 `paper` surface (appendix C) of a small preset run.

Methods, timed in one run, interleaved, median of --repeats:
  surface     compute.kinds.surface.kind.compute_surface: all of it (checkpoint frame, row geometry, evaluation).
              A row is one Evaluator call with basis (theta_i, theta_f, v(t)): 3 first-layer products
              per row, and the line fast path along the row (a row is a line in parameter space).
  generic     the same with the line fast path switched off (first-layer reuse only)
  per-point   a plain loop over the same 41 x 42 points (41 grid columns + each row's path point):
              theta built from the basis, loaded into a model, full forward, cross-entropy. Only
              the loop is timed (the row geometry is computed beforehand), so the ratio is
              conservative.

The run is relu-mnist/small seed 0 on the offline demo digits, found in $LANDSCAPE_HOME or trained
there first (about a minute); --run picks another. Train split (5,000 examples).

    .venv/bin/python benchmarks/surface.py            # 41 x 41, 3 repeats (a few minutes on 2 cores)
    .venv/bin/python benchmarks/surface.py --quick    # 11 x 11, one repeat: a smoke test
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import compute.linefast as linefast  # noqa: E402
import compute.kinds.surface.kind as surfaces  # noqa: E402
import compute.kinds.trajectory as trajectory  # noqa: E402
from compute.kinds.surface.query import SurfaceQuery  # noqa: E402
from compute.resources import evaluator_for  # noqa: E402
from compute.store import Store  # noqa: E402
from models import get_model  # noqa: E402


def find_run(store: Store, run_id: str | None):
    if run_id:
        return store.load(run_id)
    for run in store.list_runs():
        if (run.model_id, run.preset, run.manifest["seed"]) == ("relu-mnist", "small", 0):
            return run
    from compute.training import train

    print("training relu-mnist/small seed 0 first ...", file=sys.stderr, flush=True)
    return train("relu-mnist", "small", 0, store=store, progress=False)


def run_surface(query: SurfaceQuery, store: Store, fast: bool) -> np.ndarray:
    linefast.ENABLED = fast
    trajectory._frames.clear()  # time the checkpoint frame too
    try:
        result = surfaces.compute_surface(query, store)
    finally:
        linefast.ENABLED = True
    return np.concatenate([np.array(result.cost["train"]), np.array(result.path["cost"]["train"])[:, None]], axis=1)


def row_points(query: SurfaceQuery, run) -> tuple[torch.Tensor, list[np.ndarray]]:
    """Every row's basis (theta_i, theta_f, v) and coefficient rows, as compute_surface builds them."""
    frame = trajectory.line_frame(run)
    plan = surfaces.paper_rows(frame, query.rows, None)
    top = float(frame.beta[[r.k for r in plan]].max())
    betas = np.linspace(0.0, 1.5 * top, query.columns)
    rows = []
    for row in plan:
        alpha, path_beta, v, _ = surfaces._row_geometry(frame, row)
        coeffs = np.empty((query.columns + 1, 3))
        coeffs[:, 0], coeffs[:, 1] = 1 - alpha, alpha
        coeffs[:-1, 2], coeffs[-1, 2] = betas, path_beta
        rows.append((torch.stack([frame.theta_i, frame.theta_f, v]).float(), coeffs))
    return rows


def run_per_point(rows, run, x, y) -> np.ndarray:
    spec = get_model(run.model_id)
    model = spec.build(run.preset).eval()
    out = []
    with torch.no_grad():
        for basis, coeffs in rows:
            costs = []
            for c in coeffs:
                theta = torch.as_tensor(c, dtype=torch.float32) @ basis
                run.layout.load_into(model, theta)
                costs.append(spec.objective.per_example(model(x), y).double().mean().item())
            out.append(costs)
    return np.array(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="11 x 11, one repeat: a smoke test")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per method (default 3; quick 1)")
    parser.add_argument("--run", help="run id (default: relu-mnist/small seed 0, trained if missing)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    side = 11 if args.quick else 41
    store = Store()
    run = find_run(store, args.run)
    query = SurfaceQuery(run.id, "paper", rows=side, columns=side, splits=("train",))
    x, y = evaluator_for(run).tensors(["train"])
    rows = row_points(query, run)
    methods = {"surface": lambda: run_surface(query, store, True),
               "generic": lambda: run_surface(query, store, False),
               "per-point": lambda: run_per_point(rows, run, x, y)}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fp32; {run.id}; "
          f"{side} x {side} paper surface (+1 path point per row), {len(x)} train examples; "
          f"median of {repeats} interleaved repeats", flush=True)
    times = {k: [] for k in methods}
    values = {}
    for _ in range(repeats):  # interleaved, so a busy machine slows every method alike
        for name, fn in methods.items():
            t = time.perf_counter()
            values[name] = fn()
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    ref = values["per-point"]
    print(f"{'method':<10} {'median s':>9} {'per-point/method':>17} {'max |J - J_per-point|':>22}")
    for name in methods:
        print(f"{name:<10} {med[name]:>9.3f} {med['per-point'] / med[name]:>16.2f}x "
              f"{float(np.max(np.abs(values[name] - ref))):>22.1e}")
    print(f"(J in [{ref.min():.4f}, {ref.max():.4f}]; {ref.size} points)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
