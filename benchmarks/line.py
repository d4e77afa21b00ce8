"""Side-by-side timing of one line J((1-alpha) theta0 + alpha theta1), full-set cross-entropy.

Methods, timed in one run, interleaved, median of --repeats:
  evaluator     Evaluator.line: Evaluator.evaluate with basis (theta0, theta1), coeffs (1-alpha, alpha)
  generic       the same with the line fast path switched off (first-layer reuse only)
  naive         a fresh model per alpha: load parameters, forward, cross-entropy
  loss-lands.   loss-landscapes 3.0.6 `linear_interpolation` with a `Loss` metric
  +derivatives  the evaluator's line with dJ/dalpha and d2J/dalpha2 (Evaluator.line with
                derivatives=True): on the fast path, in the cost's own pass (compute/linefast.py
                gives the outputs' derivatives, compute/derivatives.py takes them through the
                objective); "deriv/eval" is the cost of a line with derivatives relative to one
                without (issue 13: target <= 4x on the small relu-mnist)
  general       the fast line, then the derivatives by double backward through the whole network
                (Evaluator.derivatives, the general path every other model takes), "gen/eval".
                Forward mode warms up once per process (~10 s): one untimed call of each goes
                first. "max |d - d_gen|" compares the two ways' derivatives (relative to 1 + |d_gen|).

Then models off the fast path (a LayerNorm MLP, docs/importing.md's tiny transformer LM): a plain line
against one with derivatives, which there take the general path (compute/derivatives.py).

loss-landscapes evaluates alpha = i/steps for i = 1..steps (never alpha = 0), walking the line
in place by adding the step to the parameters; every method here uses that grid. Its max
deviation is reported as measured: it includes the error its accumulated steps add.

theta0 is the model's initialisation; theta1 is a few hundred SGD steps from it on the offline
demo digits, so ReLU sign patterns change as they do in training.

    .venv/bin/python benchmarks/line.py            # full sizes (a few minutes on 2 cores)
    .venv/bin/python benchmarks/line.py --quick    # smoke test
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import compute.linefast as linefast  # noqa: E402
from compute.evaluator import EvalOptions, Evaluator  # noqa: E402
from compute.params import ParamLayout  # noqa: E402
from models.datasets import demo_digits  # noqa: E402
from models.mlp import MLP  # noqa: E402
from models.objectives import OBJECTIVES  # noqa: E402
from models.registry import get_model  # noqa: E402


@dataclass
class Case:
    name: str
    make: Callable[[], MLP]  # a fresh model of the architecture, initialised (theta0)
    examples: int
    points: int
    sgd_steps: int


def demo_data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = demo_digits(n, seed=1)
    x = torch.from_numpy(images.astype(np.float32) / 255.0).reshape(n, -1)
    return x, torch.from_numpy(labels.astype(np.int64))


def endpoints(case: Case, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """theta0 = the initialisation; theta1 = `sgd_steps` steps of SGD (lr .1, momentum .5, batch 100)."""
    model = case.make()
    layout = ParamLayout.of(model)
    theta0 = layout.flatten_model(model).clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    g = torch.Generator().manual_seed(1)
    for _ in range(case.sgd_steps):
        idx = torch.randint(0, len(x), (100,), generator=g)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return theta0, layout.flatten_model(model).clone()


def run_evaluator(case, theta0, theta1, alphas, x, y, fast: bool) -> np.ndarray:
    linefast.ENABLED = fast
    try:
        ev = Evaluator(case.make(), OBJECTIVES["cross-entropy"], {"train": (x, y)}, device="cpu")
        return ev.line(theta0, theta1, alphas, ["train"]).splits["train"].cost
    finally:
        linefast.ENABLED = True


def run_with_derivatives(case, theta0, theta1, alphas, x, y, derivatives: dict) -> np.ndarray:
    """The line with its derivatives in one call (the fast path's one pass where it applies)."""
    ev = Evaluator(case.make(), OBJECTIVES["cross-entropy"], {"train": (x, y)}, device="cpu")
    m = ev.line(theta0, theta1, alphas, ["train"], options=EvalOptions(derivatives=True)).splits["train"]
    derivatives["line"] = np.stack([m.dcost, m.d2cost])
    return m.cost


def run_general(case, theta0, theta1, alphas, x, y, derivatives: dict) -> np.ndarray:
    """The line, then its derivatives by double backward through the whole network (the general path)."""
    ev = Evaluator(case.make(), OBJECTIVES["cross-entropy"], {"train": (x, y)}, device="cpu")
    cost = ev.line(theta0, theta1, alphas, ["train"]).splits["train"].cost
    derivatives["general"] = np.stack(ev.derivatives(theta0, theta1, alphas, ["train"])["train"])
    return cost


def run_naive(case, theta0, theta1, alphas, x, y) -> np.ndarray:
    costs = []
    with torch.no_grad():
        for a in alphas:
            model = case.make().eval()
            ParamLayout.of(model).load_into(model, (1 - a) * theta0 + a * theta1)
            costs.append(F.cross_entropy(model(x), y).item())
    return np.array(costs)


def run_loss_landscapes(case, theta0, theta1, alphas, x, y) -> np.ndarray:
    import loss_landscapes
    from loss_landscapes.metrics import Loss

    start, end = case.make().eval(), case.make().eval()
    layout = ParamLayout.of(start)
    layout.load_into(start, theta0)
    layout.load_into(end, theta1)
    metric = Loss(torch.nn.CrossEntropyLoss(), x, y)
    with torch.no_grad():
        return loss_landscapes.linear_interpolation(start, end, metric, steps=len(alphas), deepcopy_model=False)


def bench(case: Case, repeats: int, with_ll: bool) -> dict:
    x, y = demo_data(case.examples)
    theta0, theta1 = endpoints(case, x, y)
    alphas = np.arange(1, case.points + 1) / case.points  # loss-landscapes' grid
    methods = {
        "evaluator": lambda: run_evaluator(case, theta0, theta1, alphas, x, y, fast=True),
        "generic": lambda: run_evaluator(case, theta0, theta1, alphas, x, y, fast=False),
        "naive": lambda: run_naive(case, theta0, theta1, alphas, x, y),
        "+derivatives": lambda: run_with_derivatives(case, theta0, theta1, alphas, x, y, derivatives),
        "general": lambda: run_general(case, theta0, theta1, alphas, x, y, derivatives),
    }
    derivatives: dict[str, np.ndarray] = {}  # (2, P): dJ/dalpha, d2J/dalpha2 of each way
    for warm_up in (run_with_derivatives, run_general):  # each way's one-time costs, untimed
        warm_up(case, theta0, theta1, alphas, x[:10], y[:10], derivatives)
    if with_ll:
        methods["loss-lands."] = lambda: run_loss_landscapes(case, theta0, theta1, alphas, x, y)
    times: dict[str, list[float]] = {k: [] for k in methods}
    values: dict[str, np.ndarray] = {}
    for _ in range(repeats):  # interleaved, so a busy machine slows every method alike
        for name, fn in methods.items():
            t = time.perf_counter()
            values[name] = fn()
            times[name].append(time.perf_counter() - t)
    ref = values["naive"]
    general = derivatives["general"]
    return {"case": case, "median": {k: statistics.median(v) for k, v in times.items()},
            "dev": {k: float(np.max(np.abs(v - ref))) for k, v in values.items()},
            "cost": (float(ref.min()), float(ref.max())),
            "derivative_dev": [float(np.max(np.abs(derivatives["line"][i] - general[i]) / (1 + np.abs(general[i]))))
                               for i in range(2)]}


def print_table(rows: list[dict]) -> None:
    names = ["evaluator", "generic", "naive", "loss-lands.", "+derivatives", "general"]
    print()
    print(f"{'case':<30} {'N':>6} {'P':>4}  " + "  ".join(f"{n:>12}" for n in names)
          + f"  {'LL/eval':>8} {'naive/eval':>10} {'generic/eval':>12} {'deriv/eval':>10} {'gen/eval':>9}")
    for r in rows:
        c, med = r["case"], r["median"]
        cells = "  ".join(f"{med[n]:>11.3f}s" if n in med else f"{'-':>12}" for n in names)
        ll = f"{med['loss-lands.'] / med['evaluator']:>7.2f}x" if "loss-lands." in med else f"{'-':>8}"
        print(f"{c.name:<30} {c.examples:>6} {c.points:>4}  {cells}  {ll} "
              f"{med['naive'] / med['evaluator']:>9.2f}x {med['generic'] / med['evaluator']:>11.2f}x "
              f"{med['+derivatives'] / med['evaluator']:>9.2f}x {med['general'] / med['evaluator']:>8.2f}x")
    print()
    print("max |J - J_naive| over the grid (cost range on the line); max |d - d_gen| / (1 + |d_gen|) of the "
          "derivatives:")
    for r in rows:
        devs = "  ".join(f"{k} {v:.1e}" for k, v in r["dev"].items() if k != "naive")
        d1, d2 = r["derivative_dev"]
        print(f"  {r['case'].name:<30} {devs}   (J in [{r['cost'][0]:.4f}, {r['cost'][1]:.4f}]);"
              f"  dJ {d1:.1e}  d2J {d2:.1e}")


def bench_general(quick: bool, repeats: int) -> list[tuple[str, int, int, float, float]]:
    """(name, N, P, plain line s, line with derivatives s) of models off the line fast path."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from userpkg import data as user_data, transformer  # docs/importing.md's tiny transformer LM
    from models.user import LossRef

    def layernorm_mlp(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.LayerNorm(256), torch.nn.Tanh(),
                                   torch.nn.Linear(256, 256), torch.nn.LayerNorm(256), torch.nn.Tanh(),
                                   torch.nn.Linear(256, 10))

    def lm(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return transformer.tiny_lm()

    n, points = (1000, 10) if quick else (5000, 50)
    lm_data = user_data.tokens(n_train=n // 10)["train"]
    cases = [("LayerNorm MLP 784-256-256-10", layernorm_mlp, demo_data(n), OBJECTIVES["cross-entropy"]),
             (f"tiny transformer LM (T={lm_data[0].shape[1]})", lm, lm_data, LossRef("cross-entropy").objective())]
    rows = []
    for name, make, (x, y), objective in cases:
        print(f"  {name}: {len(x)} examples, {points} points ...", file=sys.stderr, flush=True)
        model, layout = make(0), ParamLayout.of(make(0))
        theta0, theta1 = layout.flatten_model(model), layout.flatten_model(make(1))
        ev = Evaluator(model, objective, {"train": (x, y)}, device="cpu")
        alphas = np.linspace(0.0, 1.0, points)
        times = {False: [], True: []}
        for _ in range(repeats):
            for derivatives in (False, True):
                t = time.perf_counter()
                ev.line(theta0, theta1, alphas, ["train"], options=EvalOptions(derivatives=derivatives))
                times[derivatives].append(time.perf_counter() - t)
        rows.append((name, len(x), points, statistics.median(times[False]), statistics.median(times[True])))
    return rows


def print_general(rows: list[tuple[str, int, int, float, float]]) -> None:
    print("\noff the fast path: derivatives by double backward (compute/derivatives.py)")
    print(f"{'case':<36} {'N':>6} {'P':>4}  {'line':>9}  {'+derivs':>9}  {'deriv/eval':>10}")
    for name, n, points, plain, with_derivatives in rows:
        print(f"{name:<36} {n:>6} {points:>4}  {plain:>8.3f}s  {with_derivatives:>8.3f}s  "
              f"{with_derivatives / plain:>9.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat: a smoke test")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per method (default 3; quick 1)")
    parser.add_argument("--no-loss-landscapes", action="store_true", help="skip loss-landscapes")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = args.repeats or (1 if args.quick else 3)
    with_ll = not args.no_loss_landscapes
    if with_ll and importlib.util.find_spec("loss_landscapes") is None:
        print("loss-landscapes is missing: `.venv/bin/pip install --no-deps loss-landscapes==3.0.6` "
              "(or pass --no-loss-landscapes)", file=sys.stderr)
        return 2
    small = get_model("relu-mnist")

    def init(model: MLP, seed: int = 0) -> MLP:
        model.reset_parameters(torch.Generator().manual_seed(seed))
        return model

    if args.quick:
        cases = [Case("MLP 784-256-256-10 relu", lambda: init(MLP(784, [256, 256], 10)), 2000, 20, 50),
                 Case("relu-mnist small 784-100-100-10", lambda: small.build("small", 0), 1000, 20, 50)]
    else:
        cases = [Case("MLP 784-1200-1200-10 relu", lambda: init(MLP(784, [1200, 1200], 10)), 10_000, 50, 300),
                 Case("relu-mnist small 784-100-100-10", lambda: small.build("small", 0), 5000, 50, 300)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, fp32; "
          f"median of {repeats} interleaved repeats; load average {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    for case in cases:
        print(f"  {case.name}: {case.examples} examples, {case.points} points ...", file=sys.stderr, flush=True)
        rows.append(bench(case, repeats, with_ll))
    print_table(rows)
    print_general(bench_general(args.quick, repeats))
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (other processes share these CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
