"""Side-by-side timing of a 9 x 9 random plane (Fig. 21) of a model Landscape does not know.

The model is a ResNet-20 in the style of He et al.'s CIFAR nets (16/32/64 channels, three blocks a
stage, BatchNorm, 0.27 M parameters; tests/userpkg/resnet.py, a user's package), trained for a few
SGD steps by a plain loop that saves `.pt` state dicts, and imported as a user would:
`import_run(folder, "userpkg.resnet:resnet20", "cifar.npz", path="tests")`. Data: 1,000
CIFAR-shaped (3 x 32 x 32) examples in an .npz. Plane through θ_f with filter-normalised random
directions (Li et al. 2018), θ_f's BatchNorm statistics (bn=interpolate: directions carry none).

Methods, timed in one run, interleaved, median of --repeats:
  landscape        compute.kinds.surface.kind.compute_surface on the SurfaceQuery: all of it (directions, the
                   81 grid points, and the trajectory's 2 checkpoints and their projections)
  loss-landscapes  loss_landscapes.random_plane(model, Loss(CrossEntropyLoss, x, y), steps=9,
                   normalization="filter") on the same model at θ_f in eval mode, the same data in
                   one batch (its directions are uniform, not Gaussian: values differ, work does not)
  per-point        a plain loop over our own 81 grid points: θ built from our basis, loaded with
                   θ_f's buffers into a fresh module, eval forward, cross-entropy — the check of
                   our values (max |J - J_per-point| is printed) and a second reference

    .venv/bin/python benchmarks/imported.py            # 3 repeats (a few minutes on 2 cores)
    .venv/bin/python benchmarks/imported.py --quick    # 3 x 3, one repeat: a smoke test
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the user's package, as `--path tests` puts it there

from compute.kinds.surface import kind as surfaces  # noqa: E402
from compute.kinds import trajectory  # noqa: E402
from compute.importing import import_run  # noqa: E402
from compute.kinds.surface.query import SurfaceQuery  # noqa: E402
from compute.store import Store  # noqa: E402
from userpkg.resnet import resnet20  # noqa: E402
from userpkg.train import train_and_save  # noqa: E402


def make_data(folder: Path, n: int = 1000) -> tuple[Path, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (n,), generator=g)
    x = torch.randn(n, 3, 32, 32, generator=g) * 0.5 + (y.float() / 10.0)[:, None, None, None]
    path = folder / "cifar.npz"
    np.savez(path, x_train=x.numpy(), y_train=y.numpy())
    return path, x, y


def run_landscape(query: SurfaceQuery, store: Store) -> np.ndarray:
    trajectory._frames.clear()  # time the checkpoint frame too
    return np.array(surfaces.compute_surface(query, store).cost["train"])


def run_loss_landscapes(model, x, y, side: int) -> np.ndarray:
    import loss_landscapes
    import loss_landscapes.metrics

    metric = loss_landscapes.metrics.Loss(torch.nn.CrossEntropyLoss(), x, y)
    with torch.no_grad():
        return loss_landscapes.random_plane(model, metric, distance=1, steps=side, normalization="filter",
                                            deepcopy_model=True)


def run_per_point(query: SurfaceQuery, run, x, y) -> np.ndarray:
    frame = trajectory.line_frame(run)
    basis, _ = surfaces.plane_basis(query, frame)
    alphas = np.linspace(-1.0, 1.0, query.rows)
    betas = np.linspace(-1.0, 1.0, query.columns)
    model = resnet20().eval()
    buffers = run.buffers(run.final_step)
    names = [n for n, b in model.named_buffers() if b.is_floating_point()]
    sizes = [b.numel() for n, b in model.named_buffers() if b.is_floating_point()]
    out = []
    with torch.no_grad():
        for b_name, piece in zip(names, torch.split(buffers, sizes)):
            model.get_buffer(b_name).copy_(piece.reshape(model.get_buffer(b_name).shape))
        for a in alphas:
            row = []
            for b in betas:
                theta = (basis[0] + a * basis[1] + b * basis[2]).float()
                run.layout.load_into(model, theta)
                row.append(F.cross_entropy(model(x), y).item())
            out.append(row)
    return np.array(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 x 3, one repeat: a smoke test")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per method (default 3; quick 1)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    side = 3 if args.quick else 9
    work = Path(tempfile.mkdtemp(prefix="landscape-bench-"))
    store = Store(work / "home")
    data, x, y = make_data(work)
    torch.manual_seed(0)
    model = resnet20()
    folder = train_and_save(model, {"train": (x, y)}, work / "ckpts", steps=2, every=2, batch=64)
    run = import_run(folder, "userpkg.resnet:resnet20", str(data), path=str(ROOT / "tests"), name="resnet20",
                     final_step=2, store=store)
    # the plane's grid is fixed to [-1, 1]^2 so that the per-point loop can rebuild it
    query = SurfaceQuery(run.id, "random-plane", -1.0, 1.0, -1.0, 1.0, side, side, ("train",),
                         normalization="filter")
    final = resnet20()
    final.load_state_dict(torch.load(folder / "step_2.pt", weights_only=True))
    final.eval()
    methods = {"landscape": lambda: run_landscape(query, store),
               "loss-landscapes": lambda: run_loss_landscapes(final, x, y, side),
               "per-point": lambda: run_per_point(query, run, x, y)}
    params = sum(p.numel() for p in final.parameters())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fp32; imported ResNet-20 "
          f"({params / 1e6:.2f} M parameters, BatchNorm); {side} x {side} random plane, filter-normalised; "
          f"{len(x)} CIFAR-shaped examples; median of {repeats} interleaved repeats", flush=True)
    times = {k: [] for k in methods}
    values = {}
    for _ in range(repeats):
        for name, fn in methods.items():
            t = time.perf_counter()
            values[name] = fn()
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{'method':<16} {'median s':>9} {'loss-landscapes/method':>23} {'per-point/method':>17}")
    for name in methods:
        print(f"{name:<16} {med[name]:>9.2f} {med['loss-landscapes'] / med[name]:>22.2f}x "
              f"{med['per-point'] / med[name]:>16.2f}x")
    ours, ref = values["landscape"], values["per-point"]
    print(f"max |J_landscape - J_per-point| = {float(np.max(np.abs(ours - ref))):.1e} "
          f"(J in [{ref.min():.4f}, {ref.max():.4f}], {ref.size} points)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
