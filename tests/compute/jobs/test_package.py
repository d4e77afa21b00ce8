"""The job layer's public Python API is the package itself (`compute.jobs.run_job(query)`, as
docs/cli.md says), and the kinds know nothing of the job layer: what they need of a job (the cache a
chunk keeps its by-products in, the service's errors) lives below both packages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import compute.jobs
from compute.kinds import resolve
from compute.kinds.line import LineQuery

ROOT = Path(__file__).resolve().parents[3]


def test_looking_up_every_kind_loads_no_module_of_the_job_layer():
    probe = ("import json, sys\n"
             "from compute.kinds import KINDS, kind_of\n"
             "[kind_of(k) for k in KINDS]\n"
             "print(json.dumps(sorted(m for m in sys.modules if m.startswith('compute.jobs'))))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []


def test_the_package_runs_a_query_as_the_readme_says(store, scalar_run, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    query = resolve(LineQuery.from_args(f"init:{scalar_run.id}", f"final:{scalar_run.id}", "0:1", "5"), store)
    result = compute.jobs.run_job(query, compute.jobs.get_jobs())
    assert result["alpha"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert compute.jobs.execute(query, store).to_json()["cost"] == result["cost"]
