"""--dtype (issue 20 §6): the forward in bfloat16 or float16, totals in float64, part of the key (the
float32 default keeps the keys it had), in the address, the API, the CLI and the figure's title,
with the measured difference from float32 in the result's meta; and benchmarks/gpu.py, which
says so where there is no GPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from compute.jobs.base import execute
from compute.kinds.line import LineQuery
from compute.kinds.surface.query import SurfaceQuery
from compute.kinds import resolve

ROOT = Path(__file__).resolve().parents[3]


def test_dtype_is_part_of_the_key_and_float32_keeps_the_old_keys(scalar_run, store):
    run = scalar_run.id
    plain = LineQuery.from_args(f"init:{run}", f"final:{run}")
    old_json = {k: v for k, v in plain.to_json().items() if k != "dtype"}  # a query written before
    assert LineQuery.from_json(old_json).key() == plain.key()
    assert LineQuery.from_args(f"init:{run}", f"final:{run}", dtype="float32").key() == plain.key()
    keys = {dt: LineQuery.from_args(f"init:{run}", f"final:{run}", dtype=dt).key()
            for dt in ("float32", "bfloat16", "float16")}
    assert len(set(keys.values())) == 3
    surface = {dt: SurfaceQuery.from_args(run, dtype=dt).key() for dt in ("float32", "float16")}
    assert surface["float32"] != surface["float16"]


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_a_lower_precision_line_and_surface_report_their_error(scalar_run, store, dtype):
    run = scalar_run.id
    exact, low = (execute(resolve(LineQuery.from_args(f"init:{run}", f"final:{run}", "0:1", 9, dtype=dt), store),
                          store).to_json() for dt in ("float32", dtype))
    assert exact["meta"]["dtype"] == "float32" and exact["meta"]["precision_error"] is None
    assert low["meta"]["dtype"] == dtype
    for split in exact["cost"]:
        e, lo = np.array(exact["cost"][split]), np.array(low["cost"][split])
        assert not np.array_equal(e, lo)  # computed in that precision
        assert np.all(np.abs(e - lo) <= 0.05 * (1 + np.abs(e)))
        # measured at the ends of each chunk against float32: no smaller than the ends' differences
        assert low["meta"]["precision_error"] >= max(abs(e[0] - lo[0]), abs(e[-1] - lo[-1])) - 1e-12
    plane = execute(resolve(SurfaceQuery.from_args(run, "random-plane", points="3x3", dtype=dtype), store), store)
    assert plane.meta["dtype"] == dtype and plane.meta["precision_error"] > 0


def test_dtype_in_the_address_the_api_and_the_title(scalar_run):
    from app import urls
    from app.runs import load_catalog
    from app.server import create_app
    from app.views import line

    client, run = create_app().server.test_client(), scalar_run.id
    answer = client.get(f"/api/line.json?run={run}&points=5&dtype=float16&wait=60")
    assert answer.status_code == 200 and answer.json["meta"]["dtype"] == "float16"
    assert answer.json["query"]["dtype"] == "float16"
    refused = client.get(f"/api/line.json?run={run}&dtype=int8")
    assert refused.status_code == 400 and refused.json["field"] == "dtype"
    catalog = load_catalog()
    state = urls.parse("/line", f"?run={run}&dtype=bfloat16", catalog).state
    assert "dtype=bfloat16" in urls.href(state) and "bfloat16 forward" in line._title(state, catalog, ("a", "b"))
    plain = urls.parse("/line", f"?run={run}", catalog).state
    assert "dtype" not in urls.href(plain) and "forward" not in line._title(plain, catalog, ("a", "b"))


def test_the_cli_takes_dtype(capsys, scalar_run):
    from app.cli import main

    code = main(["line", "--from", f"init:{scalar_run.id}", "--to", f"final:{scalar_run.id}", "--points", "4",
                 "--dtype", "bfloat16", "--local", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["meta"]["dtype"] == "bfloat16"
    code = main(["line", "--from", f"init:{scalar_run.id}", "--to", f"final:{scalar_run.id}", "--dtype", "half"])
    assert code == 2 and "dtype must be one of" in capsys.readouterr().err


def test_the_gpu_benchmark_says_where_it_was_not_measured():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here: the benchmark measures instead")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "no CUDA device: not measured on a GPU"
