"""The one boundary error: anything a user typed or pointed at that cannot be used.

It lives at the bottom of the stack (models <- compute <- app) and imports nothing, so every
layer raises and catches the same type without importing a layer above it.
"""

from __future__ import annotations


class BadInput(ValueError):
    """Invalid user input. `field` names what was wrong (a CLI flag, a form field, a URL key).

    The CLI turns it into exit status 2 and one line, the page into a message next to the
    field, an API into a 400 with `to_json()` as the body.
    """

    def __init__(self, message: str, field: str | None = None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status

    def to_json(self) -> dict:
        return {"ok": False, "error": self.message, "field": self.field, "status": self.status}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message
