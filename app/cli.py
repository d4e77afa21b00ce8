"""`landscape` — the command line. Results on stdout (JSON or CSV), progress on stderr, and
exit status 2 with one clear line for bad input.

    landscape models
    landscape train relu-mnist --preset small --seed 0
    landscape runs
    landscape import ckpts/ --model mynet:build --data mydata:splits --path ~/code
    landscape line --from init:RUN --to final:RUN --alpha -0.5:1.5 --points 50 --format json
    landscape trajectory RUN --format csv
    REDIS_URL=redis://127.0.0.1:6379/0 landscape worker      # then `line` etc. run on the workers
    REDIS_URL=... landscape line ... --local                  # in this process all the same

Built on click, which takes `--alpha -1:1` as a value (argparse read it as a flag). Values stay
strings here: the query constructors of compute/kinds/ parse and validate them, as they do the
page's fields and the API's parameters. This module only checks what the command line alone
has: an output file's folder, names too long to be a run's folder, and the integers of the
commands that build no query (`_Integer`: compute.validate's ASCII digits, not click's int()).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from tqdm import tqdm

from compute import signing, validate
from compute.kinds.control import CONTROL_PARAMS, ControlQuery, ControlResult
from compute.importing import import_run
from compute.jobs.backend import get_jobs, run_job
from compute.jobs.errors import ServiceError
from compute.jobs.local import LocalJobs
from compute.kinds.hessian import HessianQuery, HessianResult
from compute.kinds.line import LineQuery
from compute.kinds.surface.query import SurfaceQuery
from compute.kinds.trajectory import TrajectoryQuery, TrajectoryResult
from compute.kinds import resolve
from compute.kinds.curve import CurveQuery, CurveResult
from compute.kinds.line_result import LineResult
from compute.results import dumps
from compute.store import Store
from compute.settings import worker_redis_url
from compute.kinds.surface.result import SurfaceResult
from compute.training import train
from compute.validate import DEFAULT_BN
from compute.jobs.worker import POOLS, run as run_worker
from models import MODELS
from models.download import download
from models.errors import BadInput

MAX_NAME = 255  # bytes in a file name on the usual file systems: a run id is a folder's name


def _name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A run id or endpoint: one that cannot name a folder is refused before the store is asked
    (the file system would answer with an OSError)."""
    if value is not None and len(value) > MAX_NAME:
        raise click.BadParameter(f"longer than {MAX_NAME} characters ({len(value)})")
    return value


class _Integer(click.ParamType):
    """An integer option, parsed by compute.validate.parse_int (ASCII digits: click's INT, which is
    int(), also takes '1_000', '١٢' and '１０'), within [minimum, maximum] where given."""

    name = "integer"

    def __init__(self, minimum: int | None = None, maximum: int | None = None):
        self.minimum, self.maximum = minimum, maximum

    def convert(self, value, param: click.Parameter | None, ctx: click.Context | None) -> int:
        field = param.name if param else "value"
        try:
            n = validate.parse_int(value, field)
        except BadInput:
            self.fail(f"{value!r} is not a valid integer (ASCII digits 0-9)", param, ctx)
        try:
            return validate.parse_int(n, field, self.minimum, self.maximum)
        except BadInput as exc:
            self.fail(exc.message, param, ctx)


def _out_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--out FILE: refused now if it cannot be written, not after minutes of computing."""
    if value is None:
        return None
    path = Path(value)
    if not path.name or path.name == "..":  # '', '.', '/', 'a/..': a folder, never a file to write
        raise click.BadParameter(f"{value!r} names no file")
    if "\x00" in value:  # no system call takes it (and pathlib's checks answer False, not an error)
        raise click.BadParameter(f"{value!r} is not a file name: it holds a NUL character")
    if len(os.fsencode(_tmp_path(path).name)) > MAX_NAME:
        raise click.BadParameter(f"file name longer than {MAX_NAME - len('..tmp')} characters")
    try:
        if path.is_dir():
            raise click.BadParameter(f"{value} is a folder")
        folder = path.parent
        if not folder.is_dir():
            raise click.BadParameter(f"folder {folder} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise click.BadParameter(f"folder {folder} is not writable")
    except OSError as exc:  # e.g. a folder name too long
        raise click.BadParameter(f"{value}: {exc.strerror}") from None
    return value


def _plot_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--plot FILE: .png, .svg or .pdf, in a writable folder: refused before computing."""
    if value is None:
        return None
    if Path(value).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise click.BadParameter(f"{value}: the file must end in .png, .svg or .pdf")
    return _out_path(ctx, param, value)


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def _write(text: str, out: str | None) -> None:
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    path = Path(out)
    tmp = _tmp_path(path)
    try:  # the folder was checked before computing; it can still change (or fill up) meanwhile
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BadInput(f"cannot write {path}: {exc.strerror}", field="out") from None
    print(f"wrote {path}", file=sys.stderr)


