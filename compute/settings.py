"""Every setting Landscape reads from the environment: (name, default, help), read by `setting`
and nowhere else. docs/settings.md lists them all (tests/compute/test_settings.py checks).

An unset or empty variable means its default; a default of None means "unset": for REDIS_URL,
the embedded default (jobs run in this process, results cached under $LANDSCAPE_HOME/cache).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from models.errors import BadInput
from .validate import parse_int


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None  # None: unset
    help: str


SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("LANDSCAPE_HOME", "~/.landscape", "runs (`runs/`) and the embedded default's result cache (`cache/`)"),
    Setting("REDIS_URL", None, "when set: the Celery broker, the job board and the result cache; every "
            "computation is then a job run by `landscape worker` processes (which need it set). Unset: jobs run "
            "in the serving or CLI process"),
    Setting("LANDSCAPE_VISIBILITY_TIMEOUT", "600", "seconds before a chunk of a worker that died is handed to "
            "another; keep it above the longest chunk"),
    Setting("LANDSCAPE_MAX_WORK", "3e15", "the most work one request may ask for, in floating-point operations "
            "(points x passes x examples x the model's FLOPs per example, estimated before it is queued); "
            "above it a request is refused with the estimate (page: next to the field, API: 400, CLI: exit 2). "
            "The default admits the paper's figures, 2001-point lines and 201x201 surfaces of the small presets"),
    Setting("LANDSCAPE_UNWATCHED_GRACE", "60", "seconds a job goes on with nobody watching it (no page polling "
            "it, no API or CLI call asking about it) before it is cancelled; one watched from anywhere goes on"),
    Setting("LANDSCAPE_SECRET_KEY_FILE", None, "the key that signs imported runs' references (HMAC-SHA256; "
            "created 0600 on the first import); unset: `$LANDSCAPE_HOME/secret.key`. Every web and worker machine "
            "sharing runs needs the same key: a run whose signature does not verify is refused, its code never run"),
    Setting("LANDSCAPE_TORCH_THREADS", None, "torch threads in each worker pool process (`landscape worker "
            "--threads N` sets it); unset: torch's default"),
)}


def setting(name: str) -> str | None:
    """The value of the registered setting `name`: the environment's when set and not empty, else its default."""
    return os.environ.get(name) or SETTINGS[name].default


def int_setting(name: str, minimum: int = 1) -> int | None:
    text = setting(name)
    return None if text is None else parse_int(text, name, minimum=minimum, what=name)


def redis_url() -> str | None:
    """REDIS_URL, or None: the embedded default. Which backend a process uses is decided from it in
    one place, compute/jobs/cache.py `backend_url` (where the CLI's --local overrides it)."""
    return setting("REDIS_URL")


def worker_redis_url() -> str:
    """REDIS_URL for a worker, which takes its tasks from there: a BadInput when it is unset."""
    url = redis_url()
    if not url:
        raise BadInput("a worker needs REDIS_URL (e.g. redis://127.0.0.1:6379/0): it takes its tasks from there",
                       field="REDIS_URL")
    return url
