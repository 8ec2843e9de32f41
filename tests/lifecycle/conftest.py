"""Fixtures for lifecycle tests: apply task definitions and generate tasks in one call."""

from __future__ import annotations

import textwrap
from datetime import datetime

import pytest
from sqlmodel import Session

from lifecycle.generation import GenerationReport, generate_tasks
from models import Booking, Category, Invoice, Order, Trip
from models.configuration.store import ApplyReport
from tests.factories import apply_config
from tests.lifecycle.support import EMAIL, HEADER, NOW, Configure, Generate

Entity = Order | Booking | Trip | Invoice


@pytest.fixture
def configure(session: Session) -> Configure:
    """Apply a configuration whose `tasks:` section is `tasks` (YAML), as a new version."""

    def apply(tasks: str, *, fallback_role: str | None = None) -> ApplyReport:
        top = f"fallback_role: {fallback_role}\n" if fallback_role else ""
        body = textwrap.indent(textwrap.dedent(tasks).replace("EMAIL", EMAIL), "  ")
        return apply_config(session, HEADER + top + "tasks:\n" + body)

    return apply


@pytest.fixture
def generate(session: Session) -> Generate:
    """Generate the tasks of entities of one category, by `generator` at `now` (NOW)."""

    def run(category: Category, *entities: Entity, now: datetime = NOW) -> GenerationReport:
        ids = [entity.id for entity in entities]
        return generate_tasks(
            session=session, category=category, entity_ids=ids, now=now, by="generator"
        )

    return run
