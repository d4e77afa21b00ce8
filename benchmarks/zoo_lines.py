"""Side-by-side timing of lines through issue 3's models, on their offline demo data.

  conv-maxout-cifar10   evaluator (first convolution computed once per basis vector and combined)
                        vs. the evaluator with that reuse switched off (one convolution per point),
                        for the small and the paper architecture
  maxout-adv-mnist      evaluator, points_per_call 1 and 8 (one grad-enabled forward and one
                        backward over the whole point group, vmap'd) vs. a naive per-point loop
                        (fresh model, autograd for the input gradient, two forwards)

Methods are interleaved, median of --repeats, with the largest deviation from the first method.

    .venv/bin/python benchmarks/zoo_lines.py            # about 5 minutes on 2 cores
    .venv/bin/python benchmarks/zoo_lines.py --quick    # smoke test
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compute.evaluator import Evaluator  # noqa: E402
from compute.params import ParamLayout  # noqa: E402
from models import get_model  # noqa: E402
from models.datasets import DatasetRef, load_dataset  # noqa: E402


def _endpoints(model_id: str):
    spec = get_model(model_id)
    layout = ParamLayout.of(spec.build("small"))
    return spec, layout, layout.flatten_model(spec.build("small", 0)), layout.flatten_model(spec.build("small", 1)) * 3


def _table(title: str, methods: dict, repeats: int) -> None:
    times = {k: [] for k in methods}
    values = {}
    for _ in range(repeats):
        for name, fn in methods.items():
            start = time.perf_counter()
            values[name] = np.asarray(fn())
            times[name].append(time.perf_counter() - start)
    first = next(iter(methods))
    base = statistics.median(times[first])
    print(f"\n{title}")
    print(f"  {'method':<34} {'median s':>9} {'ratio':>7} {'max |dJ|':>10}")
    for name in methods:
        med = statistics.median(times[name])
        dev = float(np.max(np.abs(values[name] - values[first])))
        print(f"  {name:<34} {med:9.3f} {med / base:7.2f} {dev:10.2e}")


def conv(points: int, n: int, repeats: int, preset: str = "small") -> None:
    spec = get_model("conv-maxout-cifar10")
    layout = ParamLayout.of(spec.build(preset))
    t0, t1 = layout.flatten_model(spec.build(preset, 0)), layout.flatten_model(spec.build(preset, 1)) * 3
    # the small preset's demo images (GCN only) for both architectures: same shapes, no ZCA fit
    data = load_dataset(DatasetRef("cifar10", None, dict(spec.presets["small"].data, demo_train=n)))
    split = {"train": data.splits["train"]}
    alphas = np.linspace(0, 1, points)
    basis, coeffs = torch.stack([t0, t1]), np.stack([1 - alphas, alphas], 1)
    reuse = Evaluator(spec.build(preset), spec.objective, split)
    plain = Evaluator(spec.build(preset), spec.objective, split)
    plain.factored = False  # the forward from the input at every point
    _table(f"conv-maxout-cifar10 {preset} architecture: {points}-point line, {n} demo images", {
        "evaluator (first conv reused)": lambda: reuse.evaluate(basis, coeffs, ["train"]).splits["train"].cost,
        "evaluator, reuse off": lambda: plain.evaluate(basis, coeffs, ["train"]).splits["train"].cost,
    }, repeats)


def adversarial(points: int, n: int, repeats: int) -> None:
    spec, layout, t0, t1 = _endpoints("maxout-adv-mnist")
    data = load_dataset(DatasetRef("mnist", None, dict(spec.presets["small"].data, demo_train=n)))
    x, y = data.splits["train"]
    split = {"train": (x, y)}
    alphas = np.linspace(0, 1, points)
    basis, coeffs = torch.stack([t0, t1]), np.stack([1 - alphas, alphas], 1)
    one, eight = (Evaluator(spec.build("small"), spec.objective, split, points_per_call=k) for k in (1, 8))

    def naive():
        out = []
        for a in alphas:
            model = spec.build("small")
            layout.load_into(model, (1 - a) * t0 + a * t1)
            model.eval()
            xg = x.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(F.cross_entropy(model(xg), y, reduction="sum"), xg)
            with torch.no_grad():
                out.append(0.5 * F.cross_entropy(model(x), y).item()
                           + 0.5 * F.cross_entropy(model(x + 0.25 * grad.sign()), y).item())
        return out

    _table(f"maxout-adv-mnist small: {points}-point line, {n} demo digits, adversarial J", {
        "evaluator, 1 point per call": lambda: one.evaluate(basis, coeffs, ["train"]).splits["train"].cost,
        "evaluator, 8 points per call": lambda: eight.evaluate(basis, coeffs, ["train"]).splits["train"].cost,
        "naive per-point loop": naive,
    }, repeats)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    points, n, repeats = (5, 200, 1) if args.quick else (11, 500, args.repeats)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    conv(points, n, repeats)
    conv(5, 20 if args.quick else 100, repeats, preset="paper")
    adversarial(points, 4 * n, repeats)
