"""Evaluations on in-memory tensor data whose values main computed before streaming existed
(tests/compute/streaming_golden.json, under ORIGINAL): the streamed evaluator must give them to
float32 rounding on any machine, and to the bit on a machine whose own values the file records
under its `machine()` name (the BLAS kernels, hence the last bits, follow the CPU: an AMD EPYC with
AVX2 gave values 1e-8 relative away from the original's). Regenerate the original on a tree before
a change with
    python tests/streaming_cases.py TREE OUT.json   (TREE: a checkout of main before the change)
and record this machine's values, once they are shown close to the original's, with
    python tests/streaming_cases.py . --record
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

GOLDEN = Path(__file__).parent / "compute" / "streaming_golden.json"
ORIGINAL = "before streaming, on a machine not recorded"


def machine() -> str:
    """What decides the last bits here: the CPU's vendor and vector extension, and torch."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    vendor = next((line.split(":")[1].strip() for line in info.splitlines() if line.startswith("vendor_id")), "?")
    return f"{vendor} {torch.backends.cpu.get_cpu_capability()} torch {torch.__version__}"


def hexes(evaluation) -> dict[str, list[str]]:
    out = {}
    for s, m in evaluation.splits.items():
        for f in ("cost", "error", "dcost", "d2cost"):
            v = getattr(m, f)
            if v is not None:
                out[f"{s}.{f}"] = [float(a).hex() for a in v]
    return out


def golden_cases() -> dict[str, dict[str, list[str]]]:
    from compute.batchnorm import BufferLayout
    from compute.evaluator import EvalOptions, Evaluator
    from compute.params import ParamLayout
    from models import get_model
    from models.objectives import OBJECTIVES
    from userpkg import data as udata, resnet

    out = {}
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(700, 28, 28, generator=g), torch.randint(0, 10, (700,), generator=g)
    xv, yv = torch.rand(300, 28, 28, generator=g), torch.randint(0, 10, (300,), generator=g)
    alphas = np.linspace(-0.5, 1.5, 9)
    spec = get_model("relu-mnist")
    layout = ParamLayout.of(spec.build("small"))
    t0, t1 = (layout.flatten_model(spec.build("small", s)) for s in (0, 1))
    ev = Evaluator(spec.build("small"), spec.objective, {"train": (x, y), "valid": (xv, yv)}, device="cpu")
    # the line fast path
    out["relu.line"] = hexes(ev.line(t0, t1, alphas, ["train", "valid"], options=EvalOptions(derivatives=True)))
    out["relu.points"] = hexes(ev.evaluate_points(torch.stack([t0, t1]), ["valid", "train"]))  # first-layer reuse
    d = udata.images(n_train=150, n_valid=40)
    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        m = resnet.resnet8().train()
        with torch.no_grad():
            m(d["train"][0][:64])  # statistics of its own
        models.append(m)
    layout, buffers = ParamLayout.of(models[0]), BufferLayout.of(models[0])
    t0, t1 = (layout.flatten_model(m) for m in models)
    bb = torch.stack([buffers.flatten_model(m) for m in models])
    ev = Evaluator(resnet.resnet8(), OBJECTIVES["cross-entropy"], d, device="cpu")
    out["resnet.interpolate"] = hexes(ev.line(t0, t1, alphas[:4], ["train", "valid"], buffer_basis=bb))  # folded
    out["resnet.recompute"] = hexes(ev.line(t0, t1, alphas[:2], ["train"], buffer_basis=bb,
                                            options=EvalOptions(bn="recompute")))
    return out


if __name__ == "__main__":
    import json

    sys.path.insert(0, sys.argv[1])
    sys.path.insert(1, sys.argv[1] + "/tests")
    torch.set_num_threads(2)
    if sys.argv[2] == "--record":
        golden = json.loads(GOLDEN.read_text())
        golden[machine()] = golden_cases()
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True))
    else:
        json.dump(golden_cases(), open(sys.argv[2], "w"), indent=1, sort_keys=True)
