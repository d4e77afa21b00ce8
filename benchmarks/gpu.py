"""The CUDA path of the one evaluator, timed against the same work on this machine's CPU (issue 20 §6).

On CUDA, `Evaluator.evaluate` sends several parameter points through one vmap'd call
(`points_per_call`, 16 by default there) over the data in batches sized to its memory budget; the
line fast path and BatchNorm folding are CPU-only. Three workloads, each timed on the GPU and on
the CPU in one run, interleaved, median of --repeats:

  relu line     a 50-point init -> trained line of an MLP 784-100-100-10 (relu-mnist `small`'s
                shape) over 10,000 MNIST-shaped demo digits; on the GPU in float32 and bfloat16
  transformer   a 9-point line of the user package's causal transformer LM (tests/userpkg, as
                `landscape import` builds it: embeddings, pre-norm attention blocks, LayerNorm)
                over 2,048 sequences of 16 tokens, token-mean cross-entropy
  surface       a 21 x 21 plane (441 points, basis: origin and two random directions) of the MLP

It prints the device's name, each median, and the ratio CPU / GPU; with --dtype, also the GPU in
that precision and its largest |J - J_float32|. Without a CUDA device it prints
"no CUDA device: not measured on a GPU" and exits 0, having timed nothing (the tests never need
a GPU).

    .venv/bin/python benchmarks/gpu.py             # 3 repeats
    .venv/bin/python benchmarks/gpu.py --quick     # smaller data, one repeat
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the user's package, as `--path tests` puts it there

from compute.evaluator import Evaluator  # noqa: E402
from compute.params import ParamLayout  # noqa: E402
from models.datasets import demo_digits  # noqa: E402
from models.mlp import MLP  # noqa: E402
from models.objectives import OBJECTIVES  # noqa: E402

NO_GPU = "no CUDA device: not measured on a GPU"


def _median_seconds(fn, repeats: int, device: str) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        out = fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return statistics.median(times), out


def _digits(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = demo_digits(n, seed=0)
    return torch.as_tensor(images, dtype=torch.float32).flatten(1) / 255.0, torch.as_tensor(labels, dtype=torch.long)


def _trained_ends(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, loss, steps: int) -> tuple:
    """(theta at init, theta after `steps` of SGD on minibatches of 64), flat, on the CPU."""
    layout = ParamLayout.of(model)
    start = layout.flatten(dict(model.named_parameters())).detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (64,), generator=g)
        opt.zero_grad()
        loss(model(x[idx]), y[idx]).backward()
        opt.step()
    return start, layout.flatten(dict(model.named_parameters())).detach().clone()


def workloads(quick: bool) -> list[tuple[str, torch.nn.Module, str, dict, torch.Tensor, np.ndarray]]:
    """(name, model, objective, splits, basis, coeffs) of each timed workload."""
    torch.manual_seed(0)
    n = 2000 if quick else 10_000
    x, y = _digits(n)
    mlp = MLP(784, [100, 100], 10, activation="relu")
    start, end = _trained_ends(mlp, x, y, torch.nn.functional.cross_entropy, 200)
    alphas = np.linspace(0.0, 1.0, 20 if quick else 50)
    line = np.stack([1 - alphas, alphas], axis=1)
    out = [("relu line", mlp, "cross-entropy", {"train": (x, y)}, torch.stack([start, end]), line)]

    from userpkg.data import tokens
    from userpkg.transformer import TinyLM

    lm = TinyLM()
    ids, targets = (torch.as_tensor(np.asarray(a)) for a in tokens(n_train=256 if quick else 2048, n_valid=16)["train"])
    lm_loss = lambda out_, t: torch.nn.functional.cross_entropy(out_.flatten(0, 1), t.flatten())  # noqa: E731
    lm_start, lm_end = _trained_ends(lm, ids, targets, lm_loss, 20)
    lm_alphas = np.linspace(0.0, 1.0, 9)
    out.append(("transformer line", lm, "token-nll", {"train": (ids, targets)}, torch.stack([lm_start, lm_end]),
                np.stack([1 - lm_alphas, lm_alphas], axis=1)))

    g = torch.Generator().manual_seed(1)
    d1, d2 = (torch.randn(len(end), generator=g) * end.norm() / len(end) ** 0.5 for _ in range(2))
    side = 7 if quick else 21
    a, b = np.meshgrid(np.linspace(-1, 1, side), np.linspace(-1, 1, side), indexing="ij")
    plane = np.stack([np.ones(a.size), a.ravel(), b.ravel()], axis=1)
    out.append((f"surface {side}x{side}", mlp, "cross-entropy", {"train": (x, y)}, torch.stack([end, d1, d2]), plane))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "none"],
                        help="also time the GPU in this precision (none: float32 only)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(NO_GPU)
        return 0
    repeats = 1 if args.quick else args.repeats
    print(f"device: {torch.cuda.get_device_name(0)}; CPU: {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.1f}")
    print(f"{'workload':<20} {'points':>6} {'cpu s':>9} {'gpu s':>9} {'cpu/gpu':>8}"
          + (f" {args.dtype + ' s':>11} {'cpu/' + args.dtype:>14} {'max |dJ|':>9}" if args.dtype != "none" else ""))
    for name, model, objective, splits, basis, coeffs in workloads(args.quick):
        timed = {}
        for label, device, dtype in [("cpu", "cpu", torch.float32), ("gpu", "cuda", torch.float32)] + (
                [("low", "cuda", getattr(torch, args.dtype))] if args.dtype != "none" else []):
            evaluator = Evaluator(model, OBJECTIVES[objective], splits, device=device, dtype=dtype)
            evaluator.evaluate(basis, coeffs[:2], ["train"])  # warm-up: kernels, the first call's set-up
            timed[label] = _median_seconds(lambda: evaluator.evaluate(basis, coeffs, ["train"]), repeats, device)
        (cpu_s, cpu), (gpu_s, gpu) = timed["cpu"], timed["gpu"]
        row = f"{name:<20} {len(coeffs):>6} {cpu_s:>9.3f} {gpu_s:>9.3f} {cpu_s / gpu_s:>7.1f}x"
        if "low" in timed:
            low_s, low = timed["low"]
            error = float(np.max(np.abs(low.splits["train"].cost - gpu.splits["train"].cost)))
            row += f" {low_s:>11.3f} {cpu_s / low_s:>13.1f}x {error:>9.2g}"
        agreement = float(np.max(np.abs(cpu.splits["train"].cost - gpu.splits["train"].cost)))
        print(row + f"   (float32 GPU vs CPU: max |dJ| {agreement:.2g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
