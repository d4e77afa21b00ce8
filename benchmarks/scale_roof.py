"""The roof and the shards of benchmarks/scale.py (issue 20 §8); run through scale.py.

  roof    a GPT-2-small-sized model (GPT2LMHeadModel(GPT2Config()), 124 M parameters, tied head):
          θ0 its random init, θ1 after a few SGD steps; the evaluator as an import builds it
          (the run's causal-lm objective, dict batches {input_ids, labels} streamed from a
          DataLoader) computes a 5-point line over TOKENS tokens, a point a call; the roof is a
          plain torch.no_grad() forward of the same model on the same batches, once after each
          point (the same load for both). In a fresh process, whose peak RSS (the whole process,
          and the line's calls alone) is compared with 4x the model's float32 bytes + the budget.
  shards  an imported 784-128-10 ReLU MLP over a map-style Dataset of N examples (streamed in
          shards); a 5-point line cut by data into chunks of shards, on 1 and on 2 real
          `landscape worker --threads 1` processes (a redis-server of its own on a free port),
          against the embedded default on one thread: np.array_equal, printed.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------------------------------- roof

def roof_child(tokens: int, context: int, batch: int) -> None:
    """Prints JSON: seconds per line point, per roof forward, peak RSS, model bytes, budget."""
    from torch.utils.data import DataLoader
    from transformers import GPT2Config, GPT2LMHeadModel

    from compute.evaluator import Evaluator
    from compute.params import ParamLayout
    from models.batches import as_source, model_outputs, stream_digest
    from models.user import LossRef

    torch.manual_seed(0)
    config = GPT2Config(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(config).eval()
    layout = ParamLayout.of(model)
    theta0 = layout.flatten_model(model)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, config.vocab_size, (tokens // context, context), generator=g)
    rows = [{"input_ids": r, "labels": r} for r in ids]
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(2):  # a few SGD steps on a short batch: theta1
        out = model(input_ids=ids[:2, :128], labels=ids[:2, :128])
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    del opt, out
    model.zero_grad(set_to_none=True)  # the steps' gradients are no part of a line's memory
    model.eval()
    theta1 = layout.flatten_model(model)
    _release_freed_heap()  # the steps' freed gradients and activations: glibc keeps ~0.7 GiB of them mapped
    before_line = _status_bytes("VmRSS")
    model_bytes = theta0.numel() * 4
    source = as_source(DataLoader(rows, batch_size=batch), "train")
    source.expect(stream_digest(source))
    source.verified.update(range(source.num_shards))  # checked once per process, not timed
    objective = LossRef("causal-lm").objective()
    ev = Evaluator(model, objective, {"train": source}, device="cpu")
    alphas = np.linspace(0.0, 1.0, 5)
    # The line's points one call each (a large model's line takes them one at a time anyway: the
    # same work and values, the outputs probed in the first call), each followed by a roof pass,
    # so that both see the same load on a shared machine.
    seconds, roof, line, line_peak = [], [], [], 0
    for alpha in alphas:
        if _reset_peak() is None:
            line_peak = None
        started = time.perf_counter()
        line.append(float(ev.line(theta0, theta1, np.array([alpha]), ["train"]).splits["train"].cost[0]))
        seconds.append(time.perf_counter() - started)
        if line_peak is not None:  # the line's own peak, without the roof's passes
            line_peak = max(line_peak, _status_bytes("VmHWM"))
        started = time.perf_counter()
        with torch.no_grad():
            for b in DataLoader(rows, batch_size=batch):
                model_outputs(model(input_ids=b["input_ids"]))
        roof.append(time.perf_counter() - started)
    per_point = sum(seconds) / len(alphas)
    print(json.dumps({"per_point": per_point, "roof": sum(roof) / len(roof), "roofs": roof, "seconds": seconds, "line": line,
                      "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "line_peak": line_peak, "before_line": before_line,
                      "model_bytes": model_bytes, "budget": ev.memory_budget, "params": theta0.numel(),
                      "points_per_call": ev.points_per_call}))


def _release_freed_heap() -> None:
    """Return freed heap memory to the system (glibc's malloc_trim), so that the peak RSS measured
    is the line's, not the set-up's memory that the allocator kept after the SGD steps."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to hand back this way
        pass


def _status_bytes(field: str) -> int | None:
    """A /proc/self/status memory field (VmRSS, VmHWM) in bytes; None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak() -> int | None:
    """Reset this process's peak RSS (VmHWM; Linux >= 4.0) to its current RSS, which it returns."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return _status_bytes("VmRSS")


def roof(tokens: int, context: int, batch: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--roof-child", str(tokens),
                           str(context), str(batch)], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"roof failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -------------------------------------------------------------------------------------- shards

SHARD_DATA = textwrap.dedent('''
    import os
    import torch
    from torch import nn
    from torch.utils.data import Dataset

    class Held(Dataset):
        """MNIST-shaped examples from one seeded tensor (fast to index: the line's work dominates)."""
        def __init__(self, n, seed):
            g = torch.Generator().manual_seed(seed)
            self.x, self.y = torch.rand(n, 784, generator=g), torch.randint(0, 10, (n,), generator=g)
        def __len__(self):
            return len(self.y)
        def __getitem__(self, i):
            return self.x[i], self.y[i]

    def splits():
        return {"train": Held(int(os.environ["SCALE_SHARD_N"]), 0)}

    def mlp():
        return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
''')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def shards(n: int, chunks: int) -> dict:
    import redis

    from compute import budget
    from compute.jobs.cache import file_cache, redis_cache
    from compute.jobs.celery_app import CeleryJobs
    from compute.importing import import_run
    from compute.jobs.backend import run_job
    from compute.jobs.base import split_chunks
    from compute.jobs.local import LocalJobs
    from compute.kinds import estimate, kind_of, resolve
    from compute.kinds.line import LineQuery
    from compute.store import Store

    folder = Path(tempfile.mkdtemp(prefix="scale-shards-"))
    os.environ["LANDSCAPE_HOME"] = str(folder / "home")  # the importer's signing key, read by the workers too
    procs: list[subprocess.Popen] = []
    try:
        (folder / "shard_data.py").write_text(SHARD_DATA)
        os.environ["SCALE_SHARD_N"] = str(n)
        sys.path.insert(0, str(folder))
        import shard_data

        ckpts = folder / "ckpts"
        ckpts.mkdir()
        for step, seed in ((0, 0), (10, 1)):
            torch.manual_seed(seed)
            torch.save(shard_data.mlp().state_dict(), ckpts / f"step_{step}.pt")
        home = folder / "home"
        store = Store(home)
        torch.set_num_threads(1)  # as the workers: a GEMM's summation order depends on the threads
        run = import_run(ckpts, "shard_data:mlp", "shard_data:splits", path=str(folder), name="shards", store=store)
        query = resolve(LineQuery.from_args(f"init:{run.id}", f"final:{run.id}", points=5, splits="train"), store)
        budget.CHUNK_WORK = estimate(query, store).work / chunks  # cut by data into ~`chunks` chunks
        cut = split_chunks(kind_of("line"), query, store)
        started = time.perf_counter()
        embedded = run_job(query, LocalJobs(store, file_cache(folder / "cache")))
        embedded_s = time.perf_counter() - started

        port = _free_port()
        procs.append(subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        url = f"redis://127.0.0.1:{port}/0"
        _wait(lambda: _pings(redis, url), 20, "redis-server")
        env = dict(os.environ, REDIS_URL=url, LANDSCAPE_HOME=str(home), PYTHONPATH=f"{ROOT}:{folder}",
                   PYTHONUNBUFFERED="1")
        landscape = str(Path(sys.executable).parent / "landscape")

        def spawn(name: str) -> Path:
            log = folder / f"{name}.log"
            procs.append(subprocess.Popen([landscape, "worker", "--threads", "1", "--hostname", f"{name}@%h",
                                           "--loglevel", "info"], cwd=folder, env=env, stdout=open(log, "w"),
                                          stderr=subprocess.STDOUT, start_new_session=True))
            _wait(lambda: " ready." in log.read_text(), 90, f"worker {name}")
            return log

        jobs = CeleryJobs(url, store)
        times, values = {}, {}
        for workers in (1, 2):
            spawn(f"w{workers}")
            redis_cache(url).delete(query.key())
            started = time.perf_counter()
            values[workers] = run_job(query, jobs)
            times[workers] = time.perf_counter() - started
        same = {w: bool(np.array_equal(np.asarray(values[w]["cost"]["train"]), np.asarray(embedded["cost"]["train"])))
                for w in (1, 2)}
        return {"n": n, "chunks": len(cut), "embedded_s": embedded_s, "one_s": times[1], "two_s": times[2],
                "same": same, "cost": embedded["cost"]["train"]}
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(folder, ignore_errors=True)


def _pings(redis, url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url).ping())
    except redis.exceptions.ConnectionError:
        return False
