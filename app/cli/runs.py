"""The commands about runs and data: `models`, `train`, `import`, `runs`, `download`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from compute import signing, validate
from compute.importing import import_run
from compute.results import dumps
from compute.store import Store
from compute.training import train
from models import MODELS
from models.download import download

from .options import Integer, check_name, progress_bar, table_format, write


@click.command("models")
@table_format
def cmd_models(fmt: str) -> None:
    """list model ids and presets"""
    rows = [{"id": s.id, "presets": list(s.presets), "dataset": s.dataset, "objective": s.objective_name,
             "description": s.description} for s in MODELS.values()]
    if fmt == "json":
        write(dumps(rows, indent=1), None)
        return
    width = max(len(r["id"]) for r in rows)
    for r in rows:
        print(f"{r['id']:<{width}}  {','.join(r['presets']):<12}  {r['description']}")


@click.command("train")
@click.argument("model")
@click.option("--preset", default="small")
@click.option("--seed", type=Integer(0, validate.MAX_SEED), default=0)
@click.option("--data", help="folder with the real data files (default: offline demo data)")
def cmd_train(model: str, preset: str, seed: int, data: str | None) -> None:
    """train a model and record the run; prints the run id last"""
    run = train(model, preset, seed, data, Store(), progress=True)
    valid = next(s for s in run.manifest["steps"] if s["step"] == run.final_step)["cost"].get("valid")
    print(f"theta_f = step {run.final_step} (valid cost {valid:.4f}), {len(run.steps)} checkpoints",
          file=sys.stderr)
    print(run.id)


@click.command("import")
@click.argument("folder", metavar="DIR")
@click.option("--model", "model_ref", required=True, metavar="MOD:FN",
              help="a callable returning the nn.Module (called with no arguments)")
@click.option("--data", "data_ref", required=True, metavar="MOD:FN|FILE.npz",
              help="a callable returning {'train': data, 'valid': ..., 'test': ...}, each (x, y) tensors, a "
                   "Dataset, an IterableDataset, a DataLoader or a datasets.Dataset; or an .npz with x_train, ...")
@click.option("--targets", default=None, metavar="KEY",
              help="the targets' key in dict examples or batches (default: labels)")
@click.option("--loss", default="cross-entropy", metavar="KIND",
              help="cross-entropy (default), mse, causal-lm (next-token, Hugging Face's mean over tokens), "
                   "seq-classification, or MOD:FN (outputs, targets) -> per-example losses")
@click.option("--path", "code_path", metavar="DIR", help="put DIR on sys.path first (where your modules are)")
@click.option("--name", help="the run's name (default: DIR's name)")
@click.option("--final", "final_step", type=Integer(), metavar="STEP",
              help="theta_f (default: the checkpoint with the lowest validation cost)")
@click.option("--prefix", metavar="PREFIX",
              help="the prefix the module's keys carry in the checkpoints, e.g. model. for a LightningModule's "
                   "(default: found when exactly one fits)")
def cmd_import(folder: str, model_ref: str, data_ref: str, targets: str | None, loss: str, code_path: str | None,
               name: str | None, final_step: int | None, prefix: str | None) -> None:
    """import a folder of checkpoints of your own model as a run; prints the run id last"""
    bar, update = progress_bar("import: learning curve", unit="pt")
    try:
        run = import_run(folder, model_ref, data_ref, loss, code_path, name, final_step, Store(), update,
                         prefix=prefix, targets=targets)
    finally:
        bar.close()
    print(f"{len(run.steps)} checkpoints, theta_f = step {run.final_step}", file=sys.stderr)
    print(run.id)


@click.command("runs")
@table_format
@click.option("--resign", metavar="RUN", callback=check_name,
              help="sign RUN's references (its model, data and loss code) with this machine's key, as they are: "
                   "for a run you inspected and trust (e.g. imported by an earlier version)")
def cmd_runs(fmt: str, resign: str | None) -> None:
    """list recorded runs"""
    if resign is not None:
        run = Store().resign(resign)
        print(f"signed {run.id}: {signing.describe(run.manifest)} will run when it is used", file=sys.stderr)
        print(run.id)
        return
    rows = []
    runs, damaged = Store().scan()
    for run in runs:
        final = next(s for s in run.manifest["steps"] if s["step"] == run.final_step)  # checked on load
        rows.append({"id": run.id, "model": run.model_id, "preset": run.preset, "seed": run.manifest["seed"],
                     "checkpoints": len(run.steps), "final_step": run.final_step,
                     "final_valid_cost": final.get("cost", {}).get("valid"), "created": run.manifest.get("created")})
    rows += [{"id": name, "damaged": reason} for name, reason in damaged]  # listed, never fatal
    if fmt == "json":
        write(dumps(rows, indent=1), None)
    elif not rows:
        print("no runs yet: `landscape train MODEL` records one", file=sys.stderr)
    else:
        for r in rows:
            if "damaged" in r:
                print(f"{r['id']}  DAMAGED: {r['damaged']}")
                continue
            cost = f"{r['final_valid_cost']:.4f}" if r["final_valid_cost"] is not None else "-"
            print(f"{r['id']}  {r['model']}/{r['preset']} seed {r['seed']}  {r['checkpoints']} checkpoints  "
                  f"theta_f step {r['final_step']} valid {cost}")


@click.command("download")
@click.argument("dataset", type=click.Choice(["mnist", "cifar10", "ptb"]))
@click.option("--data", required=True, help="folder to put the files in (then pass it as --data)")
def cmd_download(dataset: str, data: str) -> None:
    """fetch a dataset's real files, check their digests, unpack (never done implicitly)"""
    files = download(dataset, data, log=lambda m: print(m, file=sys.stderr))
    print(f"{dataset}: {len(files)} file(s) checked in {Path(data).resolve()}; use --data {data}", file=sys.stderr)
