"""The job system's own failures: Redis out of reach, a job that failed where it ran."""

from __future__ import annotations

import re

from models.errors import BadInput


class RedisUnavailable(BadInput):
    """Redis (the job queue and result cache) cannot be reached. The CLI exits 2 with this line;
    the dashboard shows it and keeps serving what needs no Redis."""

    def __init__(self, url: str, cause: BaseException | str):
        reason = str(cause).strip() or type(cause).__name__
        super().__init__(f"Redis at {redact(url)} is unreachable ({reason}); start it, or unset "
                         "REDIS_URL (CLI: pass --local) to compute in this process", field="REDIS_URL", status=503)


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)


class JobFailed(BadInput):
    """A job that failed or was cancelled: its message is the failing chunk's."""
