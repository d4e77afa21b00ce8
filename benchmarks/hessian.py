"""Side-by-side timing of the Hessian's top eigenvalue (and trace) of an imported BatchNorm ResNet.

The model is tests/userpkg's resnet8 (8/16 channels, BatchNorm), trained a few SGD steps by the user's
plain loop and imported as a user would (`import_run(..., "userpkg.resnet:resnet8", "cifar.npz")`).
Data: 1,000 CIFAR-shaped (3 x 32 x 32) examples. The Hessian is of the mean cross-entropy over all
of them at theta_f, eval mode (theta_f's BatchNorm statistics), the top eigenvalue to a relative
tolerance of 1e-3 by each tool's own rule.

Methods, timed in one run, interleaved (median of --repeats):
  landscape           compute.kinds.hessian.compute_hessian(HessianQuery(final:RUN, top=1, tolerance=1e-3)):
                      Lanczos with full reorthogonalisation, stopped when the eigenvalue's error bound
                      min(r, r^2/gap) is below 1e-3 |lambda|; the evaluator (model, data) made before
  pyhessian 0.1       hessian(model, CrossEntropyLoss(), data=(x, y)).eigenvalues(tol=1e-3): power
                      iteration, stopped when lambda changes by less than 1e-3 relative
  eigenthings 1.0.0a5 hessian_eigenthings.power_iteration_one(HessianOperator(model, [(x, y)],
                      supervised_loss(CE)), tol=1e-3): its method with a stop rule (its `lanczos` runs a
                      fixed number of steps chosen beforehand), stopped when lambda's change and the
                      residual are below 1e-3 relative
Trace: landscape's Hutchinson and PyHessian's `trace(maxIter=N, tol=0)` (Hutchinson), N = --probes each.
PyHessian and hessian-eigenthings are references only (`pip install --no-deps`, never imported by
the product; `make bench` installs them).

    .venv/bin/python benchmarks/hessian.py             # 1 repeat, 10 trace probes (minutes on 2 busy cores)
    .venv/bin/python benchmarks/hessian.py --quick     # 250 examples: a smoke test
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
sys.path.insert(0, str(ROOT / "tests"))  # the user's package, as `--path tests` puts it there

from compute.kinds.hessian import HessianQuery, compute_hessian  # noqa: E402
from compute.importing import import_run  # noqa: E402
from compute.kinds import resolve
from compute.resources import evaluator_for  # noqa: E402
from compute.store import Store  # noqa: E402
from userpkg.resnet import resnet8  # noqa: E402
from userpkg.train import train_and_save  # noqa: E402

from imported import make_data  # noqa: E402  the same CIFAR-shaped data as benchmarks/imported.py


STEPS = 30  # SGD steps of the user's loop before theta_f


def run_pyhessian(model, x, y) -> tuple[float, int]:
    from pyhessian import hessian

    module = sys.modules["pyhessian.hessian"]  # its products, counted (data= mode: one batch)
    inner, products = module.hessian_vector_product, [0]

    def counted(*args, **kwargs):
        products[0] += 1
        return inner(*args, **kwargs)

    module.hessian_vector_product = counted
    try:
        values, _ = hessian(model, torch.nn.CrossEntropyLoss(), data=(x, y), cuda=False).eigenvalues(
            maxIter=100, tol=1e-3, top_n=1)
    finally:
        module.hessian_vector_product = inner
    return float(values[0]), products[0]


def pyhessian_trace(model, x, y, probes: int) -> tuple[float, float]:
    from pyhessian import hessian

    samples = hessian(model, torch.nn.CrossEntropyLoss(), data=(x, y), cuda=False).trace(maxIter=probes, tol=0.0)
    return float(np.mean(samples)), float(np.std(samples, ddof=1) / np.sqrt(len(samples)))


def run_eigenthings(model, x, y) -> tuple[float, int]:
    import hessian_eigenthings as he

    op = he.HessianOperator(model, [(x, y)], he.supervised_loss(torch.nn.CrossEntropyLoss()))
    value, _vector, _residual, iterations, _converged = he.power_iteration_one(op, max_iter=100, tol=1e-3, seed=0)
    return float(value), int(iterations)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="250 examples: a smoke test")
    parser.add_argument("--repeats", type=int, default=1, help="timed repeats per method (default 1)")
    parser.add_argument("--probes", type=int, default=10, help="Hutchinson probes for the traces (default 10)")
    args = parser.parse_args(argv)
    n = 250 if args.quick else 1000
    work = Path(tempfile.mkdtemp(prefix="landscape-bench-"))
    store = Store(work / "home")
    data, x, y = make_data(work, n)
    torch.manual_seed(0)
    # trained long enough for the largest eigenvalue to be the largest in magnitude (PyHessian finds that one)
    folder = train_and_save(resnet8(), {"train": (x, y)}, work / "ckpts", steps=STEPS, every=STEPS // 2, batch=64)
    run = import_run(folder, "userpkg.resnet:resnet8", str(data), path=str(ROOT / "tests"), name="resnet8",
                     final_step=STEPS, store=store)
    model = resnet8()
    model.load_state_dict(torch.load(folder / f"step_{STEPS}.pt", weights_only=True))
    model.eval()
    query = resolve(HessianQuery(f"final:{run.id}", top=1, tolerance=1e-3), store)
    trace_query = resolve(HessianQuery(f"final:{run.id}", top=0, trace=True, trace_probes=args.probes), store)
    evaluator_for(run)  # the model and data in memory, as the other tools are given them
    params = sum(p.numel() for p in model.parameters())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fp32; resnet8 of tests/userpkg "
          f"({params} parameters, BatchNorm, eval mode); {n} CIFAR-shaped examples; top eigenvalue to 1e-3; "
          f"{args.repeats} interleaved repeat(s); load average {os.getloadavg()[0]:.1f}", flush=True)
    times: dict[str, list[float]] = {"landscape": [], "pyhessian": [], "eigenthings": []}
    found: dict[str, tuple[float, int]] = {}
    for _ in range(args.repeats):
        t = time.perf_counter()
        eigen = compute_hessian(query, store).splits["train"]["eigen"]
        times["landscape"].append(time.perf_counter() - t)
        found["landscape"] = (eigen["top"]["values"][0], eigen["iterations"])
        t = time.perf_counter()
        found["pyhessian"] = run_pyhessian(model, x, y)
        times["pyhessian"].append(time.perf_counter() - t)
        t = time.perf_counter()
        found["eigenthings"] = run_eigenthings(model, x, y)
        times["eigenthings"].append(time.perf_counter() - t)
        print("  " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    faster = min(med["pyhessian"], med["eigenthings"])
    ref = found["landscape"][0]
    print(f"{'method':<14} {'median s':>9} {'products':>9} {'lambda_max':>12} {'rel. to ours':>12} {'time / ours':>11}")
    for name in times:
        value, products = found[name]
        print(f"{name:<14} {med[name]:>9.1f} {products:>9d} {value:>12.6g} {abs(value - ref) / abs(ref):>12.1e} "
              f"{med[name] / med['landscape']:>10.2f}x")
    print(f"landscape is {faster / med['landscape']:.2f}x faster than the faster reference (target >= 2x)")
    t = time.perf_counter()
    ours = compute_hessian(trace_query, store).splits["train"]["trace"]
    ours_s = time.perf_counter() - t
    t = time.perf_counter()
    theirs, theirs_se = pyhessian_trace(model, x, y, args.probes)
    theirs_s = time.perf_counter() - t
    print(f"trace, Hutchinson with {args.probes} probes: landscape {ours['value']:.5g} ± {ours['standard_error']:.2g} "
          f"({ours_s:.1f} s); pyhessian {theirs:.5g} ± {theirs_se:.2g} ({theirs_s:.1f} s); difference "
          f"{abs(ours['value'] - theirs) / np.hypot(ours['standard_error'], theirs_se):.2f} combined standard errors")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
