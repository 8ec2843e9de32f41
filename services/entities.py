"""An entity's page: its status history and its tasks with their history and e-mails."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.database import session_scope
from lifecycle.entities import EntityRef as EntityRef
from lifecycle.entities import parse_entity_ref as parse_entity_ref
from lifecycle.entity_page import EntityTaskList as EntityTaskList
from lifecycle.entity_page import TaskHistoryLine as TaskHistoryLine
from lifecycle.entity_page import entity_tasks

if TYPE_CHECKING:
    from delivery.record import EntityEmail


def entity_page(ref: EntityRef) -> EntityTaskList:
    """The page of the entity `ref` names (`NotFoundError` when there is none)."""
    with session_scope() as session:
        return entity_tasks(session=session, ref=ref)


def communications(ref: EntityRef) -> list[EntityEmail]:
    """Every e-mail sent about the entity, oldest first (for an order, also the trip e-mails
    that carried its documents)."""
    # Here, not at the top: `documents upload` reads references through this module and
    # never pays for the e-mail modules (templates, address checks).
    from delivery.record import entity_communications

    with session_scope() as session:
        return entity_communications(session=session, ref=ref)