def _emit(result, fmt: str, out: str | None, plot: str | None = None, kind: str = "") -> None:
    """The result on stdout or in --out; with --plot FILE also the page's figure of it, for print."""
    _write(result.to_csv() if fmt == "csv" else dumps(result.to_json()), out)
    if plot is not None:
        from app.figures.export import result_figure, write_figure  # plotly is loaded only here

        width, height = write_figure(result_figure(kind, result.to_json()), plot)
        print(f"wrote {plot} ({width / 96:.2g} x {height / 96:.2g} in)", file=sys.stderr)


def _progress_bar(desc: str, unit: str = "pt"):
    bar = tqdm(total=0, desc=desc, unit=unit, file=sys.stderr, leave=False, disable=None)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return bar, update


def _run_job(query, local: bool, desc: str) -> dict:
    """The result JSON of `query` through the job layer (Celery when REDIS_URL is set, unless
    --local), with a progress bar of chunks on stderr."""
    jobs = get_jobs(local=local)
    bar, update = _progress_bar(desc, unit="chunk")
    try:
        return run_job(query, jobs, update)
    except KeyboardInterrupt:
        if isinstance(jobs, LocalJobs):  # ours alone; a shared Celery job may have other askers
            jobs.cancel(query.key())
        raise
    finally:
        bar.close()


def _result_options(command):
    """--format, --out, --plot and --local: the options of every command that computes a result."""
    command = click.option("--plot", callback=_plot_path, metavar="FILE",
                           help="also draw the figure the page draws into FILE (.png, .svg or .pdf), at a paper "
                                "column's width (3.5 in; 7 in for a figure of several panels)")(command)
    command = click.option("--local", is_flag=True, help="compute in this process even when REDIS_URL is set")(command)
    command = click.option("--out", callback=_out_path, metavar="FILE",
                           help="write to FILE instead of stdout")(command)
    return click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
                        help="json (default) or csv")(command)


def _bn_option(command):
    return click.option("--bn", default=DEFAULT_BN, metavar="POLICY",
                        help="BatchNorm statistics off the checkpoints: interpolate (default; mixed like the "
                             "parameters) or recompute (re-estimated on the training split at every point); "
                             "models without BatchNorm ignore it")(command)


def _table_format(command):
    return click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")(command)


# -------------------------------------------------------------------------------------- commands
@click.group(context_settings={"help_option_names": ["-h", "--help"]}, no_args_is_help=False)
def cli() -> None:
    """Exact neural-network cost landscapes (Goodfellow, Vinyals & Saxe, ICLR 2015)."""


@cli.command("models")
@_table_format
def cmd_models(fmt: str) -> None:
    """list model ids and presets"""
    rows = [{"id": s.id, "presets": list(s.presets), "dataset": s.dataset, "objective": s.objective_name,
             "description": s.description} for s in MODELS.values()]
    if fmt == "json":
        _write(dumps(rows, indent=1), None)
        return
    width = max(len(r["id"]) for r in rows)
    for r in rows:
        print(f"{r['id']:<{width}}  {','.join(r['presets']):<12}  {r['description']}")


@cli.command("train")
@click.argument("model")
@click.option("--preset", default="small")
@click.option("--seed", type=_Integer(0, validate.MAX_SEED), default=0)
@click.option("--data", help="folder with the real data files (default: offline demo data)")
def cmd_train(model: str, preset: str, seed: int, data: str | None) -> None:
    """train a model and record the run; prints the run id last"""
    run = train(model, preset, seed, data, Store(), progress=True)
    valid = next(s for s in run.manifest["steps"] if s["step"] == run.final_step)["cost"].get("valid")
    print(f"theta_f = step {run.final_step} (valid cost {valid:.4f}), {len(run.steps)} checkpoints",
          file=sys.stderr)
    print(run.id)


@cli.command("curve")
@click.option("--from", "start", required=True, metavar="final:RUN_A", help="one solution")
@click.option("--to", "end", required=True, metavar="final:RUN_B", help="the other, of the same model and data")
@click.option("--bends", default="1", help="bends of the curve: 1 (Garipov et al.'s)")
@click.option("--kind", "curve", default="bezier", help="bezier (default; a quadratic Bézier curve) or polychain "
              "(a polygonal chain with one bend)")
