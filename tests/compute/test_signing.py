"""User code runs only because the user imported it (issue 18 §4): an imported run's references
are signed on import (compute/signing.py), and a forged, unsigned or foreign-keyed run is refused
by the real server (Flask's test client of the app), the CLI and the engine, in one line naming
the run, without importing the module it names: that module writes a marker file when imported,
and the marker never appears."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from app.cli import main
from compute import signing
from compute.importing import import_run
from compute.sources import source_of
from compute.store import MANIFEST, content_id
from models.errors import BadInput

TINY = """
    import torch
    from torch import nn

    def build():
        return nn.Sequential(nn.Linear(4, 3))

    def splits():
        g = torch.Generator().manual_seed(0)
        x = torch.randn(24, 4, generator=g)
        y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
        return {"train": (x[:16], y[:16]), "valid": (x[16:], y[16:])}
"""
EVIL = """
    from pathlib import Path
    Path({marker!r}).write_text("the forged module ran")
    from torch import nn

    def build():
        return nn.Sequential(nn.Linear(4, 3))

    def splits():
        raise SystemExit("never")
"""


@pytest.fixture(scope="module")
def code(tmp_path_factory) -> tuple[Path, Path]:
    """A user's folder: a tiny model and its data, and a module that leaves a marker if ever imported."""
    folder = tmp_path_factory.mktemp("code")
    marker = folder / "EVIL_RAN"
    (folder / "signing_tiny.py").write_text(textwrap.dedent(TINY))
    (folder / "signing_evil.py").write_text(textwrap.dedent(EVIL.format(marker=str(marker))))
    return folder, marker


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ckpts")
    torch.manual_seed(0)
    for step in (0, 1, 2):
        save_file(nn.Sequential(nn.Linear(4, 3)).state_dict(), str(folder / f"step_{step}.safetensors"))
    return folder


@pytest.fixture(scope="module")
def tiny_run(code, checkpoints, store):
    return import_run(checkpoints, "signing_tiny:build", "signing_tiny:splits", path=str(code[0]), name="signed_tiny",
                      store=store)


@pytest.fixture(scope="module")
def client():
    from app.server import create_app

    return create_app().server.test_client()


@pytest.fixture(autouse=True)
def never_ran(code):
    yield
    assert not code[1].exists(), "the forged module was imported"
    assert "signing_evil" not in sys.modules


def forge(run, store, edit) -> str:
    """What anyone who can write under runs/ can do: edit a manifest, rename its folder to the new digest."""
    manifest = json.loads((run.path / MANIFEST).read_text())
    edit(manifest)
    manifest["run_id"] = content_id(manifest)
    folder = store.runs_dir / manifest["run_id"]
    shutil.copytree(run.path, folder, dirs_exist_ok=True)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))
    assert store.load(manifest["run_id"]).id == manifest["run_id"]  # the store itself cannot tell
    return manifest["run_id"]


def evil_model(code):
    def edit(manifest):
        manifest["source"]["model"] = {"module": "signing_evil", "function": "build", "path": str(code[0])}
    return edit


def line(client, run_id: str, points: int = 5):
    return client.get(f"/api/line.json?run={run_id}&pair=init&alpha=0:1&points={points}&splits=train&wait=30")


def refused(response) -> str:
    """The one error body of a 4xx (422: the job was refused where it ran; it never imported the code)."""
    assert response.status_code in (400, 422), (response.status_code, response.json)
    body = response.json
    assert body["ok"] is False and body["status"] == response.status_code and "\n" not in body["error"]
    return body["error"]


def test_a_good_import_is_signed_and_served(tiny_run, client):
    signature = tiny_run.manifest["signature"]
    assert signature["algorithm"] == "hmac-sha256" and len(signature["mac"]) == 64
    response = line(client, tiny_run.id)
    assert response.status_code == 200, response.json
    first = next(s for s in tiny_run.manifest["steps"] if s["step"] == tiny_run.init_step)
    assert response.json["cost"]["train"][0] == pytest.approx(first["cost"]["train"], abs=1e-6)


def test_a_forged_manifest_is_a_400_naming_the_run_and_its_module_never_runs(tiny_run, store, code, client, capsys):
    forged = forge(tiny_run, store, evil_model(code))
    error = refused(line(client, forged))
    assert forged in error and "do not verify" in error and "model signing_evil:build from " in error
    # the CLI: exit 2 and one line
    assert main(["line", "--from", f"init:{forged}", "--to", f"final:{forged}", "--points", "5", "--local"]) == 2
    err = capsys.readouterr().err.strip()
    assert forged in err and "do not verify" in err and len(err.splitlines()) == 1


def test_forged_data_loss_and_path_are_refused_too(tiny_run, store, code, client):
    def data(manifest):
        manifest["source"]["data"] = {"kind": "callable", "module": "signing_evil", "function": "splits",
                                      "path": str(code[0])}

    def loss(manifest):
        manifest["source"]["loss"] = {"kind": "callable", "module": "signing_evil", "function": "build",
                                      "path": str(code[0])}

    def path(manifest):  # the same names, imported from another folder
        manifest["source"]["model"]["path"] = str(code[0].parent)

    for edit in (data, loss, path):
        forged = forge(tiny_run, store, edit)
        assert forged in refused(line(client, forged)) and "do not verify" in refused(line(client, forged))


