"""An entity's page: its status history and its tasks with their history and e-mails."""

from __future__ import annotations

from core.database import session_scope
from delivery.record import EntityEmail, entity_communications
from lifecycle.entities import EntityRef
from lifecycle.entity_page import EntityTaskList, entity_tasks


def entity_page(ref: EntityRef) -> EntityTaskList:
    """The page of the entity `ref` names (`NotFoundError` when there is none)."""
    with session_scope() as session:
        return entity_tasks(session=session, ref=ref)


def communications(ref: EntityRef) -> list[EntityEmail]:
    """Every e-mail sent about the entity, oldest first (for an order, also the trip e-mails
    that carried its documents)."""
    with session_scope() as session:
        return entity_communications(session=session, ref=ref)
