"""Component ids in one place. Per-view components have small dict ids so that the shell's
callbacks handle every view's controls, graphs and links with pattern matching: a new view
gets URL sync, validation messages, jobs and drawing by using these ids, with no new callback.
"""

from __future__ import annotations

URL = "url"  # dcc.Location: the address
CANONICAL = "canonical-href"  # Store: an address to put in place of the current one (replaceState)
CANONICAL_SINK = "canonical-sink"
EDIT = "edit"  # Store: an edit a view makes itself (zoom window, camera): {"view", "values": {param: text}}
NOTICE = "notice"  # what was ignored from the address
PAGE = "page"  # the container of the page on screen: a view's layout, or /, /runs, /help (app/pages.py)
HELP_LINK = "help-link"  # the nav's Help link: carries the view on screen (/help?for=<its address>)
# Store: the current address read once: {"href": canonical, "view", "state": params.dump_state text,
# "keys": {query name: job key}, "cached", "error"}; what tracking and drawing read
ADDRESS = "address"
TICK = "jobs-tick"  # Store: the jobs' states; changes only when one of them changes
POLL = "jobs-poll"  # Interval: on while a job runs
PROGRESS = "progress"
STATUS = "status"
CANCEL = "cancel"
TRAINING = "training"  # the demo runs' training banner (app/training_banner.py)
TRAINING_POLL = "training-poll"  # Interval: on while a demo run is queued or training
RUNS = "runs-seen"  # Store: the ids of the runs recorded, as the page last saw them

TEXT, CHOICE = "text", "choice"


def control(view: str, param: str, kind: str) -> dict:
    """A form control bound to URL parameter `param`; kind: TEXT (dcc.Input) or CHOICE
    (anything with `options`: Dropdown, RadioItems, Checklist)."""
    return {"ctl": param, "view": view, "kind": kind}


def field_box(view: str, param: str) -> dict:
    """The label + control + message block, hidden when the param is not relevant."""
    return {"fieldbox": param, "view": view}


def field_error(view: str, param: str) -> dict:
    return {"err": param, "view": view}


def graph(view: str, name: str) -> dict:
    return {"graph": name, "view": view}


def export(view: str, fmt: str) -> dict:
    """A download link of the view's data: fmt 'json' or 'csv'."""
    return {"export": fmt, "view": view}


def nav(view: str) -> dict:
    return {"nav": view}


def button(view: str, name: str) -> dict:
    return {"button": name, "view": view}
