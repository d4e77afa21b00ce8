"""Adaptive alpha against a uniform grid: points needed for the same maximum interpolation error.

For the Line page's default line (init -> final, alpha in [-0.25, 1.25]) of the small relu-mnist
and sigmoid-mnist runs: a dense reference (2001 points) gives J; a uniform grid of the page's 50
points has a maximum interpolation error E (linear interpolation between its samples, against the
reference, over both splits, relative to the curve's range). The adaptive grid (compute/adaptive.py)
is run with tolerances from coarse to fine until its own maximum interpolation error is <= E; the
table gives its points and their ratio to 50 (issue 13's target: <= 1/3). Each tolerance starts
afresh (a line of its own, as a user's request at that tolerance); values already computed at an
alpha are looked up rather than evaluated again, which saves time and changes no count.

Beside it, the bound: the fewest points of a grid placed knowing the whole curve (density
proportional to sqrt|J''| of the reference, the optimum for linear interpolation) that reach E.
No sampling strategy with linear interpolation does much better than that on these lines.

    LANDSCAPE_HOME=/tmp/bench-home .venv/bin/python benchmarks/adaptive.py   # trains the runs if missing
    .venv/bin/python benchmarks/adaptive.py --quick                          # 501-point reference
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compute import adaptive  # noqa: E402
from compute.kinds.line import LineQuery, compute_line  # noqa: E402
from compute.kinds import resolve
from compute.store import Store  # noqa: E402
from compute.training import train  # noqa: E402

LO, HI, UNIFORM = -0.25, 1.25, 50
TOLERANCES = tuple(float(f"{0.05 * 0.8 ** k:.3g}") for k in range(40))  # coarse to fine


def run_of(store: Store, model: str):
    found = [r for r in store.list_runs() if r.model_id == model and r.preset == "small" and r.manifest["seed"] == 0]
    return found[0] if found else train(model, "small", 0, store=store, progress=False)


def max_error(alphas, costs: np.ndarray, dense_alpha: np.ndarray, dense: np.ndarray) -> float:
    """max over splits of max |interp - J| / range of J, against the dense reference."""
    span = dense.max(axis=0) - dense.min(axis=0)
    return max(float(np.max(np.abs(np.interp(dense_alpha, alphas, costs[:, s]) - dense[:, s])) / span[s])
               for s in range(dense.shape[1]))


def best_grid_points(dense_alpha: np.ndarray, dense: np.ndarray, target: float) -> int | None:
    """The fewest points of a grid with density ~ sqrt|J''| (worst split, widened over 1/80 of the
    range so a grid point's neighbourhood counts) whose maximum error is <= target."""
    span = dense.max(axis=0) - dense.min(axis=0)
    curvature = np.max([np.abs(np.gradient(np.gradient(dense[:, s], dense_alpha), dense_alpha)) / span[s]
                        for s in range(dense.shape[1])], axis=0)
    half = max(1, len(dense_alpha) // 160)
    padded = np.pad(curvature, half, mode="edge")
    widened = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1).max(axis=1)
    density = np.sqrt(widened + 1e-12)
    cdf = np.concatenate([[0], np.cumsum((density[1:] + density[:-1]) / 2 * np.diff(dense_alpha))])
    for n in range(3, UNIFORM + 1):
        grid = np.interp(np.linspace(0, 1, n), cdf / cdf[-1], dense_alpha)
        if max_error(grid, np.array([np.interp(grid, dense_alpha, dense[:, s]) for s in range(dense.shape[1])]).T,
                     dense_alpha, dense) <= target:
            return n
    return None


def bench(store: Store, model: str, reference_points: int) -> dict:
    run = run_of(store, model)
    query = resolve(LineQuery(f"init:{run.id}", f"final:{run.id}", LO, HI, reference_points), store)
    costs = lambda alphas: np.array(  # noqa: E731
        [compute_line(query, store, alphas=np.asarray(alphas)).cost[s] for s in query.splits]).T
    dense_alpha = query.alphas()
    dense = costs(dense_alpha)
    uniform = np.linspace(LO, HI, UNIFORM)
    target = max_error(uniform, costs(uniform), dense_alpha, dense)
    known: dict[float, np.ndarray] = {}
    evaluated = 0

    def evaluate(alphas):
        nonlocal evaluated
        missing = [a for a in alphas if a not in known]
        if missing:
            evaluated += len(missing)
            known.update(zip(missing, costs(missing)))
        return np.array([known[a] for a in alphas])

    started = time.perf_counter()
    for tolerance in TOLERANCES:
        alphas = adaptive.adaptive_alphas(LO, HI, tolerance, evaluate)
        error = max_error(alphas, np.array([known[a] for a in alphas]), dense_alpha, dense)
        if error <= target:
            break
    return {"model": model, "target": target, "bound": best_grid_points(dense_alpha, dense, target), "tolerance": tolerance, "points": len(alphas), "error": error,
            "evaluated": evaluated, "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 501-point reference instead of 2001")
    args = parser.parse_args(argv)
    store = Store()
    rows = [bench(store, model, 501 if args.quick else 2001) for model in ("relu-mnist", "sigmoid-mnist")]
    print(f"\ninit -> final, alpha in [{LO}, {HI}]; uniform grid of {UNIFORM} points; load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'model':<16} {'uniform max err':>15} {'tolerance':>9} {'adaptive pts':>12} {'its max err':>11} "
          f"{'adaptive/uniform':>16} {'bound: best grid':>16}")
    for r in rows:
        print(f"{r['model']:<16} {r['target']:>15.2e} {r['tolerance']:>9g} {r['points']:>12} {r['error']:>11.2e} "
              f"{r['points'] / UNIFORM:>15.2f}x {r['bound']:>6} ({r['bound'] / UNIFORM:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
