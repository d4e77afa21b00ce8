"""Hostile inputs against a real server (a `landscape` app in its own process, over HTTP) and the
real CLI: every case must be refused with a 4xx and the API's one error body (or exit status 2 and
one line), with no traceback and no internal path in what comes back, and the server must answer
afterwards.

The cases are generated, not listed: every URL parameter of every view (app/views: VIEWS and each
view's params) and every option and argument of the CLI's click commands gets the same hostile
values, so a new parameter joins the suite by being registered.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.app.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
LEAKS = ("Traceback", "File \"", str(ROOT), "site-packages", ".py\", line")
ERROR_KEYS = {"ok", "status", "error", "field", "jobs"}
ARTIFACTS_LOG = ROOT / ".test-artifacts" / "hostile-server.log"

# Values no parameter accepts (each parser refuses them: not a number, a choice, a range or a run).
HOSTILE = ["nan", "inf", "-inf", "x" * 300, "../../../../etc/passwd", "<script>alert(1)</script>", "1:2:3",
           "\u0000", "%00", "18446744073709551616"]
# Per parameter: values it rightly accepts (so they are not hostile for it).
ACCEPTS: dict[str, set[str]] = {"camera": set()}


def _api_cases() -> list[tuple[str, str, str]]:
    from app.views import VIEWS

    cases = []
    for view in VIEWS.values():
        for param in view.params:
            for value in HOSTILE + [""]:
                if value not in ACCEPTS.get(param.name, set()):
                    cases.append((view.name, param.name, value))
    return cases


API_CASES = _api_cases()


@pytest.fixture(scope="module")
def server(relu_run, scalar_run):
    """The app in a process of its own, on a free port, over the session's runs."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), LANDSCAPE_UNWATCHED_GRACE="2")
    # SIGUSR1 dumps every thread's stack to the log (to see where a request that hangs waits)
    code = ("import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
            f"from app.server import create_app; create_app().run(host='127.0.0.1', port={port}, "
            "threaded=True, debug=False)")
    log = open(ARTIFACTS_LOG, "w")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(base + "/api/runs.json", timeout=5).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {ARTIFACTS_LOG.read_text()[-2000:]}")
            time.sleep(0.3)
    yield base
    proc.terminate()
    proc.wait(10)
    log.close()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _assert_refused(status: int, body: str, what: str, expected: tuple[int, ...] = (400,)) -> dict:
    assert status in expected, f"{what}: {status} {body[:300]}"
    assert not any(leak in body for leak in LEAKS), f"{what} leaks: {body[:500]}"
    data = json.loads(body)
    assert set(data) == ERROR_KEYS and data["ok"] is False and data["status"] == status and data["error"]
    return data


def test_enough_cases():
    assert len(API_CASES) + len(CLI_CASES) >= 150


@pytest.mark.parametrize("view,name,value", API_CASES)
def test_api_parameter(server, view, name, value):
    from app import urls
    from app.runs import load_catalog
    from app.views import PARAMS

    status, body = _get(f"{server}/api/{view}.json?{name}={quote(value, safe='')}")
    catalog = load_catalog()
    param = PARAMS[name]
    if value == "" and urls._accepts_empty(param, {"view": view}, catalog) \
            and param.relevant(urls.default_state(view, catalog)):
        assert status in (200, 202) and not any(leak in body for leak in LEAKS)  # empty is a value here
        return  # (a parameter the default view does not use is refused, even empty: the API is strict)
    data = _assert_refused(status, body, f"{view}?{name}={value!r}")
    assert data["field"] in (name, "path", None) or data["field"]


@pytest.mark.parametrize("path", [
    "/_dash-component-suites/../../../../etc/passwd", "/_dash-component-suites/dash/%2e%2e/%2e%2e/etc/passwd",
    "/api/../../etc/passwd", "/api/nothing.json", "/api/line.xml", "/api/line.json?wait=61", "/api/line.json?wait=nan",
])
def test_paths(server, path):
    status, body = _get(server + path)
    _assert_refused(status, body, path, (400, 404))


