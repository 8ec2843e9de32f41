"""Count the SQL statements a block sends: batching is asserted by statement counts, not time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine


@contextmanager
def counted_statements(engine: Engine) -> Iterator[list[str]]:
    """Collect every statement sent to `engine` while the block runs."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
