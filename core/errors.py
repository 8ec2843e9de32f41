"""Domain exceptions: every error a person can cause says what, where and what to do.

The CLI catches `HaulflowError` and prints `str(error)` without a traceback; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem in a user file: `FILE:LINE: message`; `loc` is the path of the value
    inside the file's data when known (`("orders", 0, "pickup_at")`), for the HTTP API."""

    file: str
    line: int
    message: str
    loc: tuple[str | int, ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        # Line 0: the file as a whole (not found, too large, not text).
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class HaulflowError(Exception):
    """Base of every error caused by input or environment rather than by a bug."""

    exit_code = 1


class InvalidFileError(HaulflowError):
    """A configuration or import file has problems; nothing was written."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class InvalidEntityRefError(HaulflowError):
    """An entity was written in a form other than `CATEGORY:REFERENCE`."""


class NotFoundError(HaulflowError):
    """A referenced entity, task or definition does not exist."""


class ConflictError(HaulflowError):
    """The request contradicts the current state (e.g. finishing a task twice)."""


class TooManyForRequestError(HaulflowError):
    """A hand run over more entities than one request may send: it belongs to a Prefect run,
    which shows its progress and survives the request."""

    def __init__(self, message: str, *, total: int, category: str) -> None:
        self.total = total
        self.category = category
        super().__init__(message)


class NotConfiguredError(HaulflowError):
    """Something must be set up first (database not migrated, no configuration applied)."""
