"""Issue 20 §7: the worked example of docs/importing.md, end to end, as a new user runs it. The commands are
read from that page (tests/worked_example.py): a tiny GPT-2 trained by a plain Hugging Face loop on
DataLoaders of dict batches, its checkpoints written by save_pretrained, torch.save(state_dict())
and as a Lightning .ckpt, each folder imported with `--loss causal-lm`, then line, trajectory and
surface on the CLI, and the JSON API on the same runs. Every number is checked against the model's
own `.loss` on the same batches."""

from __future__ import annotations

import csv
import io
import json
import os
import sys

import pytest
import torch
from torch.utils.data import DataLoader

pytest.importorskip("transformers")
os.environ["HF_HUB_OFFLINE"] = "1"  # nothing is ever downloaded

from compute.store import Store  # noqa: E402
from tests.worked_example import ROOT, readme_commands, worked_example  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from userpkg import train_gpt  # noqa: E402

LAYOUTS = ("tinygpt_hf", "tinygpt_pt", "tinygpt_lightning")


@pytest.fixture(scope="module")
def ran():
    return worked_example()


@pytest.fixture(scope="module")
def runs(ran):
    return {name: Store().load(ran.imported(name)) for name in LAYOUTS}


def _rows(text: str) -> list[dict[str, float]]:
    return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]


def hf_cost(state: dict, split: str) -> float:
    """J as Hugging Face counts it: each batch's `model(**batch).loss` (the mean over its counted
    next tokens) weighted by those tokens, over the split read in order."""
    model = train_gpt.model()
    model.load_state_dict(state)
    model.eval()
    total, tokens = 0.0, 0
    with torch.no_grad():
        for batch in DataLoader(train_gpt.data()[split].dataset, batch_size=train_gpt.BATCH):
            counted = int((batch["labels"][:, 1:] != -100).sum())
            total += float(model(**batch).loss) * counted
            tokens += counted
    return total / tokens


def test_the_readme_commands_are_the_ones_run(ran):
    commands = readme_commands()
    assert commands[1][:2] == [".venv/bin/python", "tests/userpkg/train_gpt.py"]
    imports = [argv for argv in commands if argv[1:2] == ["import"]]
    assert [argv[2] for argv in imports] == ["gpt-ckpts/hf", "gpt-ckpts/pt", "gpt-ckpts/lightning"]
    for argv in imports:  # the user's own factory and DataLoaders, the causal-lm objective
        assert argv[argv.index("--model") + 1] == "userpkg.train_gpt:model"
        assert argv[argv.index("--data") + 1] == "userpkg.train_gpt:data"
        assert argv[argv.index("--loss") + 1] == "causal-lm"
    folder = ran.workdir / "gpt-ckpts"
    assert sorted(p.name for p in (folder / "hf").iterdir()) == [f"checkpoint-{s}" for s in (0, 2, 4, 6, 8)]
    assert (folder / "hf" / "checkpoint-8" / "model.safetensors").is_file()
    assert len(list((folder / "lightning").glob("*.ckpt"))) == 5


def test_every_layout_imports_to_the_same_learning_curve_which_is_hugging_faces_loss(ran, runs):
    curves = {name: [(s["step"], s["cost"]) for s in run.manifest["steps"]] for name, run in runs.items()}
    assert [step for step, _ in curves["tinygpt_hf"]] == [0, 2, 4, 6, 8]
    assert curves["tinygpt_pt"] == curves["tinygpt_hf"] and curves["tinygpt_lightning"] == curves["tinygpt_hf"]
    assert runs["tinygpt_hf"].init_step == 0
    for step, cost in curves["tinygpt_hf"]:
        state = torch.load(ran.workdir / "gpt-ckpts" / "pt" / f"step_{step}.pt", weights_only=True)
        for split in ("train", "valid"):
            assert cost[split] == pytest.approx(hf_cost(state, split), rel=1e-5, abs=1e-6), (step, split)
    first, last = curves["tinygpt_hf"][0][1]["train"], curves["tinygpt_hf"][-1][1]["train"]
    assert first == pytest.approx(4.16, abs=0.1) and last < first - 0.3  # log(64) at init, then it learns


def test_line_trajectory_and_surface_on_the_cli(ran, runs):
    steps = {s["step"]: s["cost"] for s in runs["tinygpt_hf"].manifest["steps"]}
    final = runs["tinygpt_hf"].final_step
    line = _rows(ran.output("line"))
    assert [r["alpha"] for r in line] == pytest.approx([i / 8 for i in range(9)])
    assert line[0]["cost_train"] == pytest.approx(steps[0]["train"], abs=1e-5)
    assert line[-1]["cost_valid"] == pytest.approx(steps[final]["valid"], abs=1e-5)

    trajectory = _rows(ran.output("trajectory"))
    assert [int(r["step"]) for r in trajectory] == [0, 2, 4, 6, 8]
    assert trajectory[0]["alpha"] == 0.0 and trajectory[0]["beta"] == 0.0
    at_final = next(r for r in trajectory if int(r["step"]) == final)
    assert at_final["alpha"] == pytest.approx(1.0) and at_final["beta"] == pytest.approx(0.0, abs=1e-4)

    surface = json.loads((ran.workdir / "tinygpt-surface.json").read_text())
    assert len(surface["cost"]["train"]) == 5 and all(len(row) == 5 for row in surface["cost"]["train"])
    assert torch.isfinite(torch.tensor(surface["cost"]["train"])).all()
    assert surface["trajectory"]["step"] == [0, 2, 4, 6, 8]


def test_the_api_serves_the_same_runs(ran, runs):
    from app.server import create_app

    client = create_app().server.test_client()
    hf = runs["tinygpt_hf"].id
    got = client.get(f"/api/line.json?run={hf}&pair=init&alpha=0:1&points=9&splits=train,valid&wait=60")
    assert got.status_code == 200, got.get_json()
    line = _rows(ran.output("line"))
    assert got.get_json()["cost"]["train"] == [r["cost_train"] for r in line]  # the CLI's numbers, bit for bit

    listed = {r["id"] for r in client.get("/api/runs.json").get_json()}
    assert {run.id for run in runs.values()} <= listed
    trajectory = client.get(f"/api/trajectory.json?run={hf}&wait=60")
    assert trajectory.status_code == 200 and trajectory.get_json()["step"] == [0, 2, 4, 6, 8]
    ids = ",".join(run.id for run in runs.values())  # three layouts of the same training: the same curve
    compare = client.get(f"/api/compare.json?runs={ids}&points=5&splits=train&wait=60")
    assert compare.status_code == 200, compare.get_json()
    curves = [result["cost"]["train"] for result in compare.get_json()["lines"]]
    assert len(curves) == 3 and curves[0] == curves[1] == curves[2]
