"""`haulflow explain`: why a task's e-mail went out or did not, checked from the data.

An operator's troubleshooting list (not in manual mode? e-mail set up? contacts right?)
answered in order: the definition, the task (or why there is none), execution,
e-mail, pauses, schedule, documents, recipients, mailbox, sending, sent, and documents
recorded after the e-mail went out (`on_corrected_document`). Checks that do not
apply are left out. The conclusion: a done task's e-mail (or that none was recorded), a
failure, a skipped or cancelled task; else the first check that stops the e-mail (and the
first one no wait ends, if it comes later); else what the task's status means. Reads only;
the one side effect is the optional SMTP probe (connect, EHLO, login, QUIT).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from core.settings import get_settings
from delivery.explain_checks import (
    Check,
    Facts,
    Findings,
    check_definition,
    check_missing_task,
    check_task,
)
from delivery.explain_readiness import (
    check_documents,
    check_email,
    check_execution,
    check_paused,
    check_schedule,
)
from delivery.explain_sending import (
    check_corrections,
    check_dispatcher,
    check_mailbox,
    check_recipients,
    check_sending,
    check_sent,
)
from lifecycle.entities import EntityRef, find_entity_id, load_snapshots
from models import Mailbox, Task, TaskStatus

__all__ = ["Check", "Explanation", "explain_task"]

_BY_STATUS = {
    TaskStatus.READY: "ready: the next dispatch sends it",
    TaskStatus.SENDING: "being sent",
    TaskStatus.OPEN: "open: for a person",
    TaskStatus.WAITING_FOR_DOCUMENTS: "documents complete: the next dispatch opens the gate",
    TaskStatus.SCHEDULED: "scheduled",
}


# Conclusions that no wait ends: a person or a configuration change must act.
_FINAL = ("will not send", "will fail")


@dataclass
class Explanation:
    """The checks of one task key on one entity, and the one-line conclusion."""

    task_key: str
    entity: str
    task_id: uuid.UUID | None
    status: str | None
    conclusion: str
    checks: list[Check] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain data for `--json`."""
        return {
            "task_key": self.task_key,
            "entity": self.entity,
            "task_id": str(self.task_id) if self.task_id else None,
            "status": self.status,
            "conclusion": self.conclusion,
            "checks": [asdict(check) for check in self.checks],
        }


def explain_task(
    *, session: Session, key: str, ref: EntityRef, now: datetime, probe_smtp: bool = True
) -> Explanation:
    """Why the task `key` on `ref` sent its e-mail or did not; `NotFoundError` for no entity."""
    entity_id = find_entity_id(session=session, ref=ref)
    zone = get_settings().timezone
    snapshot = load_snapshots(
        session=session, category=ref.category, entity_ids=[entity_id], carrier_timezone=zone
    )[entity_id]
    task = session.exec(
        select(Task).where(
            Task.category == ref.category.value,
            Task.entity_id == entity_id,
            Task.definition_key == key,
        )
    ).first()
    found = Findings()
    definition = check_definition(session, key, ref, task, found)
    if definition is not None:
        if task is None:
            check_missing_task(session, key, ref, snapshot, found)
        else:
            check_task(session, task, definition, ref, snapshot, found)
        mailbox = session.get(Mailbox, definition.mailbox_key) if definition.mailbox_key else None
        facts = Facts(session, key, ref, now, snapshot, definition, task, mailbox)
        _run_checks(facts, found, probe_smtp)
    return Explanation(
        task_key=key,
        entity=str(ref),
        task_id=task.id if task else None,
        status=task.status if task else None,
        conclusion=_conclude(task, found),
        checks=found.checks,
    )


def _run_checks(facts: Facts, found: Findings, probe_smtp: bool) -> None:
    check_execution(facts, found)
    check_email(facts, found)
    if facts.sends_email:
        check_paused(facts, found)
    check_schedule(facts, found)
    check_documents(facts, found)
    if facts.sends_email:
        check_recipients(facts, found)
        check_mailbox(facts, found, probe=probe_smtp)
    check_sending(facts, found)
    if facts.sends_email:
        check_dispatcher(facts, found)
    check_sent(facts, found)
    check_corrections(facts, found)


def _conclude(task: Task | None, found: Findings) -> str:
    if task is not None and task.status == TaskStatus.DONE:
        return found.sent or f"done by {task.completed_by or '?'}: no e-mail recorded"
    # A failed groupage trip may have sent some of its e-mails: the failure comes first.
    if task is not None and task.status == TaskStatus.FAILED:
        return f"failed: {task.last_error or 'no reason recorded'}"
    if task is not None and task.status in (TaskStatus.SKIPPED, TaskStatus.CANCELLED):
        return f"will not send: task {task.status}"
    if found.blockers:
        first = found.blockers[0]
        # Waiting for a document hides that the task will fail once it has it.
        final = next((b for b in found.blockers if b.startswith(_FINAL)), first)
        return first if final == first or first.startswith(_FINAL) else f"{first}; then {final}"
    return _BY_STATUS.get(TaskStatus(task.status), task.status) if task else "no task"