@click.option("--epochs", help="epochs of SGD on the bend (default: as many as the first run trained at most)")
@click.option("--seed", default="0", help="the minibatches' order, every t drawn and the dropout masks (default 0)")
@click.option("--points", default="21", help="values of t in [0, 1] where J is evaluated on the curve and the line")
@click.option("--splits", default="train")
@click.option("--out", callback=_out_path, metavar="FILE", help="also write the result's JSON to FILE")
@click.option("--local", is_flag=True, help="compute in this process even when REDIS_URL is set")
def cmd_curve(start: str, end: str, bends: str, curve: str, epochs: str | None, seed: str, points: str, splits: str,
              out: str | None, local: bool) -> None:
    """train a curve of low cost between two solutions (Garipov et al. 2018); prints the curve's id last"""
    query = resolve(CurveQuery(start, end, curve, bends, epochs, seed, points, splits), Store())
    result = CurveResult.from_json(_run_job(query, local, f"curve {curve}"))
    if out is not None:
        _write(dumps(result.to_json()), out)
    for s in query.splits:  # the answer in two numbers per split, then the id
        line, on_curve = ("undecided" if b is None else f"{b['height']:.4g}"  # None: a non-finite sample
                          for b in (result.metrics[k][s]["barrier"] for k in ("line", "curve")))
        print(f"{s} barrier: straight line {line}, curve {on_curve}", file=sys.stderr)
    print(result.curve)


@cli.command("import")
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
@click.option("--final", "final_step", type=_Integer(), metavar="STEP",
              help="theta_f (default: the checkpoint with the lowest validation cost)")
@click.option("--prefix", metavar="PREFIX",
              help="the prefix the module's keys carry in the checkpoints, e.g. model. for a LightningModule's "
                   "(default: found when exactly one fits)")
def cmd_import(folder: str, model_ref: str, data_ref: str, targets: str | None, loss: str, code_path: str | None,
               name: str | None, final_step: int | None, prefix: str | None) -> None:
    """import a folder of checkpoints of your own model as a run; prints the run id last"""
    bar, update = _progress_bar("import: learning curve", unit="pt")
    try:
        run = import_run(folder, model_ref, data_ref, loss, code_path, name, final_step, Store(), update,
                         prefix=prefix, targets=targets)
    finally:
        bar.close()
    print(f"{len(run.steps)} checkpoints, theta_f = step {run.final_step}", file=sys.stderr)
    print(run.id)


