"""Insert many rows in one statement, skipping rows a unique key already holds.

Both engines run INSERT ... ON CONFLICT DO NOTHING RETURNING id, so the caller learns which
rows went in and can write history for exactly those. On PostgreSQL the rows travel as one
array per column (`INSERT ... SELECT * FROM unnest(...)`): psycopg parses every placeholder
of a query on the client, and a multi-row VALUES of 35,000 tasks spent seconds there. SQLite
takes SQLAlchemy's batched multi-row VALUES ("insertmanyvalues").
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session


def insert_rows(
    *,
    session: Session,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    unique: Sequence[str] = (),
) -> set[uuid.UUID]:
    """Insert `rows` (same keys each) unless `unique` columns clash; return the ids inserted."""
    if not rows:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        statement: Any = postgresql.insert(table).from_select(
            list(rows[0]), _unnest_rows(table, rows)
        )
        if unique:
            statement = statement.on_conflict_do_nothing(index_elements=list(unique))
        return set(session.execute(statement.returning(table.c.id)).scalars())
    statement = sqlite.insert(table)
    if unique:
        statement = statement.on_conflict_do_nothing(index_elements=list(unique))
    return set(session.execute(statement.returning(table.c.id), list(rows)).scalars())


def _unnest_rows(table: sa.Table, rows: Sequence[dict[str, Any]]) -> sa.Select[Any]:
    """`SELECT ... FROM unnest(arrays)`: a column with one value for every row is sent once."""
    names = list(rows[0])
    # The first column (the id) always varies, so unnest always has an array to expand.
    varying = [
        name
        for index, name in enumerate(names)
        if index == 0 or any(row[name] != rows[0][name] for row in rows)
    ]
    arrays = [_bind(table.c[name], [row[name] for row in rows], array=True) for name in varying]
    expanded = sa.func.unnest(*arrays).table_valued(*varying).render_derived()
    return sa.select(
        *(
            expanded.c[name] if name in varying else _bind(table.c[name], rows[0][name])
            for name in names
        )
    ).select_from(expanded)


def _bind(column: sa.Column[Any], value: Any, *, array: bool = False) -> sa.ColumnElement[Any]:
    """A parameter cast to the column's type (or array type): PostgreSQL cannot infer it."""
    target: Any = column.type
    if isinstance(target, sa.JSON):
        # JSON goes as text: a list value inside an array parameter would read as a sub-array.
        value = [_json(item) for item in value] if array else _json(value)
        source: Any = postgresql.ARRAY(sa.Text()) if array else sa.Text()
    else:
        source = postgresql.ARRAY(target) if array else target
    return sa.cast(
        sa.bindparam(None, value, type_=source), postgresql.ARRAY(target) if array else target
    )


def _json(value: Any) -> str | None:
    return json.dumps(value) if value is not None else None
