"""Issue 20 §5: a line or a surface over streamed data cut into chunks of (points) x (shards of the
data), on the embedded default and on one and two real Celery workers: bit-identical to the line
(the surface) in one piece, whoever computed which shards."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from compute import budget, resources
from compute.importing import import_run
from compute.jobs.backend import run_job
from compute.jobs.base import split_chunks
from compute.kinds import estimate, kind_of, resolve
from compute.kinds.line import LineQuery
from compute.kinds.surface.query import SurfaceQuery
from models import batches

TESTS = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(TESTS))

from userpkg import resnet, streams, train as user_train  # noqa: E402


@pytest.fixture(scope="module")
def sharded_run(store, tmp_path_factory):
    torch.manual_seed(0)
    folder = user_train.train_and_save(resnet.mlp(), streams.tensor_twins(), tmp_path_factory.mktemp("ck"),
                                       steps=2, every=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(batches, "SHARD_EXAMPLES", 32)  # recorded in the run: 2 batches of 16 a shard
        return import_run(folder, "userpkg.resnet:mlp", "userpkg.streams:small_batches", path=str(TESTS),
                          name="sharded", store=store)


def _line(run, store):
    return resolve(LineQuery.from_args(f"init:{run.id}", f"final:{run.id}", "-0.5:1.5", 5, "train,valid"), store)


def test_a_line_cut_by_data_is_the_line_in_one_piece_to_the_bit(sharded_run, store, jobs_factory, one_thread,
                                                                 monkeypatch, thread_worker):
    tables = sharded_run.manifest["data_shards"]
    assert [len(tables[s]["digests"]) for s in ("train", "valid")] == [10, 4]
    query = _line(sharded_run, store)
    whole = run_job(query, jobs_factory("local"))
    assert whole["meta"]["chunks"] == 1
    monkeypatch.setattr(budget, "CHUNK_WORK", estimate(query, store).work / 4)  # ~4 chunks' worth
    chunks = split_chunks(kind_of("line"), query, store)
    assert len(chunks) >= 3 and all(c[:2] == [0, 5] for c in chunks)  # all the points, a range of shards each
    assert [c[2] for c in chunks[1:]] == [c[3] for c in chunks[:-1]] and (chunks[0][2], chunks[-1][3]) == (0, 14)
    resources.clear()
    local = run_job(query, jobs_factory("local").__class__(store, _fresh_cache(store)))
    celery = run_job(query, jobs_factory("celery"))
    for result in (local, celery):
        assert result["cost"] == whole["cost"] and result["error"] == whole["error"]
        assert result["meta"]["chunks"] == 1 and result["meta"]["shards"] == 14  # one range of points


def test_one_and_two_worker_processes_give_the_same_bits(sharded_run, store, jobs_factory, one_thread, monkeypatch,
                                                         spawn_worker, wait, redis_url):
    query = _line(sharded_run, store)
    whole = run_job(query, jobs_factory("local"))
    monkeypatch.setattr(budget, "CHUNK_WORK", estimate(query, store).work / 4)
    first = spawn_worker("shard-a")
    wait(first.ready, 60, "worker a")
    one = run_job(query, jobs_factory("celery"))
    second = spawn_worker("shard-b")
    wait(second.ready, 60, "worker b")
    from compute.jobs.cache import redis_cache
    redis_cache(redis_url).delete(query.key())
    two = run_job(query, jobs_factory("celery"))
    assert one["cost"] == whole["cost"] == two["cost"]


@pytest.mark.parametrize("surface", ["paper", "random-plane"])
def test_a_surface_cut_by_data_is_the_surface_in_one_piece_to_the_bit(surface, sharded_run, store, jobs_factory,
                                                                       one_thread, monkeypatch, thread_worker):
    query = resolve(SurfaceQuery.from_args(sharded_run.id, surface, points="3x4", splits="train,valid",
                                           seed=None if surface == "paper" else 5), store)
    whole = run_job(query, jobs_factory("local"))
    assert "shards" not in whole["meta"]
    monkeypatch.setattr(budget, "CHUNK_WORK", estimate(query, store).work / 8)  # a row is ~3 chunks' worth
    chunks = split_chunks(kind_of("surface"), query, store)
    spans = sorted({tuple(c[:2]) for c in chunks})
    width = len(whole["beta"]) + (surface == "paper")  # a paper row ends in its path point
    assert spans == [(r * width, (r + 1) * width) for r in range(3)]  # a row a chunk, times ranges of shards
    for lo, hi in spans:
        ranges = [c[2:] for c in chunks if tuple(c[:2]) == (lo, hi)]
        assert len(ranges) >= 2 and ranges[0][0] == 0 and ranges[-1][1] == 14
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    resources.clear()
    local = run_job(query, jobs_factory("local").__class__(store, _fresh_cache(store)))
    celery = run_job(query, jobs_factory("celery"))
    for result in (local, celery):
        assert result["cost"] == whole["cost"] and result["trajectory"] == whole["trajectory"]
        assert result["path"] == whole["path"] and result["meta"]["shards"] == 14
        assert result["meta"]["chunks"] == 3  # one part per row once its shards are joined


def test_a_causal_lm_line_cut_by_data_keeps_its_perplexity(store, jobs_factory, one_thread, monkeypatch,
                                                           tmp_path_factory):
    """A language model's line (dict batches of a DataLoader, causal-lm: J per counted token, and
    its perplexity exp(J)) is cut by data like any other, its perplexity applied to the joined J."""
    folder = tmp_path_factory.mktemp("lm")
    for step, seed in ((0, 0), (4, 1)):
        torch.manual_seed(seed)
        torch.save(streams.hf_style_lm().state_dict(), folder / f"step_{step}.pt")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(batches, "SHARD_EXAMPLES", 16)  # recorded in the run: 2 batches of 8 a shard
        run = import_run(folder, "userpkg.streams:hf_style_lm", "userpkg.streams:dict_token_splits", loss="causal-lm",
                         path=str(TESTS), name="lm_sharded", store=store, final_step=4)
    shards = sum(len(t["digests"]) for t in run.manifest["data_shards"].values())
    query = _line(run, store)
    whole = run_job(query, jobs_factory("local"))
    assert whole["meta"]["chunks"] == 1 and "shards" not in whole["meta"]
    monkeypatch.setattr(budget, "CHUNK_WORK", estimate(query, store).work / 3)
    chunks = split_chunks(kind_of("line"), query, store)
    assert len(chunks) >= 2 and all(len(c) == 4 for c in chunks)
    resources.clear()
    cut = run_job(query, jobs_factory("local").__class__(store, _fresh_cache(store)))
    assert cut["meta"]["shards"] == shards >= 3
    assert cut["cost"] == whole["cost"] and cut["error"] == whole["error"]
    assert cut["extra"]["perplexity"] == whole["extra"]["perplexity"]
    assert cut["extra"]["perplexity"]["train"] == [float(np.exp(j)) for j in whole["cost"]["train"]]


def _fresh_cache(store):
    from compute.jobs.cache import file_cache
    return file_cache(Path(store.home) / "cache-cut")
