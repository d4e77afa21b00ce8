"""What a mode-connecting curve costs (issue 22): training its bend against training one of the runs.

On relu-mnist `small`, the demo's seeds 0 and 1: the time `train("relu-mnist", "small", seed)` takes
(compute/training.py: the preset's SGD with early stopping, checkpoints and their exact costs
recorded), and the time the curve job (compute/kinds/curve.py, `landscape curve --from final:A
--to final:B`, a quadratic Bézier with one bend) takes to train the bend with its defaults — the
first run's learning rate, momentum and batch size, for the run's most epochs (12) — beside it.
Both are whole-job figures of what a user waits for; the bend's excludes the evaluation of J
along the curve and the straight line after it, which is printed apart. Printed too: the train
barriers of the straight line and of the curve (21 points), as the job computes them.

Each repeat trains both runs afresh (a new LANDSCAPE_HOME) and the curve between them; the
figures are medians over repeats (a run's: over both seeds of every repeat), in wall-clock seconds
and in this process's CPU seconds (the two cores are often shared: CPU time is the steadier ratio).

    .venv/bin/python benchmarks/curve.py               # 1 repeat: about 2 1/2 minutes on 2 idle cores
    .venv/bin/python benchmarks/curve.py --quick       # the bend trained 2 epochs, not 12: a smoke test
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compute.evaluator import default_device  # noqa: E402
from compute.kinds import resolve  # noqa: E402
from compute.kinds.curve import CurveQuery, train_curve  # noqa: E402
from compute.store import Store  # noqa: E402
from compute.training import train  # noqa: E402

MODEL, PRESET, SEEDS = "relu-mnist", "small", (0, 1)
QUICK_EPOCHS = 2


def clocks() -> tuple[float, float]:
    """(wall, CPU seconds of this process): CPU time is less at the mercy of other jobs on the cores."""
    return time.perf_counter(), time.process_time()


def one_repeat(epochs: int | None) -> dict:
    """Both runs trained in a fresh store (each timed), then the curve between them (timed: the bend
    up to its last SGD step, heard through the job's progress callback, and the whole job)."""
    store = Store(Path(tempfile.mkdtemp(prefix="landscape-bench-curve-")) / "home")
    runs, run_seconds, run_cpu = [], [], []
    for seed in SEEDS:
        wall, cpu = clocks()
        runs.append(train(MODEL, PRESET, seed, store=store, progress=False))
        run_seconds.append(time.perf_counter() - wall)
        run_cpu.append(time.process_time() - cpu)
    query = resolve(CurveQuery(f"final:{runs[0].id}", f"final:{runs[1].id}", "bezier", epochs=epochs), store)
    bend_done: list[tuple[float, float]] = []

    def progress(done: int, total: int) -> None:
        if done == total:
            bend_done.append(clocks())

    wall, cpu = clocks()
    result = train_curve(query, store, progress)
    job = time.perf_counter() - wall
    barrier = {k: result.metrics[k]["train"]["barrier"] for k in ("line", "curve")}
    return {"run_seconds": run_seconds, "run_cpu": run_cpu, "bend_seconds": bend_done[0][0] - wall,
            "bend_cpu": bend_done[0][1] - cpu, "job_seconds": job,
            "epochs": result.training["epochs"],
            "line_barrier": barrier["line"]["height"] if barrier["line"] else 0.0,
            "curve_barrier": barrier["curve"]["height"] if barrier["curve"] else 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"the bend trained {QUICK_EPOCHS} epochs, not the default")
    parser.add_argument("--repeats", type=int, default=1, help="timed repeats (default 1: a repeat is minutes)")
    args = parser.parse_args(argv)
    print(f"device: {default_device()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}", flush=True)
    rows = [one_repeat(QUICK_EPOCHS if args.quick else None) for _ in range(args.repeats)]
    median = lambda name: statistics.median(v for r in rows for v in np.atleast_1d(r[name]))  # noqa: E731
    run_s, bend_s, job_s, run_cpu, bend_cpu = (median(n) for n in ("run_seconds", "bend_seconds", "job_seconds",
                                                                   "run_cpu", "bend_cpu"))
    last = rows[-1]
    print(f"\n{MODEL} `{PRESET}`, seeds {SEEDS[0]} and {SEEDS[1]}; a Bézier bend, {last['epochs']} epochs; "
          f"median of {args.repeats} repeat(s)")
    print(f"{'':<6} {'curve training s':>16} {'one run training s':>18} {'ratio':>7} {'curve job s':>11} "
          f"{'line barrier':>12} {'curve barrier':>13}")
    print(f"{'wall':<6} {bend_s:>16.1f} {run_s:>18.1f} {bend_s / run_s:>6.2f}x {job_s:>11.1f} "
          f"{last['line_barrier']:>12.4f} {last['curve_barrier']:>13.4f}")
    print(f"{'CPU':<6} {bend_cpu:>16.1f} {run_cpu:>18.1f} {bend_cpu / run_cpu:>6.2f}x")
    runs = ", ".join(f"{s:.1f}" for r in rows for s in r["run_seconds"])
    bends = ", ".join(f"{r['bend_seconds']:.1f}" for r in rows)
    print(f"(wall s, runs: {runs}; bends: {bends}; curve job = bend + J at 21 points of the curve "
          f"and of the line, train split)")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
