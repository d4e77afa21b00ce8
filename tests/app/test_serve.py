"""`landscape serve` (issue 23 §5): a production WSGI server (waitress), no access log unless
`--access-log`; the process answers the API and the page."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def _serve(tmp_path: Path, *flags: str) -> tuple[subprocess.Popen, int, Path]:
    port, log = free_port(), tmp_path / f"serve-{len(flags)}.log"
    env = dict(os.environ, LANDSCAPE_HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1")
    env.pop("REDIS_URL", None)
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), *flags], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, port, log


def _get(port: int, path: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_serve_runs_on_waitress_with_the_access_log_off_unless_asked(tmp_path):
    quiet, port, quiet_log = _serve(tmp_path)
    logged, port2, access_log = _serve(tmp_path, "--access-log")
    try:
        for p in (port, port2):
            answer = _get(p, "/api/runs.json")
            assert answer.status == 200 and answer.read().strip() == b"[]"
            assert answer.headers["Server"] == "landscape"  # waitress, named; not Werkzeug's
            page = _get(p, "/runs")
            assert page.status == 200 and b"_dash-config" in page.read()
    finally:
        for proc in (quiet, logged):
            proc.terminate()
            proc.wait(30)
    text, access = quiet_log.read_text(), access_log.read_text()
    assert "Landscape: http://127.0.0.1:" in text
    assert "development server" not in text + access and "Werkzeug" not in text + access
    assert "/api/runs.json" not in text  # no access log by default
    assert "GET /api/runs.json 200" in access and "GET /runs 200" in access
