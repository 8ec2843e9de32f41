"""The document gate: a task waiting for documents becomes due once they are all recorded.

The gate reads `documents` rows, never the store: an object that reached the bucket without
a row is first recorded by `reconciliation`. An order's task needs each required type for
that order; a trip's task needs each type for every order the trip carries (see
`lifecycle.snapshot_queries`). Opening a gate re-plans the task with `plan_task`, exactly as
generation would have planned it had the documents been there: an automatic task becomes
`ready` (or `scheduled` with an offset), a manual one `open`.

Only waiting tasks whose entity has at least one document are looked at, so a sweep over
thousands of tasks still waiting for their first scan costs one query; and an entity is
loaded whole only when its recorded types cover what a task requires (a POD alone, awaiting
its CMR, costs one more query, not a snapshot; the snapshot reuses the types read).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.settings import get_settings
from lifecycle.entities import in_chunks, load_snapshots
from lifecycle.rescheduling import move_task
from lifecycle.schedules import plan_task
from lifecycle.snapshot_queries import DocumentTypes, recorded_document_types
from models import Category, Document, Task, TaskDefinition, TaskStatus, TripOrder


def open_document_gates(
    *,
    session: Session,
    now: datetime,
    by: str,
    order_ids: list[uuid.UUID] | None = None,
    limit: int = 2_000,
    trip_ids: list[uuid.UUID] | None = None,
    order_document_types: DocumentTypes | None = None,
) -> list[uuid.UUID]:
    """Re-plan waiting tasks whose documents may be complete; return the ids that moved.

    With `order_ids`, only the tasks of those orders and of the trips carrying them. What
    the caller has just read in this transaction is not read again: `trip_ids`, the trips
    carrying `order_ids`; `order_document_types`, the types recorded per order.
    """
    candidates = _waiting_with_documents(session, order_ids, trip_ids, limit)
    moved: list[uuid.UUID] = []
    by_category: dict[Category, list[tuple[Task, TaskDefinition]]] = defaultdict(list)
    for task, definition in candidates:
        by_category[Category(task.category)].append((task, definition))
    zone = get_settings().timezone
    for category, pairs in by_category.items():
        for chunk in in_chunks(pairs):
            ids = [task.entity_id for task, _ in chunk]
            recorded = (
                order_document_types
                if category is Category.ORDER
                and order_document_types is not None
                and all(entity_id in order_document_types for entity_id in ids)
                else recorded_document_types(session, category, ids)
            )
            complete = [
                (task, definition)
                for task, definition in chunk
                if set(definition.task_spec.required_documents)
                <= recorded.get(task.entity_id, frozenset())
            ]
            if not complete:
                continue
            snapshots = load_snapshots(
                session=session,
                category=category,
                entity_ids=[task.entity_id for task, _ in complete],
                carrier_timezone=zone,
                document_types=recorded,
            )
            for task, definition in complete:
                snapshot = snapshots.get(task.entity_id)
                if snapshot is None:
                    continue
                plan = plan_task(
                    spec=definition.task_spec,
                    execution=definition.execution,
                    snapshot=snapshot,
                    now=now,
                )
                if plan.status is TaskStatus.WAITING_FOR_DOCUMENTS:
                    continue
                required = ", ".join(definition.task_spec.required_documents) or "none"
                note = f"required documents recorded ({required})"
                if move_task(session=session, task=task, plan=plan, by=by, now=now, note=note):
                    moved.append(task.id)
    return moved


def _waiting_with_documents(
    session: Session,
    order_ids: list[uuid.UUID] | None,
    trip_ids: list[uuid.UUID] | None,
    limit: int,
) -> list[tuple[Task, TaskDefinition]]:
    """Waiting tasks of orders with a document, and of trips carrying an order with one;
    with `order_ids` (orders that just got one), the waiting tasks of those orders and of
    the trips carrying them."""
    scope: sa.ColumnElement[bool]
    if order_ids is None:
        order_has_document = sa.exists().where(col(Document.order_id) == Task.entity_id)
        trip_has_document = sa.exists().where(
            col(TripOrder.trip_id) == Task.entity_id,
            col(Document.order_id) == TripOrder.order_id,
        )
        scope = sa.or_(
            sa.and_(col(Task.category) == Category.ORDER.value, order_has_document),
            sa.and_(col(Task.category) == Category.TRIP.value, trip_has_document),
        )
    else:
        # The entity ids spelled out, so that the (entity_id, status) index is the one used:
        # given a condition it cannot index, SQLite reads every waiting task instead. (The
        # trips as a subquery, tried, saved this query but let PostgreSQL read every waiting
        # task too until its statistics knew the table, as right after an import.)
        if trip_ids is None:
            trip_ids = list(
                session.exec(
                    select(TripOrder.trip_id).where(col(TripOrder.order_id).in_(order_ids))
                ).all()
            )
        scope = sa.and_(
            col(Task.category).in_([Category.ORDER.value, Category.TRIP.value]),
            col(Task.entity_id).in_([*order_ids, *trip_ids]),
        )
    statement = (
        select(Task, TaskDefinition)
        .join(TaskDefinition, col(TaskDefinition.id) == Task.definition_id)
        .where(Task.status == TaskStatus.WAITING_FOR_DOCUMENTS.value)
        .where(scope)
        .order_by(col(Task.created_at), col(Task.id))
        .limit(limit)
        .with_for_update(skip_locked=True, of=Task)
    )
    return [(task, definition) for task, definition in session.exec(statement).all()]
