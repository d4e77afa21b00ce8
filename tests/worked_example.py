"""The worked example of docs/importing.md, run as written: the commands of the first code block
under "## Worked example" are read from that page and executed in order, in a fresh folder that
holds only a `tests` link to this clone's tests (the page's commands run from the clone's root).

`.venv/bin/python SCRIPT ARGS` runs the script in this process (as `__main__`), `.venv/bin/landscape
ARGS` is `app.cli.main(ARGS)`, `export K=V` sets the variable. What each printed is kept, so the
tests assert on what a user sees. Runs go to the session's LANDSCAPE_HOME; the whole example runs
once a session (`worked_example()` is cached)."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import runpy
import shlex
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "importing.md"
SECTION = "## Worked example"


def readme_commands() -> list[list[str]]:
    """The argv of every command in the worked example's first code block, comments dropped."""
    text = PAGE.read_text()
    assert SECTION in text, f"{PAGE.name} has no {SECTION!r} section"
    block = re.search(r"```\n(.*?)```", text[text.index(SECTION):], re.S)
    assert block, "the worked example has no code block"
    commands = [shlex.split(line, comments=True) for line in block.group(1).splitlines()]
    return [argv for argv in commands if argv]


@dataclass
class Ran:
    workdir: Path
    outputs: list[tuple[list[str], str]] = field(default_factory=list)  # (argv, stdout)

    def output(self, *words: str) -> str:
        """The stdout of the one command whose argv starts with `words` (after the program)."""
        found = [out for argv, out in self.outputs if argv[1:1 + len(words)] == list(words)]
        assert len(found) == 1, f"{len(found)} commands start with {words}"
        return found[0]

    def imported(self, name: str) -> str:
        """The run id `landscape import … --name NAME` printed last."""
        found = [out for argv, out in self.outputs if argv[1:2] == ["import"] and name in argv
                 and argv[argv.index("--name") + 1] == name]
        assert len(found) == 1, f"no single import named {name}"
        return found[0].strip().splitlines()[-1]


def _run(argv: list[str]) -> str:
    program, args = argv[0], argv[1:]
    out = io.StringIO()
    if program == "export":
        for assignment in args:
            key, _, value = assignment.partition("=")
            os.environ[key] = value
        return ""
    if program == ".venv/bin/python":
        saved = sys.argv
        sys.argv = list(args)
        try:
            with contextlib.redirect_stdout(out):
                runpy.run_path(args[0], run_name="__main__")
        finally:
            sys.argv = saved
        return out.getvalue()
    if program == ".venv/bin/landscape":
        from app.cli import main

        with contextlib.redirect_stdout(out):
            code = main(args)
        assert code == 0, f"{shlex.join(argv)} exited with {code}"
        return out.getvalue()
    raise AssertionError(f"the worked example runs {program!r}: not a command these tests know")


@functools.cache
def worked_example() -> Ran:
    workdir = Path(tempfile.mkdtemp(prefix="worked-example-"))
    (workdir / "tests").symlink_to(ROOT / "tests")
    ran = Ran(workdir)
    before = Path.cwd()
    os.chdir(workdir)
    try:
        for argv in readme_commands():
            ran.outputs.append((argv, _run(argv)))
    finally:
        os.chdir(before)
    return ran
