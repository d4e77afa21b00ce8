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

Built on click, which takes `--alpha -1:1` as a value (argparse read it as a flag). One module per
group of commands: `runs` (models, train, import, runs, download), `results` (line, trajectory,
surface, hessian, control), `curve`, `service` (worker, serve); what they share is in `options`.
"""

from __future__ import annotations

import sys

import click

from compute.service_errors import ServiceError
from models.errors import BadInput

from .curve import cmd_curve
from .results import cmd_control, cmd_hessian, cmd_line, cmd_surface, cmd_trajectory
from .runs import cmd_download, cmd_import, cmd_models, cmd_runs, cmd_train
from .service import cmd_serve, cmd_worker


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, no_args_is_help=False)
def cli() -> None:
    """Exact neural-network cost landscapes (Goodfellow, Vinyals & Saxe, ICLR 2015)."""


for _command in (cmd_models, cmd_train, cmd_import, cmd_runs, cmd_line, cmd_trajectory, cmd_surface, cmd_hessian,
                 cmd_control, cmd_curve, cmd_worker, cmd_serve, cmd_download):
    cli.add_command(_command)


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