def test_ambiguous_and_extreme_queries(server, relu_run, scalar_run, store):
    from compute.training import train

    other = train("scalar-linear", "small", 1, store=store, progress=False)  # a second scalar-linear run
    # a prefix shared by several runs lists them, as the CLI does
    status, body = _get(f"{server}/api/line.json?run=scalar-linear-small")
    error = _assert_refused(status, body, "ambiguous run")["error"]
    assert "is ambiguous:" in error and other.id in error and scalar_run.id in error
    status, body = _get(f"{server}/api/line.json?run={relu_run.id}&pair=random&rseed=4294967296")
    assert "between 0 and 4294967295" in _assert_refused(status, body, "rseed")["error"]
    status, body = _get(f"{server}/api/line.json?run={relu_run.id}&alpha=-1e308:1e308&points=5")
    assert "too wide" in _assert_refused(status, body, "alpha")["error"]
    status, body = _get(f"{server}/api/surface.json?run={relu_run.id}&kind=random-plane&dseed=18446744073709551616")
    _assert_refused(status, body, "dseed")


def test_the_server_still_answers(server):
    status, body = _get(server + "/api/runs.json")
    assert status == 200 and json.loads(body)
    status, body = _get(server + "/line")
    assert status == 200 and "Landscape" in body


def test_page_addresses_never_fail(relu_run, scalar_run):
    """The page's parser (not strict) takes every hostile address, replacing the value and saying so."""
    from app import urls
    from app.runs import load_catalog

    catalog = load_catalog()
    for view, name, value in API_CASES:
        if value == "":
            continue
        parsed = urls.parse(f"/{view}", f"?{name}={quote(value, safe='')}", catalog)
        assert parsed.notices, (view, name, value)


# ------------------------------------------------------------------------------------------ the CLI
def _cli_cases() -> list[tuple[str, str | None, str]]:
    """(command, option or None for the positional argument, hostile value) for the commands that
    read a query or a run; their other required inputs get valid values in `_argv`."""
    from app.cli import cli

    cases = []
    for command in ("line", "trajectory", "surface", "train", "runs", "models"):
        for param in cli.commands[command].params:
            if getattr(param, "is_flag", False) or param.name == "out":
                continue  # flags take no value; --out is checked by test_cli's own cases
            option = param.opts[0] if param.opts[0].startswith("-") else None
            for value in ("nan", "x" * 300, "../../../../etc/passwd", "1:2:3", "-1e308:1e308"):
                cases.append((command, option, value))
    return cases


CLI_CASES = _cli_cases()


def _argv(command: str, option: str | None, value: str, run_id: str) -> list[str]:
    base = {"line": ["line", "--from", f"init:{run_id}", "--to", f"final:{run_id}"],
            "trajectory": ["trajectory", run_id], "surface": ["surface", run_id],
            "train": ["train", "relu-mnist"], "runs": ["runs"], "models": ["models"]}[command]
    if option is None:  # the positional argument (a run or a model) is the hostile value
        return [command, value] + base[2:] if command == "line" else [command, value]
    if option in base:
        i = base.index(option)
        return base[:i + 1] + [value] + base[i + 2:]
    return base + [option, value]


@pytest.mark.parametrize("command,option,value", CLI_CASES)
def test_cli_argument(command, option, value, relu_run, capsys, tmp_path, monkeypatch):
    from app.cli import main

    monkeypatch.chdir(tmp_path)  # a relative path typed is resolved here, not in the checkout
    argv = _argv(command, option, value, relu_run.id)
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2, f"{argv}: exit {code}; {err[-300:]}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("landscape: error"), (argv, err)
    assert not any(leak in err + out for leak in LEAKS), (argv, err)


# ------------------------------------------------------------------------------------- damaged runs
def _damage(run_dir: Path, how: str) -> None:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    if how == "final_step edited":
        manifest["final_step"] = manifest["steps"][0]["step"]
    elif how == "final_step not a step":
        manifest["final_step"] = 123456789
    elif how == "no steps":
        manifest["steps"] = []
    elif how == "file outside":
        manifest["steps"][0]["file"] = "../../../../etc/passwd"
    elif how == "not json":
        (run_dir / "manifest.json").write_text("{not json")
        return
    (run_dir / "manifest.json").write_text(json.dumps(manifest))


DAMAGES = ("final_step edited", "final_step not a step", "no steps", "file outside", "not json")


