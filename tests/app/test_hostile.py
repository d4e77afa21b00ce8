"""Hostile inputs against a real server (a `landscape` app in its own process, over HTTP) and the
real CLI: every case must be refused with a 4xx and the API's one error body (or exit status 2 and
one line), with no traceback and no internal path in what comes back, and the server must answer
afterwards.

The cases are generated, not listed: every URL parameter of every view (app/views: VIEWS and each
view's params, each asked in an address where its view uses it) and every option and argument of
the CLI's click commands gets the same hostile values, so a new parameter joins the suite by being
registered. Every JSON answer is parsed strictly (conftest.strict_json: no NaN, no Infinity).
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
from urllib.parse import quote, urlencode

import pytest

from tests.app.conftest import free_port, strict_json

ROOT = Path(__file__).resolve().parents[2]
LEAKS = ("Traceback", "File \"", str(ROOT), "site-packages", ".py\", line")
ERROR_KEYS = {"ok", "status", "error", "field", "jobs"}
ARTIFACTS_LOG = ROOT / ".test-artifacts" / "hostile-server.log"

# Values no parameter accepts (each parser refuses them: not a number, a choice, a range or a run).
HOSTILE = ["nan", "inf", "-inf", "x" * 300, "../../../../etc/passwd", "<script>alert(1)</script>", "1:2:3",
           "\u0000", "%00", "18446744073709551616",
           # numbers are ASCII digits only (not int()'s '1_000', Arabic-Indic, full-width), and bounded
           "1_000", "\u0661\u0662", "\uff11\uff10", "0x10", "0:1_0", "1,1_0,1", "1e308", "-1", "99999999999"]
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
_CONTEXTS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}


def _context(view: str, name: str, catalog) -> tuple[tuple[str, str], ...]:
    """The plainest address in which `view` uses parameter `name`: none, or one other parameter set
    to one of its options (pair=random for scale, exp=convex for lrs) or to `auto` (points=auto for
    tolerance). Found from the views' registry, so that a hostile scale meets the scale's own parser
    rather than "not used with pair=init"."""
    from app import urls
    from app.views import VIEWS
    from compute.validate import AUTO_POINTS
    from models.errors import BadInput

    if (view, name) not in _CONTEXTS:
        param = next(p for p in VIEWS[view].params if p.name == name)
        base = urls.default_state(view, catalog)
        candidates = [()] + [((other.name, text),) for other in VIEWS[view].params if other.name != name
                             for text in [AUTO_POINTS] + [str(o["value"]) for o in (other.options(base, catalog)
                                                                                    if other.options else [])]]
        found = ()
        for context in candidates:
            try:
                state = urls.parse(f"/{view}", "?" + urlencode(context), catalog, strict=True).state
            except BadInput:
                continue
            if param.relevant(state):
                found = context
                break
        _CONTEXTS[view, name] = found
    return _CONTEXTS[view, name]


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


def _request(url: str, method: str = "GET") -> tuple[int, str, dict]:
    """(status, body, headers) of one request; a JSON body is checked to be strict JSON."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=120) as response:
            status, body, headers = response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        status, body, headers = exc.code, exc.read().decode(), dict(exc.headers)
    if headers.get("Content-Type", "").startswith("application/json"):
        strict_json(body)  # JSON.parse's rules: no NaN, no Infinity
    return status, body, headers


def _get(url: str) -> tuple[int, str]:
    status, body, _ = _request(url)
    return status, body


def _assert_refused(status: int, body: str, what: str, expected: tuple[int, ...] = (400,)) -> dict:
    assert status in expected, f"{what}: {status} {body[:300]}"
    assert not any(leak in body for leak in LEAKS), f"{what} leaks: {body[:500]}"
    data = strict_json(body)
    assert set(data) == ERROR_KEYS and data["ok"] is False and data["status"] == status and data["error"]
    return data


def test_enough_cases():
    from tests.app.test_hostile_cli import CLI_CASES

    assert len(API_CASES) + len(CLI_CASES) >= 150


