import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main

LANDSCAPE = str(Path(sys.executable).with_name("landscape"))


def run_cli(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_console_script_trains_and_prints_run_id_last(store):
    proc = subprocess.run([LANDSCAPE, "train", "scalar-linear", "--preset", "small", "--seed", "11"],
                          capture_output=True, text=True, timeout=300, env=os.environ)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip().splitlines()[-1]
    assert run_id.startswith("scalar-linear-small-s11-")
    assert store.load(run_id).manifest["seed"] == 11
    listed = subprocess.run([LANDSCAPE, "runs"], capture_output=True, text=True, timeout=120, env=os.environ)
    assert run_id in listed.stdout


def test_models_lists_ids_and_presets(capsys):
    code, out, _ = run_cli(capsys, "models", "--format", "json")
    rows = {r["id"]: r for r in json.loads(out)}
    for model_id in ("maxout-mnist", "relu-mnist", "relu-dropout-mnist", "sigmoid-mnist",
                     "deep-linear-mnist", "scalar-linear"):
        assert {"small", "paper"} <= set(rows[model_id]["presets"])
    code, out, _ = run_cli(capsys, "models")
    assert code == 0 and "relu-mnist" in out


def test_line_json_csv_and_trajectory(capsys, relu_run, tmp_path):
    code, out, err = run_cli(capsys, "line", "--from", f"init:{relu_run.id}", "--to", f"final:{relu_run.id}",
                             "--points", "6", "--format", "json")
    assert code == 0, err
    line = json.loads(out)
    assert len(line["alpha"]) == 6 and set(line["cost"]) == {"train", "valid"}
    assert line["cost"]["train"][-1] < line["cost"]["train"][0]
    assert line["key"].startswith("line-") and line["query"]["points"] == 6
    target = tmp_path / "line.csv"
    code, _, _ = run_cli(capsys, "line", "--from", f"init:{relu_run.id[:22]}", "--to", f"final:{relu_run.id}",
                         "--points", "4", "--splits", "valid", "--format", "csv", "--out", str(target))
    assert code == 0
    rows = target.read_text().splitlines()
    assert rows[0] == "alpha,cost_valid,error_valid" and len(rows) == 5
    code, out, _ = run_cli(capsys, "trajectory", relu_run.id, "--format", "csv")
    assert code == 0 and out.splitlines()[0].startswith("step,epoch,alpha,alpha_distance,beta")
    code, out, _ = run_cli(capsys, "trajectory", relu_run.id)
    assert json.loads(out)["final_step"] == relu_run.final_step


@pytest.mark.parametrize("argv", [
    ["line", "--from", "init", "--to", "final:x"],
    ["line", "--from", "init:nosuchrun", "--to", "final:nosuchrun"],
    ["line", "--from", "init:r", "--to", "final:r", "--alpha", "1:1"],
    ["line", "--from", "init:r", "--to", "final:r", "--alpha", "0:nan"],
    ["line", "--from", "init:r", "--to", "final:r", "--points", "1"],
    ["line", "--from", "init:r", "--to", "final:r", "--points", "2002"],
    ["line", "--from", "init:r", "--to", "final:r", "--dropout-samples", "-1"],
    ["line", "--from", "init:r", "--to", "final:r", "--dropout-samples", "many"],
    ["train", "no-such-model"],
    ["train", "relu-mnist", "--preset", "huge"],
    ["train", "relu-mnist", "--data", "/nonexistent/folder"],
    ["trajectory", "nosuchrun"],
    ["line", "--to", "final:r"],
])
def test_bad_input_exits_2_with_one_line(capsys, argv, store):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert out == ""
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("landscape: error:"), err
    assert "Traceback" not in err
    assert not [p for p in store.runs_dir.glob(".tmp-*")]  # nothing half-written


def test_malformed_data_folder_and_tampered_checkpoint(capsys, tmp_path, store, relu_run, monkeypatch):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    code, _, err = run_cli(capsys, "train", "relu-mnist", "--data", str(tmp_path))
    assert code == 2 and ("IDX" in err or "truncated" in err)
    assert not list(store.runs_dir.glob(".tmp-*"))
    # a copy of a run whose final checkpoint was modified is refused
    home = tmp_path / "home"
    shutil.copytree(relu_run.path, home / "runs" / relu_run.id)
    final = home / "runs" / relu_run.id / relu_run.manifest["steps"][-1]["file"]
    final.write_bytes(final.read_bytes()[:-8] + b"\x00" * 8)
    monkeypatch.setenv("LANDSCAPE_HOME", str(home))
    from compute import resources
    resources.clear()
    step = relu_run.manifest["steps"][-1]["step"]
    code, out, err = run_cli(capsys, "line", "--from", f"init:{relu_run.id}", "--to", f"step:{relu_run.id}:{step}")
    resources.clear()
    assert code == 2 and "corrupted" in err and out == ""


def test_negative_alpha_range_needs_no_equals_sign(capsys, relu_run):
    code, out, err = run_cli(capsys, "line", "--from", f"init:{relu_run.id}", "--to", f"final:{relu_run.id}",
                             "--alpha", "-0.5:1.5", "--points", "3", "--splits", "train")
    assert code == 0, err
    assert json.loads(out)["alpha"] == [-0.5, 0.5, 1.5]


# Monte-Carlo dropout lines (dropout on, the mean of N seeded passes) through the CLI and the
# dashboard's JSON twin, on a real relu-dropout-mnist run. This file runs after tests/app: a run of
# another model in the session store would change the views' default run sets there.
@pytest.fixture(scope="module")
def dropout_run(store):
    from compute.training import train

    return train("relu-dropout-mnist", "small", 0, store=store, progress=False)


def test_monte_carlo_dropout_line(capsys, dropout_run, relu_run):
    """--dropout-samples N: a Monte-Carlo estimate with dropout on, for a model with dropout; a
    model without dropout is refused with one clear line."""
    run = dropout_run
    args = ["line", "--from", f"init:{run.id}", "--to", f"final:{run.id}", "--points", "5", "--local"]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    plain = json.loads(out)
    code, out, err = run_cli(capsys, *args, "--dropout-samples", "4")
    assert code == 0, err
    mc = json.loads(out)
    assert mc["query"]["dropout_samples"] == 4 and "dropout_samples" not in plain["query"]
    assert mc["key"] != plain["key"] and mc["meta"]["dropout_samples"] == 4
    # dropout on costs more than the weight-scaled network, at the trained end most clearly
    assert mc["cost"]["train"][-1] > plain["cost"]["train"][-1]
    code, out, err = run_cli(capsys, "line", "--from", f"init:{relu_run.id}", "--to", f"final:{relu_run.id}",
                             "--points", "5", "--local", "--dropout-samples", "4")
    assert code == 2 and out == "" and "has no dropout" in err and len(err.strip().splitlines()) == 1


def test_the_line_view_asks_for_dropout_samples(dropout_run, capsys):
    from app.server import create_app

    client = create_app().server.test_client()
    address = f"/api/line.json?run={dropout_run.id}&pair=init&points=5&splits=train"
    plain = client.get(address)
    mc = client.get(address + "&dropout=3")
    assert plain.status_code == 200 and mc.status_code == 200, mc.json
    assert mc.json["meta"]["dropout_samples"] == 3 and mc.json["key"] != plain.json["key"]
    assert mc.json["cost"]["train"] != plain.json["cost"]["train"]
    # the CLI asked the same query: the page's and the CLI's estimates are one cached result
    code, out, err = run_cli(capsys, "line", "--from", f"init:{dropout_run.id}", "--to", f"final:{dropout_run.id}",
                             "--alpha=-0.25:1.25", "--points", "5", "--splits", "train", "--dropout-samples", "3",
                             "--local")
    assert code == 0, err
    assert json.loads(out)["key"] == mc.json["key"]