def test_damaged_runs_are_listed_and_never_take_the_others_down(relu_run, tmp_path, monkeypatch, capsys):
    from app.cli import main
    from app.server import create_app
    from compute.store import Store

    home = tmp_path / "home"
    shutil.copytree(relu_run.path, home / "runs" / relu_run.id)
    for i, how in enumerate(DAMAGES):
        copy = home / "runs" / f"{relu_run.id}-d{i}"
        shutil.copytree(relu_run.path, copy)
        manifest = json.loads((copy / "manifest.json").read_text())
        manifest["run_id"] = copy.name
        (copy / "manifest.json").write_text(json.dumps(manifest))
        _damage(copy, how)
    monkeypatch.setenv("LANDSCAPE_HOME", str(home))
    runs, damaged = Store().scan()
    assert [r.id for r in runs] == [relu_run.id] and len(damaged) == len(DAMAGES)
    assert all(reason for _, reason in damaged)
    assert main(["runs", "--format", "json"]) in (0, None)
    rows = json.loads(capsys.readouterr().out)
    assert sum("damaged" in r for r in rows) == len(DAMAGES) and any(r["id"] == relu_run.id for r in rows)
    client = create_app().server.test_client()
    for i, how in enumerate(DAMAGES):
        response = client.get(f"/api/line.json?run={relu_run.id}-d{i}")
        assert response.status_code == 400, (how, response.json)
        assert not any(leak in response.get_data(as_text=True) for leak in LEAKS)
        try:
            code = main(["trajectory", f"{relu_run.id}-d{i}", "--local"])
        except SystemExit as exc:
            code = exc.code
        err = capsys.readouterr().err
        assert code == 2 and "passwd" not in err.replace("../../../../etc/passwd", ""), (how, err)
    assert client.get("/api/runs.json").json[0]["id"] == relu_run.id


# ---------------------------------------------------------------- issue 18 §6: the user-code items of `import`
_NOISY = '''
import torch
print("hello from the user's module")  # prints when imported: must not reach stdout

def net():
    torch.manual_seed(0)
    return torch.nn.Linear(4, 3)

class Pair(torch.nn.Linear):
    def forward(self, x):
        return super().forward(x), x  # a tuple: the outputs first

def pair():
    torch.manual_seed(0)
    return Pair(4, 3)

def data():
    g = torch.Generator().manual_seed(0)
    return {"train": (torch.randn(16, 4, generator=g), torch.randint(0, 3, (16,), generator=g))}
'''


def test_import_refuses_user_code_trouble_in_one_line(tmp_path, monkeypatch, capsys):
    """Issue 18 §6: an unusable folder name, text files named like checkpoints, a forward that
    returns a tuple: one line and exit 2 (or, for the tuple, accepted once model outputs of every
    kind are read); a module that prints keeps stdout for the run id alone."""
    import torch

    from app.cli import main

    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "noisyuser.py").write_text(_NOISY)
    monkeypatch.setenv("LANDSCAPE_HOME", str(tmp_path / "home"))
    ckpts = tmp_path / "ckpts"
    ckpts.mkdir()
    torch.manual_seed(0)
    for step in (0, 1):
        torch.save(torch.nn.Linear(4, 3).state_dict(), ckpts / f"step_{step}.pt")

    def run(folder, model="noisyuser:net"):
        code = main(["import", str(folder), "--model", model, "--data", "noisyuser:data",
                     "--path", str(tmp_path / "code")])
        captured = capsys.readouterr()
        return code, captured.out, [line for line in captured.err.splitlines() if line.strip()]

    code, out, err = run(ckpts)  # the prints go to stderr: stdout is the run id alone
    assert code == 0 and out.strip().startswith("ckpts-imported-") and len(out.strip().splitlines()) == 1, out
    assert any("hello from the user's module" in line for line in err)

    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "step_9.pt").write_text("these are my notes\n")
    (texts / "step_10.pt").write_text("root:x:0:0:root:/root:/bin/bash\n")
    for folder in ("x" * 10_000, ",,,", texts):
        code, out, err = run(folder)
        assert code == 2 and len(err) == 1 and err[0].startswith("landscape: error:"), (str(folder)[:40], err)
        assert len(err[0]) < 400 and not any(leak in err[0] for leak in LEAKS) and out == ""
    for name in ("step_9.pt", "step_10.pt"):  # each file alone: refused naming it
        (texts / name).rename(tmp_path / name)
    for name in ("step_9.pt", "step_10.pt"):
        (tmp_path / name).rename(texts / name)
        code, out, err = run(texts)
        assert code == 2 and len(err) == 1 and name in err[0] and "refused" in err[0], err
        (texts / name).rename(tmp_path / name)

    code, out, err = run(ckpts, model="noisyuser:pair")
    assert code == 0 or (code == 2 and len(err) == 1 and "tuple" in err[0]), err
