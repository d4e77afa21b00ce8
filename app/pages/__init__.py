"""The pages that are not views: `/` (what Landscape is, the runs, the paper's figures), `/runs`
(every run in a sortable table) and `/help` (the glossary, and the CLI command of the view on
screen). They have no form and no jobs: the shell's `sync` (app/callbacks.py) lays one out when
its path is opened, from this table, and keeps an ADDRESS store marked `page` for it.

Adding a page: a module with `layout(search, catalog) -> component`, and a line in PAGES.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import quote

from ..runs import RunCatalog
from . import help as help_page
from . import home, runs


@dataclass(frozen=True)
class Page:
    name: str  # its path: "/" for home, else /<name>
    title: str  # nav label
    layout: Callable[[str | None, RunCatalog], Any]  # (query string, runs) -> the page


PAGES: dict[str, Page] = {p.name: p for p in (
    Page("home", "Home", home.layout),
    Page("runs", "Runs", runs.layout),
    Page("help", "Help", help_page.layout),
)}
PATHS = {"/": "home", "/runs": "runs", "/help": "help"}


def page_of(pathname: str | None) -> Page | None:
    """The page at `pathname` ('/', '/runs', '/help'); None for a view's (or an unknown) path."""
    name = PATHS.get("/" + (pathname or "/").strip("/"))
    return PAGES[name] if name else None


def address(href: str, name: str) -> dict:
    """The ADDRESS store of a page: no state, no jobs (what `track` and `draw` skip)."""
    return {"href": href, "view": name, "page": True, "state": None, "keys": {}, "cached": True, "error": None}


def help_href(view_href: str | None) -> str:
    """/help for the view at `view_href`: the glossary and that view's CLI command."""
    return "/help" + (f"?for={quote(view_href, safe='')}" if view_href else "")
