"""One key, one value (issue 18 §7): the same query computed embedded, with `--local`, and on one
and on two real `landscape worker` processes with different `--threads` gives the same arrays.

Bit for bit where the line fast path computes (a ReLU MLP's lines, and its surfaces, whose rows
are lines): its blocks of examples and each block's arithmetic do not depend on the number of
threads. A general-path model (here the sigmoid MLP) is bit-identical between processes with the
same number of torch threads, and within a bound otherwise: MKL's float32 GEMM cuts its sums
differently by thread count (docs/workers.md, "One key, one value")."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from compute.jobs.cache import KEY_PREFIX, redis_client
from compute.jobs.backend import run_job
from compute.jobs.base import execute
from compute.kinds.line import LineQuery
from compute.kinds.surface.query import SurfaceQuery
from compute.kinds import resolve

# the largest difference a general-path value may show between thread counts, relative to |J| (>= 1):
# measured 1e-8 (2.2e-8 on J = 2.46, sigmoid-mnist small, 201 points, 1 vs 2 threads, load 13)
GENERAL_PATH_BOUND = 1e-6


@pytest.fixture(scope="module")
def sigmoid_run(store):
    from compute.training import train

    return train("sigmoid-mnist", "small", 0, store=store, progress=False)


def _values(result: dict) -> np.ndarray:
    """Every cost of a line or surface result, as one float64 array (NaN for a null)."""
    cost = result["cost"]
    return np.array([[np.nan if v is None else v for v in np.ravel(cost[s])] for s in sorted(cost)], dtype=np.float64)


def _cli(capsys, argv: list[str]) -> dict:
    from app.cli import main

    code = main(argv + ["--local", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_every_path_gives_the_same_arrays(store, relu_run, sigmoid_run, spawn_worker, jobs_factory, redis_url, wait,
                                          capsys):
    relu, sigmoid = relu_run.id, sigmoid_run.id
    queries = {
        "fast line": resolve(LineQuery.from_args(f"init:{relu}", f"final:{relu}", "-0.5:1.5", 129), store),
        "general line": resolve(LineQuery.from_args(f"init:{sigmoid}", f"final:{sigmoid}", "0:1", 40), store),
        "surface": resolve(SurfaceQuery.from_args(relu, "random-plane", points="7x9", splits="train,valid"), store),
    }
    argv = {"fast line": ["line", "--from", f"init:{relu}", "--to", f"final:{relu}", "--alpha", "-0.5:1.5",
                          "--points", "129"],
            "general line": ["line", "--from", f"init:{sigmoid}", "--to", f"final:{sigmoid}", "--points", "40"],
            "surface": ["surface", relu, "--kind", "random-plane", "--points", "7x9", "--splits", "train,valid"]}
    threads = torch.get_num_threads()
    assert threads > 1, "the comparison needs this process on more than one thread"
    workers = [spawn_worker("bits-a", threads=threads), spawn_worker("bits-b", threads=1)]
    embedded = {name: _values(execute(q, store).to_json()) for name, q in queries.items()}  # `threads` threads
    torch.set_num_threads(1)
    try:
        local = {name: _values(_cli(capsys, argv[name])) for name in queries}  # --local, on one thread
    finally:
        torch.set_num_threads(threads)
    assert {name: _cli(capsys, argv[name])["key"] for name in queries} == {n: q.key() for n, q in queries.items()}

    wait(lambda: all(w.ready() for w in workers), 180, "two workers", every=0.2)
    jobs, client = jobs_factory("celery"), redis_client(redis_url)
    two = {name: _values(run_job(q, jobs)) for name, q in queries.items()}
    owners = {name: set(jobs.board.owners(q.key()).values()) for name, q in queries.items()}
    assert any(len(o) == 2 for o in owners.values()), owners  # the chunks of a job were shared by both
    workers[1].kill()
    for q in queries.values():  # again, from scratch, on the worker left
        client.delete(KEY_PREFIX + q.key(), f"landscape:job:{q.key()}")
    one = {name: _values(run_job(q, jobs)) for name, q in queries.items()}

    for name in ("fast line", "surface"):  # bit for bit, whatever the threads and the workers
        for path in (local, two, one):
            assert np.array_equal(path[name], embedded[name], equal_nan=True), name
    general = embedded["general line"]
    assert np.array_equal(one["general line"], general)  # the same threads: the same bits
    scale = np.maximum(1.0, np.abs(general))
    for path in (local, two):  # one thread (and a mix of both): within the bound
        assert np.all(np.abs(path["general line"] - general) <= GENERAL_PATH_BOUND * scale)
