"""The job system's own failures: Redis out of reach, a job that failed where it ran.

They are failures of the service, not of the request (models/errors.py `BadInput`): the same
request may well be answered later. The boundary shows them as it shows bad input, one line or
one error body, with their own HTTP status: 503 for Redis, 422 for a job that failed.
"""

from __future__ import annotations

import re


class ServiceError(Exception):
    """A failure of the job system. `field` names the setting or part it concerns (REDIS_URL),
    `status` is the HTTP status the API answers with; the CLI exits 2 with `str(exc)`."""

    status = 500

    def __init__(self, message: str, field: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status if status is not None else type(self).status

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class RedisUnavailable(ServiceError):
    """Redis (the job queue and result cache) cannot be reached. The CLI exits 2 with this line;
    the dashboard shows it and keeps serving what needs no Redis."""

    status = 503

    def __init__(self, url: str, cause: BaseException | str):
        reason = str(cause).strip() or type(cause).__name__
        super().__init__(f"Redis at {redact(url)} is unreachable ({reason}); start it, or unset "
                         "REDIS_URL (CLI: pass --local) to compute in this process", field="REDIS_URL")


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)


class JobFailed(ServiceError):
    """A job that failed or was cancelled: its message is the failing chunk's."""

    status = 422
