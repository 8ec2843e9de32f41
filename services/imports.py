"""Import entities (a file, or an HTTP request's body), then generate and reschedule tasks.

Import and generation are separate transactions on purpose (`cli.import_commands` says why);
`generate_here` is generation without Prefect, in batches, each its own transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.database import get_engine, session_scope
from core.settings import get_settings
from core.sourcefile import SourceDocument
from ingestion.drop_intake import WaitingReport as WaitingReport
from ingestion.drop_intake import take_in_waiting
from ingestion.drops import pending_with_entity
from ingestion.importer import ImportReport, import_file, import_source
from lifecycle.generation import GenerationReport as GenerationReport
from lifecycle.rescheduling import reschedule_entities
from models import Category, utcnow
from services.generation import generate
from storage.factory import open_document_store

# Entities per transaction (and per task run when Prefect runs it): hundreds, not one.
BATCH_SIZE = 500

IdsByCategory = dict[Category, list[uuid.UUID]]


@dataclass
class ImportOutcome:
    """What one import wrote, the tasks it generated and moved, the inbox drops it freed."""

    report: ImportReport
    generated: dict[Category, GenerationReport] = field(default_factory=dict)
    rescheduled: int = 0
    drops: WaitingReport | None = None


def import_entities(source: SourceDocument, *, by: str) -> ImportOutcome:
    """Upsert the document's entities (all or nothing), then generate the tasks of the created
    ones and reschedule those of the changed ones, here, without Prefect."""
    with session_scope() as session:
        report = import_source(source, session=session, by=by)
    created = non_empty(report.created)
    outcome = ImportOutcome(report)
    outcome.generated = generate_here(created, by=by)
    outcome.rescheduled = reschedule(non_empty(report.changed), by=by)
    if {Category.ORDER, Category.TRIP} & set(created):
        outcome.drops = take_in_waiting_drops()
    return outcome


def import_entity_file(path: Path, *, by: str) -> ImportReport:
    """Upsert a file's entities, all or nothing, in one transaction; no generation (the CLI
    runs it as Prefect flow runs when a server answers)."""
    with session_scope() as session:
        return import_file(path, session=session, by=by)


def non_empty(ids: IdsByCategory) -> IdsByCategory:
    """The categories that have ids (an import report lists every category)."""
    return {category: found for category, found in ids.items() if found}


def generate_here(created: IdsByCategory, *, by: str) -> dict[Category, GenerationReport]:
    """What the `generate-tasks` flow does, without Prefect: one transaction per batch."""
    reports: dict[Category, GenerationReport] = {}
    for category, ids in created.items():
        report = reports[category] = GenerationReport()
        for start in range(0, len(ids), BATCH_SIZE):
            report.merge(generate(category, ids[start : start + BATCH_SIZE], by=by))
    return reports


def reschedule(changed: IdsByCategory, *, by: str) -> int:
    """Move the unfinished tasks of updated entities in one transaction (cheap: no Prefect)."""
    if not changed:
        return 0
    with session_scope() as session:
        return sum(
            reschedule_entities(
                session=session, category=category, entity_ids=ids, now=utcnow(), by=by
            )
            for category, ids in changed.items()
        )


def take_in_waiting_drops() -> WaitingReport | None:
    """Inbox drops that arrived before their order or trip are recorded now (None: none
    waited for an entity that exists)."""
    settings = get_settings()
    engine = get_engine()
    if not _pending_with_entity_exists(engine):
        return None
    return take_in_waiting(
        store=open_document_store(settings),
        settings=settings,
        engine=engine,
        now=utcnow(),
        expire=False,
    )


def _pending_with_entity_exists(engine: Engine) -> bool:
    """Whether any waiting inbox drop's entity exists (one query; usually none)."""
    with Session(engine) as session:
        return bool(pending_with_entity(session=session, limit=1))
