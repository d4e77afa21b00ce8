"""The README and its pages in docs/ hold together (issue 23 §6): the README opens with the two
commands (.ci/run calls the second), links every page of docs/, and every relative link of the
README and the pages names a file that exists and, with a `#fragment`, a heading of that file (by
GitHub's rule for heading anchors). Pages the tests read for their tables and commands:
tests/compute/test_settings.py (docs/settings.md), tests/app/test_fields.py (docs/cli.md),
tests/worked_example.py (docs/importing.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)  # a `# comment` in a code block is no heading
    return {_anchor(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def test_the_readme_opens_with_the_two_commands():
    lines = README.read_text().splitlines()
    assert lines[2:6] == ["```", lines[3], lines[4], "```"]
    assert lines[3].startswith("make serve ") and lines[4].startswith("make test ")


def test_the_readme_links_every_page_of_docs():
    assert len(PAGES) >= 6
    linked = {(README.parent / target.split("#")[0]).resolve() for target in LINK.findall(README.read_text())}
    assert [p.name for p in PAGES if p.resolve() not in linked] == []


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_names_a_file_and_a_heading_that_exist(path):
    broken = []
    for target in LINK.findall(path.read_text()):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto: — not ours to check offline
            continue
        file, _, fragment = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        if not linked.exists():
            broken.append(f"{target}: no file {linked.relative_to(ROOT)}")
        elif fragment and fragment not in _anchors(linked):
            broken.append(f"{target}: no heading #{fragment} in {linked.relative_to(ROOT)}")
    assert broken == []
