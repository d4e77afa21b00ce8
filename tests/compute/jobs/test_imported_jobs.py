"""Imported runs (issue 11) through the job layer: a Celery worker computes their lines and
surfaces exactly as the embedded default does, and a worker that cannot import the user's module
fails the job with one message naming it."""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from compute import resources
from compute.importing import import_run
from compute.jobs.backend import run_job
from compute.service_errors import JobFailed
from compute.kinds.line import LineQuery
from compute.kinds.surface.query import SurfaceQuery
from compute.kinds import resolve

TESTS = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(TESTS))

from userpkg import data as user_data, resnet, train as user_train  # noqa: E402


@pytest.fixture(scope="module")
def imported_resnet(store, tmp_path_factory):
    torch.manual_seed(0)
    folder = user_train.train_and_save(resnet.resnet8(), user_data.images(), tmp_path_factory.mktemp("ck"))
    return import_run(folder, "userpkg.resnet:resnet8", "userpkg.data:cifar_like", path=str(TESTS),
                      name="resnet8_jobs", final_step=6, store=store)  # a few steps: the best may be step 0


@pytest.mark.parametrize("bn", ["interpolate", "recompute"])
def test_a_worker_computes_an_imported_line(bn, thread_worker, jobs_factory, imported_resnet, store):
    query = resolve(LineQuery.from_args(f"init:{imported_resnet.id}", f"final:{imported_resnet.id}", "-0.5:1.5",
                                        40, "train,valid", bn=bn), store)
    through_celery = run_job(query, jobs_factory("celery"))
    embedded = run_job(query, jobs_factory("local"))
    assert through_celery["cost"] == embedded["cost"] and len(through_celery["cost"]["train"]) == 40
    assert through_celery["meta"]["bn"] == bn and through_celery["meta"]["chunks"] == 2


def test_a_worker_draws_an_imported_surface(thread_worker, jobs_factory, imported_resnet, store):
    query = resolve(SurfaceQuery.from_args(imported_resnet.id, "random-plane", points="5x5",
                                           normalization="filter"), store)
    result = run_job(query, jobs_factory("celery"))
    assert len(result["cost"]["train"]) == 5 and all(len(row) == 5 for row in result["cost"]["train"])
    centre = result["cost"]["train"][2][2]  # a = b = 0: theta_f itself, with its own statistics
    final = next(s for s in imported_resnet.manifest["steps"] if s["step"] == imported_resnet.final_step)
    assert centre == pytest.approx(final["cost"]["train"], abs=1e-5)
    assert result["trajectory"]["step"] == imported_resnet.steps


def test_a_worker_without_the_module_fails_the_job_naming_it(thread_worker, jobs_factory, store, tmp_path):
    package = tmp_path / "code"
    package.mkdir()
    (package / "vanishing_net.py").write_text(textwrap.dedent("""
        from torch import nn
        def build():
            return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
    """))
    folder = user_train.train_and_save(_load(package).build(), user_data.images(), tmp_path / "ck", steps=2, every=2)
    run = import_run(folder, "vanishing_net:build", "userpkg.data:cifar_like", path=str(package), final_step=2,
                     store=store)
    shutil.rmtree(package)  # the code is gone: on this "machine" the module cannot be imported
    sys.modules.pop("vanishing_net", None)
    resources.clear()
    query = resolve(LineQuery.from_args(f"init:{run.id}", f"final:{run.id}", "0:1", 5, "train"), store)
    with pytest.raises(JobFailed, match="cannot import module 'vanishing_net'"):
        run_job(query, jobs_factory("celery"))


def _load(package: Path):
    sys.path.insert(0, str(package))
    import vanishing_net

    return vanishing_net
