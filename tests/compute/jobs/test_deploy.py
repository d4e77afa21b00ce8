"""docker-compose.yml and the Dockerfile agree with the code (there is no Docker engine here to
run them), and a worker process is what it claims: no Dash, one process per GPU."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
LANDSCAPE_SERVICES = ("init", "web", "worker", "worker-cpu")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _code() -> str:
    return "\n".join(p.read_text() for folder in ("compute", "app") for p in (ROOT / folder).glob("*.py"))


def test_compose_services_volumes_and_environment(compose):
    services = compose["services"]
    assert {"redis", *LANDSCAPE_SERVICES} <= set(services)
    redis = services["redis"]
    command = redis["command"]
    assert command[0] == "redis-server" and command[command.index("--appendonly") + 1] == "yes"  # persistence
    assert "redis-data:/data" in redis["volumes"] and "redis-data" in compose["volumes"]
    code = _code()
    for name in LANDSCAPE_SERVICES:
        service = services[name]
        env = service["environment"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"  # the redis service, by its compose name
        assert "runs:/data/landscape" in service["volumes"] and env["LANDSCAPE_HOME"] == "/data/landscape"
        for variable in env:  # every setting it passes is one the code reads
            assert re.search(rf"[\"']{variable}[\"']", code), f"{name}: {variable} is read nowhere"
    assert "runs" in compose["volumes"]
    for name in LANDSCAPE_SERVICES:  # one signing key for web and every worker, outside the runs volume
        service = services[name]
        folder, _, file = service["environment"]["LANDSCAPE_SECRET_KEY_FILE"].rpartition("/")
        assert f"secret:{folder}" in service["volumes"] and file and not folder.startswith("/data/landscape")
    assert "secret" in compose["volumes"]
    for name in ("web", "worker", "worker-cpu"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_compose_commands_are_real_commands(compose):
    from app.cli import cli
    from app.cli.service import cmd_worker

    services = compose["services"]
    for name in ("worker", "worker-cpu"):
        command = services[name]["command"]
        assert command[0] == "landscape"  # the console script of pyproject.toml
        ctx = cli.make_context("landscape", command[1:])  # parsed and checked, not run
        assert cli.get_command(ctx, command[1]) is cmd_worker
        cmd_worker.make_context(command[1], command[2:], parent=ctx)
    assert 'landscape = "app.cli:main"' in (ROOT / "pyproject.toml").read_text()

    web = services["web"]["command"]
    assert web[0] == "gunicorn" and "gunicorn" in (ROOT / "pyproject.toml").read_text()
    module, factory = web[-1].split(":")
    assert callable(getattr(importlib.import_module(module), factory.removesuffix("()")))  # app.server:wsgi()
    port = web[web.index("--bind") + 1].rsplit(":", 1)[1]
    assert services["web"]["ports"] == [f"{port}:{port}"]

    init = services["init"]["command"]
    match = re.fullmatch(r"from ([\w.]+) import (\w+); \2\(\)", init[2])
    assert init[:2] == ["python", "-c"] and match
    assert callable(getattr(importlib.import_module(match[1]), match[2]))


def test_compose_gpu_worker_and_cpu_profile(compose):
    worker, cpu = compose["services"]["worker"], compose["services"]["worker-cpu"]
    device = worker["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert worker["profiles"] == ["gpu"] and cpu["profiles"] == ["cpu"]
    assert "pypi.org" in worker["build"]["args"]["TORCH_INDEX"]  # PyPI's torch carries CUDA
    assert "whl/cpu" in cpu["build"]["args"]["TORCH_INDEX"] and "deploy" not in cpu


def test_dockerfile_agrees_with_the_project(compose):
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"pip install .*torch==2\.13\.0", dockerfile)  # the pin of the Makefile
    assert "torch==2.13.0" in (ROOT / "Makefile").read_text()
    assert "pip install '.[serve]'" in dockerfile
    packages = re.search(r'include = \[(.*?)\]', (ROOT / "pyproject.toml").read_text())[1]
    for package in re.findall(r'"(\w+)\*"', packages):
        assert f"COPY {package} {package}" in dockerfile
    home = compose["services"]["web"]["environment"]["LANDSCAPE_HOME"]
    assert f"LANDSCAPE_HOME={home}" in dockerfile and f"VOLUME {home}" in dockerfile
    assert "ARG TORCH_INDEX" in dockerfile


def _loaded(modules: str, roots: tuple[str, ...]) -> list[str]:
    """The modules under `roots` that importing `modules` (and looking up every job kind) loads."""
    probe = (f"import json, sys, {modules}\n"
             "from compute.kinds import KINDS, kind_of\n"
             "[kind_of(k) for k in KINDS]\n"
             f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {roots!r})))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_worker_imports_no_dash_nor_flask_and_starts_one_process_per_gpu():
    # the engine's worker side: what a Celery worker process loads
    engine = "compute.jobs.worker, compute.jobs.celery_app, compute.jobs.backend, compute.jobs.cache, compute.kinds"
    assert _loaded(engine, ("dash", "plotly", "flask", "flask_caching", "app")) == []
    assert _loaded("app.cli, " + engine, ("dash", "plotly")) == []  # `landscape worker` too

    from compute.jobs.worker import celery_argv, devices

    assert devices({"CUDA_VISIBLE_DEVICES": "0,1,3"}) == ["0", "1", "3"]  # one worker process each
    assert devices({"CUDA_VISIBLE_DEVICES": "2"}) == [None] == devices({"CUDA_VISIBLE_DEVICES": ""})
    argv = celery_argv(1, "prefork", "w1@%h")
    assert "--concurrency=1" in argv and argv[argv.index("-Q") + 1] == "landscape.chunks"


def test_the_engine_s_own_worker_entry_point_needs_a_reachable_redis():
    """`python -m compute.jobs.worker` (what the per-GPU supervisor starts): no app, the same checks."""
    from compute.jobs.worker import worker_argv

    command = [sys.executable, "-m", "compute.jobs.worker", *worker_argv(1, "solo", 1, "warning")]
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "REDIS_URL" in out.stderr
    env["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    err = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(err) == 1 and "Redis at redis://127.0.0.1:1/0 is unreachable" in err[0]


def test_worker_needs_a_reachable_redis(monkeypatch, capsys):
    from app.cli import main

    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["worker"]) == 2
    assert "needs REDIS_URL" in capsys.readouterr().err
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    assert main(["worker"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Redis at redis://127.0.0.1:1/0 is unreachable" in err[0]
