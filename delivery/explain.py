"""`haulflow explain`: why a task's e-mail went out or did not, checked from the data.

The seed's troubleshooting list (point 7: not in manual mode? e-mail set up? contacts
right?) answered in order: the definition, the task (or why there is none), execution,
e-mail, pauses, schedule, documents, recipients, mailbox, sending, sent. Checks that do not
apply are left out. The conclusion is what was sent, else the failure, else the first check
that stops the e-mail, else what the task's status means. Reads only; the one side effect is
the optional SMTP probe (connect, EHLO, login, QUIT).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.settings import get_settings
from delivery.explain_checks import (
    Check,
    Facts,
    Findings,
    check_documents,
    check_email,
    check_execution,
    check_paused,
    check_schedule,
)
from delivery.explain_sending import check_mailbox, check_recipients, check_sending, check_sent
from lifecycle.conditions import matches
from lifecycle.entities import (
    ENTITY_MODELS,
    EntityRef,
    EntitySnapshot,
    find_entity_id,
    load_snapshots,
)
from lifecycle.generation import active_definitions
from lifecycle.schedules import format_moment
from models import FINISHED_STATUSES, ConfigVersion, Mailbox, Task, TaskDefinition, TaskStatus

__all__ = ["Check", "Explanation", "explain_task"]

_BY_STATUS = {
    TaskStatus.READY: "ready: the next dispatch sends it",
    TaskStatus.SENDING: "being sent",
    TaskStatus.OPEN: "open: for a person",
    TaskStatus.WAITING_FOR_DOCUMENTS: "documents complete: the next dispatch opens the gate",
    TaskStatus.SCHEDULED: "scheduled",
}


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
    definition = _check_definition(session, key, ref, task, found)
    if definition is not None:
        if task is None:
            _check_missing_task(session, key, ref, snapshot, found)
        else:
            _check_task(session, task, definition, ref, snapshot, found)
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
    check_sent(facts, found)


def _conclude(task: Task | None, found: Findings) -> str:
    if found.sent:
        return found.sent
    if task is not None and task.status == TaskStatus.FAILED:
        return f"failed: {task.last_error or 'no reason recorded'}"
    if task is not None and task.status in (TaskStatus.SKIPPED, TaskStatus.CANCELLED):
        return f"will not send: task {task.status}"
    if task is not None and task.status == TaskStatus.DONE:
        return f"done by {task.completed_by or '?'}: no e-mail recorded"
    if found.blockers:
        return found.blockers[0]
    return _BY_STATUS.get(TaskStatus(task.status), task.status) if task else "no task"


def _check_definition(
    session: Session, key: str, ref: EntityRef, task: Task | None, found: Findings
) -> TaskDefinition | None:
    """The definition the other checks read (the task's own, else the current), or None."""
    latest = session.exec(select(sa.func.max(ConfigVersion.id))).one()
    if latest is None:
        found.add(
            "definition",
            "problem",
            "no configuration applied yet",
            "`haulflow config apply FILE`",
            blocks="will not send: no configuration applied",
        )
        return None
    category = ref.category.value
    current = next(
        (d for d in active_definitions(session=session, category=ref.category) if d.key == key),
        None,
    )
    own = session.get(TaskDefinition, task.definition_id) if task is not None else None
    if current is not None:
        found.add("definition", "ok", f"{key} ({current.name}): {category} task, version {latest}")
        return own or current
    if own is not None:
        found.add(
            "definition",
            "info",
            f"{key} is not among the {category} tasks of the current configuration (version "
            f"{latest}); the task follows version {own.config_version_id}, when it was created",
        )
        return own
    history = session.exec(
        select(TaskDefinition)
        .where(TaskDefinition.key == key)
        .order_by(col(TaskDefinition.config_version_id).desc())
    ).all()
    if history and history[0].config_version_id == latest:
        other = history[0].category
        found.add(
            "definition",
            "problem",
            f"{key} is a {other} task, not a {category} task",
            f"name a {other}: `haulflow explain {key} {other}:REFERENCE`",
            blocks=f"will not send: {key} is a {other} task",
        )
    elif history:
        found.add(
            "definition",
            "problem",
            f"{key} was in configuration version {history[0].config_version_id}, not in the "
            f"current one ({latest})",
            "add it back to the configuration file and `haulflow config apply FILE`",
            blocks=f"will not send: {key} is no longer configured",
        )
    else:
        found.add(
            "definition",
            "problem",
            f"no task definition {key} in any configuration",
            "`haulflow config show` lists the keys",
            blocks=f"will not send: no task definition {key}",
        )
    return None


def _check_task(
    session: Session,
    task: Task,
    definition: TaskDefinition,
    ref: EntityRef,
    snapshot: EntitySnapshot,
    found: Findings,
) -> None:
    created = format_moment(task.created_at, snapshot.timezone)
    detail = (
        f"task {task.id.hex[:8]} created {created} from configuration version "
        f"{definition.config_version_id}; status {task.status}"
    )
    latest = session.exec(select(sa.func.max(ConfigVersion.id))).one()
    # Recalculation leaves finished tasks and one being sent alone: no point suggesting it.
    settled = task.status in FINISHED_STATUSES or task.status == TaskStatus.SENDING
    if latest != definition.config_version_id and not settled:
        found.add(
            "task",
            "info",
            f"{detail}; later versions do not change it (seed 5)",
            f"`haulflow tasks recalculate {ref}` applies version {latest} to it",
        )
    else:
        found.add("task", "ok", detail)


def _check_missing_task(
    session: Session, key: str, ref: EntityRef, snapshot: EntitySnapshot, found: Findings
) -> None:
    """No task: say why, from the entity's status, its generation and the versions of `key`."""
    label = f"{ref.category.value} {ref.reference}"
    run = f"`haulflow tasks run {key} {ref}`"
    if snapshot.status == "cancelled":
        found.add(
            "task",
            "info",
            f"no task: {label} is cancelled, and a cancelled entity gets none",
            blocks=f"will not send: {label} is cancelled",
        )
        return
    generated_at = _generated_at(session, ref, snapshot)
    if generated_at is None:
        found.add(
            "task",
            "waiting",
            "no task yet: generation pending; the sweep or `haulflow import` generates it",
            blocks="waiting for task generation",
        )
        return
    zone = snapshot.timezone
    generated = format_moment(generated_at, zone)
    in_force = session.exec(
        select(sa.func.max(ConfigVersion.id)).where(col(ConfigVersion.applied_at) <= generated_at)
    ).one()
    versions = session.exec(
        select(TaskDefinition, ConfigVersion.applied_at)
        .join(ConfigVersion, col(ConfigVersion.id) == TaskDefinition.config_version_id)
        .where(TaskDefinition.key == key, TaskDefinition.category == ref.category.value)
        .order_by(col(TaskDefinition.config_version_id))
    ).all()
    decided = next((d for d, _ in versions if d.config_version_id == in_force), None)
    if decided is None:
        first, applied_at = versions[0] if versions else (None, None)
        if first is not None and applied_at is not None and applied_at > generated_at:
            detail = (
                f"no task: {label} was created {format_moment(snapshot.created_at, zone)} "
                f"(tasks generated {generated}), before the automation (seed 5): {key} "
                f"arrived in configuration version {first.config_version_id} on "
                f"{format_moment(applied_at, zone)}"
            )
            blocks = "will not send by itself: created before the automation"
        else:
            detail = (
                f"no task: {key} was not in configuration version {in_force}, in force when "
                f"{label}'s tasks were generated ({generated})"
            )
            blocks = f"will not send by itself: {key} was not configured at generation"
        found.add("task", "problem", detail, f"{run} sends it once", blocks=blocks)
    elif not decided.auto_generate:
        found.add(
            "task",
            "problem",
            f"no task: auto_generate is off for {key} (configuration version {in_force})",
            f"{run} creates and sends it",
            blocks="will not send: auto_generate is off",
        )
    elif not matches(decided.spec.get("conditions"), snapshot.fields, timezone=zone):
        conditions = json.dumps(decided.spec.get("conditions"), ensure_ascii=False)
        found.add(
            "task",
            "info",
            f"no task: {key}'s creation conditions do not match {label}: {conditions}",
            f"if it should have one, {run}",
            blocks="will not send: the creation conditions do not match",
        )
    else:
        found.add(
            "task",
            "problem",
            f"no task, although {key} applied when {label}'s tasks were generated "
            f"({generated}); its data may have changed since",
            f"`haulflow tasks recalculate {ref}` adds it",
            blocks="will not send: no task",
        )


def _generated_at(session: Session, ref: EntityRef, snapshot: EntitySnapshot) -> datetime | None:
    model = ENTITY_MODELS[ref.category]
    return session.exec(select(model.tasks_generated_at).where(model.id == snapshot.id)).one()
