"""Hostile inputs against the real CLI (the API's are in test_hostile.py): every value of every
option and argument of every click command (subcommands included) is refused with exit status 2
and one line, with no traceback and no internal path. Generated from the click commands, so a new
option joins the suite by being declared.
"""

from __future__ import annotations

import click
import pytest

from tests.app.test_hostile import LEAKS


# ------------------------------------------------------------------------------------------ the CLI
CLI_HOSTILE = ("nan", "x" * 300, "../../../../etc/passwd", "1:2:3", "-1e308:1e308",
               "1_000", "\u0661\u0662", "\uff11\uff10", "-1", "99999999999")
OUT_HOSTILE = ("", "/", ".", "a\u0000b")  # --out and --plot: names of no file to write
AN_EXISTING_FILE = "<an existing file>"  # a folder option given a file (made by the test)
# What an option is given beside its own values (a port the issue found), and the options whose
# values are not hostile: `download --data` makes any folder it is given, so only a file is.
CLI_EXTRA = {"port": ("99999999", "0")}
CLI_ONLY = {("download", "data"): (AN_EXISTING_FILE,)}


def _cli_commands() -> list[tuple[tuple[str, ...], click.Command]]:
    """(words, command) of every command of the CLI's click groups, subcommands included; not
    `import` (it runs the user's code: its hostile inputs are tests/app/test_imports.py's)."""
    from app.cli import cli

    out = []
    for name, command in cli.commands.items():
        if name == "import":
            continue
        if isinstance(command, click.Group):
            out += [((name, sub), subcommand) for sub, subcommand in command.commands.items()]
        else:
            out.append(((name,), command))
    return out


def _cli_cases() -> list[tuple[str, str | None, str]]:
    """(command words, option or None for the positional argument, hostile value) for every value
    a command takes; its other required inputs get valid values in `_argv`."""
    cases = []
    for words, command in _cli_commands():
        for param in command.params:
            if getattr(param, "is_flag", False) or param.name == "help":
                continue  # flags take no value
            option = param.opts[0] if param.opts[0].startswith("-") else None
            if (words[0], param.name) in CLI_ONLY:
                values = CLI_ONLY[words[0], param.name]
            elif param.name in ("out", "plot"):
                values = OUT_HOSTILE
            else:
                values = CLI_HOSTILE + CLI_EXTRA.get(param.name, ())
            cases += [(" ".join(words), option, value) for value in values]
    return cases


CLI_CASES = _cli_cases()


def _argv(words: str, option: str | None, value: str, run_id: str, folder: str) -> list[str]:
    """The command with `value` in `option` (or as its positional argument) and valid values in
    its other required inputs."""
    valid = {"start": f"init:{run_id}", "end": f"final:{run_id}", "endpoint": f"final:{run_id}", "run": run_id,
             "model": "relu-mnist",
             "dataset": "mnist", "data": folder}
    command = dict((" ".join(w), c) for w, c in _cli_commands())[words]
    argv = words.split()
    for param in command.params:
        given = param.opts[0] == option if option else not param.opts[0].startswith("-")
        if given:
            argv += [value] if option is None else [option, value]
        elif param.required:
            argv += [valid[param.name]] if not param.opts[0].startswith("-") else [param.opts[0], valid[param.name]]
    return argv


@pytest.mark.parametrize("command,option,value", CLI_CASES)
def test_cli_argument(command, option, value, relu_run, capsys, tmp_path, monkeypatch):
    from app.cli import main

    def started(*args, **kwargs):
        raise AssertionError(f"{command} started with {option}={value!r}")

    # what a hostile value must never reach: a server, a worker, the internet
    monkeypatch.setattr("app.server.serve", started)
    monkeypatch.setattr("app.cli.service.run_worker", started)
    monkeypatch.setattr("models.download._fetch", started)
    monkeypatch.chdir(tmp_path)  # a relative path typed is resolved here, not in the checkout
    (tmp_path / "a-file").write_text("not a folder")
    # relative names: the message may echo them, and the checkout's path counts as a leak
    argv = _argv(command, option, "a-file" if value == AN_EXISTING_FILE else value, relu_run.id, "data")
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2, f"{argv}: exit {code}; {err[-300:]}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("landscape: error"), (argv, err)
    assert not any(leak in err + out for leak in LEAKS), (argv, err)
