"""Task generation: the tasks of given entities, or of the entities still without them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from core.database import session_scope
from lifecycle.generation import GenerationReport as GenerationReport
from lifecycle.generation import generate_tasks, pending_entity_ids
from models import Category


def generate(category: Category, entity_ids: list[uuid.UUID], *, by: str) -> GenerationReport:
    """Generate the tasks of these entities of one category, in one transaction (idempotent:
    a task already there is counted, not created again)."""
    with session_scope() as session:
        return generate_tasks(
            session=session, category=category, entity_ids=entity_ids, now=datetime.now(UTC), by=by
        )


def generate_pending(category: Category, *, limit: int, by: str) -> tuple[int, GenerationReport]:
    """Generate the tasks of up to `limit` entities of one category never generated yet, in
    one transaction; how many entities were pending, and the report."""
    with session_scope() as session:
        entity_ids = pending_entity_ids(session=session, category=category, limit=limit)
        report = generate_tasks(
            session=session, category=category, entity_ids=entity_ids, now=datetime.now(UTC), by=by
        )
    return len(entity_ids), report
