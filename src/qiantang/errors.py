"""Domain errors. Services raise these; the web layer maps them to status codes in one place."""

from __future__ import annotations

from dataclasses import dataclass, field


class QiantangError(Exception):
    """Base class: ``message`` is shown to the user as is (Chinese first)."""

    status_code = 400

    def __init__(self, message: str, *, message_en: str | None = None):
        super().__init__(message)
        self.message = message
        self.message_en = message_en or message


class NotFound(QiantangError):
    status_code = 404


class Forbidden(QiantangError):
    status_code = 403


class Unauthorized(QiantangError):
    status_code = 401


class Conflict(QiantangError):
    status_code = 409


class TooManyRequests(QiantangError):
    status_code = 429

    def __init__(self, message: str, *, retry_after_seconds: int, message_en: str | None = None):
        super().__init__(message, message_en=message_en)
        self.retry_after_seconds = retry_after_seconds


@dataclass
class RowError:
    """One problem in an uploaded table: the spreadsheet row (1-based, header is row 1) and column."""

    row: int | None
    column: str | None
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class ValidationFailed(QiantangError):
    """A whole input was rejected; nothing was written. ``errors`` lists every problem found."""

    summary: str
    errors: list[RowError] = field(default_factory=list)

    def __post_init__(self):
        QiantangError.__init__(self, self.summary)

    status_code = 422
