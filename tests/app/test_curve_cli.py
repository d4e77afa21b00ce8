"""`landscape curve`: the curve's id printed last, its JSON in --out, exit 2 with one line for bad input."""

from __future__ import annotations

import json

from app.cli import main


def test_cli_prints_the_id_last_and_writes_the_json(relu_run, relu_run_seed1, capsys, tmp_path):
    out = tmp_path / "curve.json"
    code = main(["curve", "--from", f"final:{relu_run.id}", "--to", f"final:{relu_run_seed1.id}", "--kind", "polychain",
                 "--epochs", "1", "--points", "5", "--out", str(out), "--local"])
    captured = capsys.readouterr()
    result = json.loads(out.read_text())
    assert code == 0 and captured.out.strip().splitlines()[-1] == result["curve"].strip()
    assert result["curve"].startswith("curve-polychain-") and result["query"]["start"] == f"final:{relu_run.id}"
    assert "train barrier: straight line" in captured.err
    code = main(["curve", "--from", f"init:{relu_run.id}", "--to", f"final:{relu_run_seed1.id}", "--local"])
    err = capsys.readouterr().err
    assert code == 2 and "final:RUN" in err and len(err.strip().splitlines()) == 1
