"""What the commands share: the checks of what only the command line has (an output file's folder,
names too long to be a run's folder, the integers of commands that build no query), writing a
result or its figure, the progress bar, and the options every result command takes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from tqdm import tqdm

from compute import validate
from compute.jobs.backend import get_jobs, run_job
from compute.jobs.local import LocalJobs
from compute.results import dumps
from compute.store import Store
from compute.validate import DEFAULT_BN
from models.errors import BadInput

from ..fields import LINE_FIELDS
from ..runs import run_seed

MAX_NAME = 255  # bytes in a file name on the usual file systems: a run id is a folder's name


def check_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A run id or endpoint: one that cannot name a folder is refused before the store is asked
    (the file system would answer with an OSError)."""
    if value is not None and len(value) > MAX_NAME:
        raise click.BadParameter(f"longer than {MAX_NAME} characters ({len(value)})")
    return value


class Integer(click.ParamType):
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


def out_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--out FILE: refused now if it cannot be written, not after minutes of computing."""
    if value is None:
        return None
    path = Path(value)
    if not path.name or path.name == "..":  # '', '.', '/', 'a/..': a folder, never a file to write
        raise click.BadParameter(f"{value!r} names no file")
    if "\x00" in value:  # no system call takes it (and pathlib's checks answer False, not an error)
        raise click.BadParameter(f"{value!r} is not a file name: it holds a NUL character")
    if len(os.fsencode(tmp_path(path).name)) > MAX_NAME:
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


def plot_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--plot FILE: .png, .svg or .pdf, in a writable folder: refused before computing."""
    if value is None:
        return None
    if Path(value).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise click.BadParameter(f"{value}: the file must end in .png, .svg or .pdf")
    return out_path(ctx, param, value)


def tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def write(text: str, out: str | None) -> None:
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    path = Path(out)
    tmp = tmp_path(path)
    try:  # the folder was checked before computing; it can still change (or fill up) meanwhile
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BadInput(f"cannot write {path}: {exc.strerror}", field="out") from None
    print(f"wrote {path}", file=sys.stderr)


def emit(result, fmt: str, out: str | None, plot: str | None = None) -> None:
    """The result on stdout or in --out; with --plot FILE also the page's figure of it, for print."""
    write(result.to_csv() if fmt == "csv" else dumps(result.to_json()), out)
    if plot is not None:
        from ..figures.export import write_figure  # plotly is loaded only here
        from ..figures.results import result_figure

        store = Store()
        width, height = write_figure(result_figure(result, lambda run_id: run_seed(store.load(run_id))), plot)
        print(f"wrote {plot} ({width / 96:.2g} x {height / 96:.2g} in)", file=sys.stderr)


def progress_bar(desc: str, unit: str = "pt"):
    bar = tqdm(total=0, desc=desc, unit=unit, file=sys.stderr, leave=False, disable=None)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return bar, update


def compute_result(query, local: bool, desc: str) -> dict:
    """The result JSON of `query` through the job layer (Celery when REDIS_URL is set, unless
    --local), with a progress bar of chunks on stderr."""
    jobs = get_jobs(local=local)
    bar, update = progress_bar(desc, unit="chunk")
    try:
        return run_job(query, jobs, update)
    except KeyboardInterrupt:
        if isinstance(jobs, LocalJobs):  # ours alone; a shared Celery job may have other askers
            jobs.cancel(query.key())
        raise
    finally:
        bar.close()


def result_options(command):
    """--format, --out, --plot and --local: the options of every command that computes a result."""
    command = click.option("--plot", callback=plot_path, metavar="FILE",
                           help="also draw the figure the page draws into FILE (.png, .svg or .pdf), at a paper "
                                "column's width (3.5 in; 7 in for a figure of several panels)")(command)
    command = click.option("--local", is_flag=True, help="compute in this process even when REDIS_URL is set")(command)
    command = click.option("--out", callback=out_path, metavar="FILE",
                           help="write to FILE instead of stdout")(command)
    return click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
                        help="json (default) or csv")(command)


def bn_option(command):
    return click.option(LINE_FIELDS.cli("bn"), "bn", default=DEFAULT_BN, metavar="POLICY",
                        help="BatchNorm statistics off the checkpoints: interpolate (default; mixed like the "
                             "parameters) or recompute (re-estimated on the training split at every point); "
                             "models without BatchNorm ignore it")(command)


def table_format(command):
    return click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")(command)
