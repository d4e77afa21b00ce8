"""Data at scale (issue 20 §8): memory of a streamed import + line, and the cost of streaming.

  memory     peak RSS of `landscape import` (two checkpoints of a 784-128-10 ReLU MLP: the shard
             digests and the learning curve) + a 3-point line, over a map-style Dataset of N
             training examples (and N/10 validation ones) generated on the fly from their index,
             never held whole, for N = 20,000 and 200,000; each in a fresh process. Target: the
             two peaks equal within 1.25x (+64 MiB).
  streaming  the same line (5 points, train split) from a DataLoader (batch 256) over the examples
             held in memory, against from the (inputs, targets) tensors themselves: the evaluator
             alone, median of --repeats. Target: >= 0.8x the speed.

    .venv/bin/python benchmarks/scale.py            # N = 20,000 / 200,000; 3 repeats
    .venv/bin/python benchmarks/scale.py --quick    # N = 5,000 / 50,000; 1 repeat

  roof, shards  benchmarks/scale_roof.py: a GPT-2-small 5-point line against a plain no_grad
             forward (the roof; 8,192 tokens, --quick 512), and a data-heavy line (100,000
             examples, --quick 20,000) on 1 and 2 `landscape worker` processes.

    .venv/bin/python benchmarks/scale.py --only roof,shards --quick   # ~9 + 1 min at load 18
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA_MODULE = textwrap.dedent('''
    import os
    import numpy as np
    import torch
    from torch import nn
    from torch.utils.data import Dataset

    class OnTheFly(Dataset):
        """MNIST-shaped examples made from their index alone: nothing is held."""
        def __init__(self, n, seed):
            self.n, self.seed = n, seed
        def __len__(self):
            return self.n
        def __getitem__(self, i):
            rng = np.random.default_rng((self.seed, i))
            return torch.from_numpy(rng.random(784, dtype=np.float32)), int(rng.integers(10))

    def splits():
        n = int(os.environ["SCALE_N"])
        return {"train": OnTheFly(n, 0), "valid": OnTheFly(max(1, n // 10), 1)}

    def mlp():
        return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
''')


def _child(n: int, folder: str) -> None:
    """One fresh process: import + a 3-point line; prints its peak RSS and times as JSON."""
    os.environ["SCALE_N"] = str(n)
    from compute.importing import import_run
    from compute.kinds.line import LineQuery, compute_line
    from compute.store import Store

    store = Store(Path(folder) / "home")
    started = time.perf_counter()
    run = import_run(Path(folder) / "ckpts", "scale_data:mlp", "scale_data:splits", path=folder,
                     name=f"scale{n}", store=store)
    imported = time.perf_counter() - started
    started = time.perf_counter()
    compute_line(LineQuery.from_args(f"init:{run.id}", f"final:{run.id}", points=3, splits="train"), store)
    line = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"n": n, "peak": peak, "import_s": imported, "line_s": line}))


def memory(sizes: list[int]) -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "scale_data.py").write_text(DATA_MODULE)
        sys.path.insert(0, folder)
        import scale_data

        ckpts = Path(folder) / "ckpts"
        ckpts.mkdir()
        for step, seed in ((0, 0), (10, 1)):
            torch.manual_seed(seed)
            torch.save(scale_data.mlp().state_dict(), ckpts / f"step_{step}.pt")
        for n in sizes:
            env = dict(os.environ, PYTHONPATH=f"{ROOT}:{folder}")
            done = subprocess.run([sys.executable, __file__, "--child", str(n), folder], env=env, capture_output=True,
                                  text=True)
            if done.returncode:
                raise SystemExit(f"N={n} failed:\n{done.stderr[-3000:]}")
            out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def streaming(n: int, repeats: int) -> tuple[float, float, float]:
    from torch.utils.data import DataLoader, TensorDataset

    from compute.evaluator import Evaluator
    from compute.params import ParamLayout
    from models.batches import as_source, stream_digest
    from models.objectives import OBJECTIVES

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(n, 784, generator=g), torch.randint(0, 10, (n,), generator=g)

    def mlp(seed):
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))

    layout = ParamLayout.of(mlp(0))
    t0, t1 = layout.flatten_model(mlp(0)), layout.flatten_model(mlp(1))
    alphas = np.linspace(0, 1, 5)
    source = as_source(DataLoader(TensorDataset(x, y), batch_size=256), "train")
    source.expect(stream_digest(source))
    source.verified.update(range(source.num_shards))  # digests checked once per process: not timed
    tensors = Evaluator(mlp(0), OBJECTIVES["cross-entropy"], {"train": (x, y)}, device="cpu")
    loader = Evaluator(mlp(0), OBJECTIVES["cross-entropy"], {"train": source}, device="cpu")
    times = {"tensors": [], "loader": []}
    values = {}
    for _ in range(repeats):
        for name, ev in (("tensors", tensors), ("loader", loader)):
            started = time.perf_counter()
            values[name] = ev.line(t0, t1, alphas, ["train"]).splits["train"].cost
            times[name].append(time.perf_counter() - started)
    diff = float(np.max(np.abs(values["tensors"] - values["loader"])))
    return statistics.median(times["tensors"]), statistics.median(times["loader"]), diff


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(int(sys.argv[2]), sys.argv[3])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--roof-child":
        from benchmarks.scale_roof import roof_child
        roof_child(*map(int, sys.argv[2:5]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="memory,streaming,roof,shards", help="comma-separated parts to run")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    sizes = [5_000, 50_000] if args.quick else [20_000, 200_000]
    repeats = 1 if args.quick else args.repeats
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}")
    if "memory" in parts:
        _memory(sizes)
    if "streaming" in parts:
        _streaming(sizes, repeats)
    if "roof" in parts:
        _roof(args.quick)
    if "shards" in parts:
        _shards(args.quick)
    print(f"load {os.getloadavg()[0]:.1f} after")


def _memory(sizes: list[int]) -> None:
    rows = memory(sizes)
    for r in rows:
        print(f"memory  N={r['n']:>7,}: peak RSS {r['peak'] / 2**20:7.1f} MiB  (import {r['import_s']:.1f} s, "
              f"3-point line {r['line_s']:.1f} s)")
    small, large = rows[0]["peak"], rows[1]["peak"]
    met = large <= 1.25 * small + 64 * 2**20
    print(f"memory  ratio {large / small:.3f}x (target <= 1.25x + 64 MiB: {'met' if met else 'NOT met'})")


def _streaming(sizes: list[int], repeats: int) -> None:
    t_tensors, t_loader, diff = streaming(sizes[0], repeats)
    speed = t_tensors / t_loader
    print(f"stream  N={sizes[0]:,}, 5 points: tensors {t_tensors:.3f} s, DataLoader {t_loader:.3f} s: "
          f"{speed:.2f}x the speed (target >= 0.8x: {'met' if speed >= 0.8 else 'NOT met'}); max |dJ| {diff:.1e}")


def _roof(quick: bool) -> None:
    from benchmarks.scale_roof import roof

    tokens, context, batch = (512, 256, 2) if quick else (8192, 512, 4)
    r = roof(tokens, context, batch)
    ratio = r["per_point"] / r["roof"]
    allowed = 4 * r["model_bytes"] + r["budget"]
    print(f"roof    GPT-2 small ({r['params'] / 1e6:.1f} M parameters), {tokens:,} tokens ({tokens // context} x "
          f"{context}, batches of {batch}): line {r['per_point']:.2f} s a point ({r['points_per_call']} points a "
          f"call; {', '.join(f'{t:.2f}' for t in r['seconds'])}), plain no_grad forward after each {r['roof']:.2f} s "
          f"({', '.join(f'{t:.2f}' for t in r['roofs'])}): "
          f"{ratio:.2f}x the roof (target <= 1.25x: {'met' if ratio <= 1.25 else 'NOT met'}); J {r['line'][0]:.3f}"
          f" -> {r['line'][-1]:.3f}")
    print(f"roof    peak RSS {r['peak'] / 2**20:.0f} MiB; 4 x float32 model {4 * r['model_bytes'] / 2**20:.0f} MiB + "
          f"budget {r['budget'] / 2**20:.0f} MiB = {allowed / 2**20:.0f} MiB "
          f"({'met' if r['peak'] <= allowed else 'NOT met'})"
          + (f"; the line's own peak {r['line_peak'] / 2**20:.0f} MiB (from {r['before_line'] / 2**20:.0f} MiB before it)"
             if r.get("line_peak") else ""))


def _shards(quick: bool) -> None:
    from benchmarks.scale_roof import shards

    r = shards(20_000 if quick else 100_000, 8)
    speed = r["one_s"] / r["two_s"]
    print(f"shards  N={r['n']:,}, 5 points in {r['chunks']} chunks of shards: embedded {r['embedded_s']:.2f} s, "
          f"1 worker {r['one_s']:.2f} s, 2 workers {r['two_s']:.2f} s: {speed:.2f}x (target >= 1.6x: "
          f"{'met' if speed >= 1.6 else 'NOT met'}); np.array_equal with the embedded default: "
          f"1 worker {r['same'][1]}, 2 workers {r['same'][2]}")


if __name__ == "__main__":
    main()