@cli.command("runs")
@_table_format
@click.option("--resign", metavar="RUN", callback=_name,
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
        _write(dumps(rows, indent=1), None)
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


@cli.command("line")
@click.option("--from", "start", required=True, callback=_name,
              help="init:RUN, final:RUN, step:RUN:T, random:SEED[:SCALE]")
@click.option("--to", "end", required=True, callback=_name)
@click.option("--alpha", default="0:1", help="range A:B (default 0:1)")
@click.option("--points", default="50", help="2 to 2001 (default 50), or auto: an adaptive grid (see --tolerance)")
@click.option("--tolerance", default=None, metavar="T",
              help="with --points auto: refine until linear interpolation is within T x the curve's range "
                   "(default 0.001; at most 401 points)")
@click.option("--derivatives", is_flag=True, help="also dJ/dalpha and d2J/dalpha2 at every point, exactly (the line fast path, or double backward)")
@click.option("--sharpness", is_flag=True, help="also lambda_max of the Hessian at the points (Lanczos; slow)")
@click.option("--sharpness-every", metavar="N", help="lambda_max at every N-th point and the last (implies --sharpness)")
@click.option("--splits", default="train,valid")
@click.option("--dtype", default="float32", help="the forward's precision: float32 (default, exact), bfloat16 or float16 (previews; "
                   "totals in float64, the error against float32 in meta.precision_error), float64")
@click.option("--dropout-samples", default="0", metavar="N",
              help="0 (default): the cost with dropout off, weights scaled, as in the paper; N > 0: a "
                   "Monte-Carlo estimate with dropout on, the mean of N passes (models with dropout)")
@_bn_option
@_result_options
def cmd_line(start: str, end: str, alpha: str, points: str, tolerance: str | None, derivatives: bool,
             sharpness: bool, sharpness_every: str | None, splits: str, dtype: str, dropout_samples: str, bn: str, fmt: str,
             out: str | None, local: bool, plot: str | None) -> None:
    """exact cost along the line between two endpoints, with its metrics (barrier, monotonicity, minima)"""
    query = resolve(LineQuery.from_args(start, end, alpha, points, splits, dtype, dropout_samples, bn, derivatives,
                                        tolerance, sharpness_every or (1 if sharpness else 0)), Store())
    _emit(LineResult.from_json(_run_job(query, local, "line")), fmt, out, plot, "line")


@cli.command("trajectory")
@click.argument("run", callback=_name)
@_result_options
def cmd_trajectory(run: str, fmt: str, out: str | None, local: bool, plot: str | None) -> None:
    """alpha(t), beta(t) and the learning curve of a run"""
    query = resolve(TrajectoryQuery(run), Store())
    _emit(TrajectoryResult.from_json(_run_job(query, local, "trajectory")), fmt, out, plot, "trajectory")


@cli.command("surface")
@click.argument("run", callback=_name)
@click.option("--kind", default="paper", help="paper (default; rows along the residual directions, "
              "appendix C), random-plane (Fig 21), alpha-random (Fig 22), hessian (the plane of the top two "
              "Hessian eigenvectors at theta_f), pca (the plane of the trajectory's first two principal "
              "directions, Li et al. 2018)")
@click.option("--alpha", help="range A:B (default: fitted to the trajectory)")
@click.option("--beta", help="range B0:B1 (default: fitted to the trajectory)")
@click.option("--points", default="41x41", help="NxM rows (alpha) x columns (beta), 2..201 each (default 41x41)")
@click.option("--splits", default="train")
@click.option("--dtype", default="float32", help="the forward's precision: float32 (default, exact), bfloat16 or float16 (previews; "
                   "totals in float64, the error against float32 in meta.precision_error), float64")
@click.option("--seed", help="random directions' seed (random-plane, alpha-random; default 0)")
@click.option("--scale", help="random-plane: direction norm (default ||theta_f - theta_i||), or with "
              "--normalization filter a factor on theta_f's filter norms (default 1)")
@click.option("--normalization", help="random-plane: global (default) or filter (Li et al. 2018)")
@_bn_option
@_result_options
def cmd_surface(run: str, kind: str, alpha: str | None, beta: str | None, points: str, splits: str, dtype: str,
                seed: str | None, scale: str | None, normalization: str | None, bn: str, fmt: str, out: str | None,
                local: bool, plot: str | None) -> None:
    """cost surface of a run with its trajectory on it (Figs 15-22)"""
    query = resolve(SurfaceQuery.from_args(run, kind, alpha, beta, points, splits, dtype, seed, scale,
                                           normalization, bn), Store())
    _emit(SurfaceResult.from_json(_run_job(query, local, f"surface {kind}")), fmt, out, plot, "surface")


@cli.command("hessian")
@click.argument("endpoint", callback=_name)
@click.option("--top", default="1", metavar="K", help="the K largest eigenvalues (default 1; 0 for none)")
@click.option("--bottom", default="0", metavar="K", help="the K most negative eigenvalues (default 0)")
@click.option("--trace", is_flag=True, help="also the trace (Hutchinson; see --trace-probes)")
@click.option("--density", is_flag=True, help="also the spectral density (stochastic Lanczos quadrature)")
@click.option("--splits", default="train")
@click.option("--to", "to", callback=_name, help="with --alpha: the point (1-alpha) ENDPOINT + alpha TO of a line")
@click.option("--alpha", help="with --to: where on the line")
@click.option("--tolerance", default="1e-3", help="eigenvalues' relative error bound (default 1e-3)")
@click.option("--iterations", default="100", help="most Lanczos steps (default 100)")
@click.option("--trace-method", default="hutchinson", help="hutchinson (default) or hutch++")
@click.option("--trace-probes", default="30", help="products for the trace (default 30)")
@click.option("--density-probes", default="4", help="SLQ probes (default 4)")
@click.option("--density-steps", default="40", help="Lanczos steps per SLQ probe (default 40)")
@click.option("--broadening", default="0.05", help="SLQ Gaussian width on the symmetric-log axis (default 0.05)")
@click.option("--seed", default="0", help="seed of the random vectors (default 0)")
@click.option("--dtype", default="float32", help="float32 (default) or float64")
@_bn_option
@_result_options
def cmd_hessian(endpoint: str, top: str, bottom: str, trace: bool, density: bool, splits: str, to: str | None,
                alpha: str | None, tolerance: str, iterations: str, trace_method: str, trace_probes: str,
                density_probes: str, density_steps: str, broadening: str, seed: str, dtype: str, bn: str, fmt: str,
                out: str | None, local: bool, plot: str | None) -> None:
    """the Hessian's top/bottom eigenvalues, trace and spectral density at a point (whole splits)"""
    query = resolve(HessianQuery(endpoint, to, alpha, top, bottom, trace, density, splits, dtype, bn, tolerance,
                                 iterations, trace_method, trace_probes, density_probes, density_steps, broadening,
                                 seed), Store())
    _emit(HessianResult.from_json(_run_job(query, local, "hessian")), fmt, out, plot, "hessian")


def _control_command(experiment: str, schema: dict) -> click.Command:
    """`landscape control EXPERIMENT`: one option per parameter of CONTROL_PARAMS (strings, parsed
    by ControlQuery), plus the run for `extremes`."""

    def control(fmt: str, out: str | None, local: bool, plot: str | None, run: str | None = None,
                **values: str | None) -> None:
        given = tuple((name, values[name]) for name in schema if values[name] is not None)
        query = resolve(ControlQuery(experiment, run, given), Store())
        _emit(ControlResult.from_json(_run_job(query, local, experiment)), fmt, out, plot, "control")

    command = _result_options(control)
    for name, (_, default) in reversed(schema.items()):  # decorators apply bottom-up: keep the table's order
        command = click.option(f"--{name.replace('_', '-')}", name, help=f"default {default}")(command)
    if experiment == "extremes":
        command = click.argument("run", callback=_name)(command)
    return click.command(experiment)(command)


cmd_control = click.Group("control", no_args_is_help=False,
                          commands=[_control_command(name, schema) for name, schema in CONTROL_PARAMS.items()],
                          help="control experiments: random-walk (Fig 11), convex (12), factored (14), "
                               "scalar-lines (9, 10), extremes (7 right)")
cli.add_command(cmd_control)


@cli.command("worker")
@click.option("--concurrency", type=_Integer(1), default=1, help="pool processes per worker (default 1)")
@click.option("--pool", type=click.Choice(POOLS), default="prefork")
@click.option("--threads", type=_Integer(1), help="torch threads per pool process (default: torch's)")
@click.option("--hostname", help="worker name, e.g. w1@%h (default celery@%h)")
@click.option("--loglevel", default="info")
def cmd_worker(concurrency: int, pool: str, threads: int | None, hostname: str | None, loglevel: str) -> None:
    """run a Celery worker for REDIS_URL's queue (one per GPU, or the CPU)"""
    run_worker(worker_redis_url(), concurrency=concurrency, pool=pool, threads=threads, hostname=hostname, loglevel=loglevel)


@cli.command("serve")
@click.option("--host", default="127.0.0.1", help="an IP address or a host name to listen on")
@click.option("--port", default="8050", help="1 to 65535 (default 8050)")
@click.option("--demo", is_flag=True, help="train the missing demo runs meanwhile, as jobs (progress on the page)")
@click.option("--access-log", is_flag=True, help="one line per request on stderr (off: the progress stays readable)")
def cmd_serve(host: str, port: str, demo: bool, access_log: bool) -> None:
    """serve the dashboard (waitress, a production WSGI server)"""
    host, port = validate.parse_host(host), validate.parse_port(port)  # one line, before any server starts
    from app.server import serve  # Dash is loaded only here: a worker or a line never imports it

    serve(host=host, port=port, demo=demo, access_log=access_log)


@cli.command("download")
@click.argument("dataset", type=click.Choice(["mnist", "cifar10", "ptb"]))
@click.option("--data", required=True, help="folder to put the files in (then pass it as --data)")
def cmd_download(dataset: str, data: str) -> None:
    """fetch a dataset's real files, check their digests, unpack (never done implicitly)"""
    files = download(dataset, data, log=lambda m: print(m, file=sys.stderr))
    print(f"{dataset}: {len(files)} file(s) checked in {Path(data).resolve()}; use --data {data}", file=sys.stderr)


# ------------------------------------------------------------------------------------------ main
def _error(message: str) -> None:
    print(f"landscape: error: {' '.join(message.splitlines())}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit status: 0, 2 for bad input, 130 when interrupted.

    Usage errors (unknown option, missing argument, bad choice) and --help leave through
    SystemExit(2) and SystemExit(0) as argparse's did; every other bad input returns 2. Either
    way a bad input prints one line, `landscape: error: ...`, never click's usage block."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        with cli.make_context("landscape", args) as ctx:
            cli.invoke(ctx)
    except click.exceptions.Exit as exc:  # --help, after printing it
        raise SystemExit(exc.exit_code) from None
    except click.UsageError as exc:
        _error(exc.format_message())
        raise SystemExit(2) from None
    except (BadInput, ServiceError) as exc:  # a job that failed, Redis unreachable: the same one line
        _error(str(exc))
        return 2
    except KeyboardInterrupt:
        print("landscape: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