def test_a_builtin_run_edited_to_name_user_code_is_refused(scalar_run, store, code, client):
    def source(manifest):
        manifest["source"] = {"kind": "user", "model": {"module": "signing_evil", "function": "build",
                                                         "path": str(code[0])},
                              "data": {"kind": "npz", "file": "/dev/null"}, "loss": {"kind": "cross-entropy"}}

    def dataset(manifest):
        manifest["dataset"]["data"] = {"kind": "callable", "module": "signing_evil", "function": "splits",
                                       "path": str(code[0])}

    assert "signature" not in scalar_run.manifest and source_of(scalar_run.manifest).imported is False
    for edit in (source, dataset):
        forged = forge(scalar_run, store, edit)
        error = refused(line(client, forged))
        assert forged in error and "is not signed" in error


def test_an_unsigned_run_of_an_earlier_version_says_how_and_resign_restores_it(tiny_run, store, client, capsys):
    def earlier(manifest):
        del manifest["signature"]
        manifest["model"] = "earlier_tiny"  # its own run, as an earlier version wrote it

    unsigned = forge(tiny_run, store, earlier)
    error = refused(line(client, unsigned))
    assert "is not signed" in error and f"landscape runs --resign {unsigned}" in error
    assert main(["runs", "--resign", unsigned[:-3]]) == 0  # a unique prefix, as everywhere
    out, err = capsys.readouterr()
    assert out.strip() == unsigned and "signing_tiny:build" in err
    assert store.load(unsigned).manifest["signature"] and line(client, unsigned).status_code == 200
    assert main(["runs", "--resign", "scalar-linear"]) == 2  # built-in runs need none


def test_importing_again_signs_a_run_an_earlier_version_imported(code, checkpoints, store):
    run = import_run(checkpoints, "signing_tiny:build", "signing_tiny:splits", path=str(code[0]), name="again",
                     store=store)
    manifest = dict(run.manifest)
    del manifest["signature"]  # the same content, as an earlier version wrote it: the same run id
    (run.path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BadInput, match="is not signed"):
        source_of(store.load(run.id).manifest)
    again = import_run(checkpoints, "signing_tiny:build", "signing_tiny:splits", path=str(code[0]), name="again",
                       store=store)
    assert again.id == run.id and source_of(store.load(run.id).manifest).imported


def test_a_machine_without_the_key_or_with_another_says_so(tiny_run, client, monkeypatch, tmp_path):
    monkeypatch.setenv("LANDSCAPE_SECRET_KEY_FILE", str(tmp_path / "absent.key"))
    error = refused(line(client, tiny_run.id, points=6))  # not the cached result
    assert tiny_run.id in error and "no signing key at " + str(tmp_path / "absent.key") in error
    assert not (tmp_path / "absent.key").exists()  # verifying never makes a key
    (tmp_path / "other.key").write_text("x" * 64)
    monkeypatch.setenv("LANDSCAPE_SECRET_KEY_FILE", str(tmp_path / "other.key"))
    assert "do not verify" in refused(line(client, tiny_run.id, points=7))


def test_the_key_is_made_once_0600_whatever_the_umask(monkeypatch, tmp_path):
    path = tmp_path / "keys" / "secret.key"
    monkeypatch.setenv("LANDSCAPE_SECRET_KEY_FILE", str(path))
    with pytest.raises(signing.MissingKey):
        signing.signing_key()
    old = os.umask(0)
    try:
        keys: list[bytes] = []
        threads = [threading.Thread(target=lambda: keys.append(signing.signing_key(create=True))) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(set(keys)) == 1 and len(keys[0]) == 64 and keys[0] == path.read_bytes().strip()
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]  # no temporary file left
    path.write_text("short")
    with pytest.raises(BadInput, match="fewer than 32"):
        signing.signing_key()


def test_the_default_key_lives_in_landscape_home(monkeypatch, tmp_path):
    monkeypatch.delenv("LANDSCAPE_SECRET_KEY_FILE", raising=False)
    monkeypatch.setenv("LANDSCAPE_HOME", str(tmp_path))
    assert signing.key_path() == tmp_path / "secret.key"


def test_the_page_says_why_in_its_status_line(tiny_run, store, code):
    """The page's own callbacks (app/callbacks.py) on a forged address: the status line names the run."""
    from app import jobclient, urls
    from app.callbacks import _address, _status
    from app.runs import load_catalog

    forged = forge(tiny_run, store, evil_model(code))
    catalog = load_catalog()
    state = urls.parse("/line", f"?run={forged}&pair=init&points=4&splits=train", catalog).state
    address = _address(state, catalog)
    text = str(_status(address, jobclient.wait(address["keys"], 30)).children)
    assert text.startswith("A job failed: ") and forged in text and "do not verify" in text