@pytest.mark.parametrize("view,name,value", API_CASES)
def test_api_parameter(server, view, name, value):
    from app import urls
    from app.runs import load_catalog
    from app.views import PARAMS

    catalog = load_catalog()
    context = _context(view, name, catalog)
    address = (f"{server}/api/{view}.json?" + "".join(f"{k}={v}&" for k, v in context)
               + f"{name}={quote(value, safe='')}")
    status, body = _get(address)
    param = PARAMS[name]
    state = urls.parse(f"/{view}", "?" + urlencode(context), catalog, strict=True).state
    if value == "" and urls._accepts_empty(param, {"view": view}, catalog) and param.relevant(state):
        # empty is a value here (the default): answered as the address without it is
        alone, _ = _get(f"{server}/api/{view}.json?{urlencode(context)}")
        assert status == alone and not any(leak in body for leak in LEAKS), (view, name, status, alone, body[:300])
        return  # (a parameter the default view does not use is refused, even empty: the API is strict)
    data = _assert_refused(status, body, f"{view}?{urlencode(context)}&{name}={value!r}")
    assert data["field"] in (name, "path", None) or data["field"]


@pytest.mark.parametrize("path", [
    "/_dash-component-suites/../../../../etc/passwd", "/_dash-component-suites/dash/%2e%2e/%2e%2e/etc/passwd",
    "/api/../../etc/passwd", "/api/nothing.json", "/api/line.xml", "/api/line.json?wait=61", "/api/line.json?wait=nan",
])
def test_paths(server, path):
    status, body = _get(server + path)
    _assert_refused(status, body, path, (400, 404))


def _api_addresses() -> list[str]:
    from app.views import VIEWS

    return ["/api/runs.json", "/api/demo.json"] + [f"/api/{view}.{fmt}" for view in VIEWS for fmt in ("json", "csv")]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_api_methods_other_than_get(server, method):
    """Every address of the API (and one it does not have) answers another method with a JSON 405."""
    for path in _api_addresses() + ["/api/nothing.json"]:
        status, body, headers = _request(server + path, method)
        data = _assert_refused(status, body, f"{method} {path}", (405,))
        assert data["field"] == "method" and method in data["error"], (method, path, data)
        assert "GET" in headers["Allow"].split(", "), (method, path, headers)


def _near_misses() -> list[str]:
    """Addresses under /api/ that name no data: the bare folder, each view without its format, with
    a trailing slash, and with a format it does not have."""
    from app.views import VIEWS

    tails = ("", "/", ".json/", ".csv/", ".html")
    return ["/api", "/api/"] + [f"/api/{view}{tail}" for view in VIEWS for tail in tails]


def test_api_addresses_that_name_no_data(server):
    for path in _near_misses():
        status, body = _get(server + path)
        data = _assert_refused(status, body, path, (404,))
        assert data["field"] in ("path", "view"), (path, data)


def test_a_random_endpoint_scale_is_bounded_and_answers_strict_json(server, relu_run):
    """§5: scale=1e308 made a 200 of nulls with "distance": NaN; now a 400 that gives the range, and
    a scale at the bound answers finite numbers."""
    from compute.validate import MAX_RANDOM_SCALE, format_number

    base = f"{server}/api/line.json?run={relu_run.id}&pair=random&points=5"
    for scale in ("1e308", "1e20", format_number(MAX_RANDOM_SCALE * 10), "0", "-1", "1e-400"):
        status, body = _get(f"{base}&scale={scale}")
        error = _assert_refused(status, body, f"scale={scale}")["error"]
        assert f"(0, {format_number(MAX_RANDOM_SCALE)}]" in error, error
    status, body = _get(f"{base}&scale={format_number(MAX_RANDOM_SCALE)}&wait=60")
    assert status == 200, body[:300]
    line = strict_json(body)
    assert all(isinstance(v, float) for costs in line["cost"].values() for v in costs), line["cost"]
    assert isinstance(line["meta"]["distance"], float) and line["meta"]["nonfinite"] == {"train": 0, "valid": 0}


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
