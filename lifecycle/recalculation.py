"""Re-apply the current configuration to one entity on purpose (`haulflow tasks recalculate`).

Generation never revisits a task; recalculation is the explicit exception:

- A definition of the current version without a task on the entity gets one, by the rules of
  generation (`auto_generate` on, conditions matching, entity not cancelled).
- An unfinished task of a definition still configured is refreshed: it moves to the current
  version's definition row, its responsible and recipients are resolved again, and its status
  and due moment are planned again (a status-triggered task that already fired keeps its
  moment). Conditions are not re-checked: a task created on purpose (`tasks run`) stays.
  On a cancelled entity, unfinished tasks are cancelled.
- Finished tasks (done, failed, skipped, cancelled) and a task being sent are left alone, and
  so are tasks whose definition is no longer configured.

It returns one line per definition and leftover task: `+ KEY (status...)` added,
`~ KEY: what changed` refreshed, `= KEY: status, ...` left as it was, `- KEY: not created
(why)`. A refresh is recorded in the task's history (a status change, or an event keeping the
status, with the note `recalculated: ...`).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from core.settings import get_settings
from lifecycle.conditions import matches
from lifecycle.entities import EntityRef, EntitySnapshot, find_entity_id, load_snapshots
from lifecycle.generation import (
    NewTask,
    active_definitions,
    build_task,
    insert_tasks,
    mark_generated,
    read_fallback_role,
)
from lifecycle.history import record_transition
from lifecycle.recipients import Resolution, resolve_recipients
from lifecycle.rescheduling import SETTLED_STATUSES, move_task
from lifecycle.schedules import Plan, due_status, format_moment, plan_task
from models import Task, TaskDefinition, TaskStatus


def recalculate_entity(*, session: Session, ref: EntityRef, now: datetime, by: str) -> list[str]:
    """Add missing tasks and refresh unfinished ones of `ref`; return what changed, by line."""
    entity_id = find_entity_id(session=session, ref=ref)
    zone = get_settings().timezone
    snapshot = load_snapshots(
        session=session, category=ref.category, entity_ids=[entity_id], carrier_timezone=zone
    )[entity_id]
    definitions = active_definitions(session=session, category=ref.category)
    fallback_role = read_fallback_role(session=session, definitions=definitions)
    existing = {
        task.definition_key: (task, definition)
        for task, definition in session.exec(
            select(Task, TaskDefinition)
            .join(TaskDefinition, col(TaskDefinition.id) == Task.definition_id)
            .where(Task.category == ref.category.value, Task.entity_id == entity_id)
            .order_by(col(TaskDefinition.position))
        ).all()
    }
    recalculation = _Recalculation(session, snapshot, fallback_role, now=now, by=by)
    for definition in definitions:
        found = existing.pop(definition.key, None)
        if found is None:
            recalculation.add(definition)
        else:
            recalculation.refresh(found[0], found[1], definition)
    for task, _ in existing.values():
        recalculation.lines.append(
            f"= {task.definition_key}: {task.status}, not in the current configuration, left alone"
        )
    recalculation.insert_added()
    mark_generated(session=session, category=ref.category, entity_ids=[entity_id], now=now)
    return recalculation.lines


class _Recalculation:
    """The changes to one entity's tasks and the lines describing them."""

    def __init__(
        self,
        session: Session,
        snapshot: EntitySnapshot,
        fallback_role: str | None,
        *,
        now: datetime,
        by: str,
    ) -> None:
        self.session, self.snapshot, self.fallback_role = session, snapshot, fallback_role
        self.now, self.by = now, by
        self.lines: list[str] = []
        # Line index -> task to insert, so a task created meanwhile is reported as such.
        self.added: dict[int, NewTask] = {}

    def resolve(self, definition: TaskDefinition) -> Resolution:
        return resolve_recipients(
            session=self.session,
            intended_for=definition.task_spec.intended_for,
            snapshots=[self.snapshot],
            fallback_role=self.fallback_role,
        )[self.snapshot.id]

    def add(self, definition: TaskDefinition) -> None:
        snapshot, key = self.snapshot, definition.key
        if snapshot.status == "cancelled":
            self.lines.append(f"- {key}: not created ({snapshot.category.value} cancelled)")
        elif not definition.auto_generate:
            self.lines.append(f"- {key}: not created (auto_generate is off)")
        elif not matches(
            definition.task_spec.conditions, snapshot.fields, timezone=snapshot.timezone
        ):
            self.lines.append(f"- {key}: not created (conditions do not match)")
        else:
            resolution = self.resolve(definition)
            new_task = build_task(definition, snapshot, resolution, now=self.now)
            details = [new_task.row["status"]]
            if new_task.row["due_at"] is not None:
                details.append(f"due {self._moment(new_task.row['due_at'])}")
            if resolution.unmatched_roles:
                details.append("unmatched roles: " + ", ".join(resolution.unmatched_roles))
            self.added[len(self.lines)] = new_task
            self.lines.append(f"+ {key} ({'; '.join(details)})")

    def insert_added(self) -> None:
        tasks = list(self.added.values())
        inserted = set(
            insert_tasks(session=self.session, new_tasks=tasks, now=self.now, by=self.by)
        )
        for index, new_task in self.added.items():
            if new_task.row["id"] not in inserted:
                key = new_task.row["definition_key"]
                self.lines[index] = f"= {key}: created meanwhile by another generation"

    def refresh(self, task: Task, old: TaskDefinition, definition: TaskDefinition) -> None:
        key, snapshot = task.definition_key, self.snapshot
        if task.status in SETTLED_STATUSES:
            self.lines.append(f"= {key}: {task.status}, left alone")
            return
        if snapshot.status == "cancelled":
            self.lines.append(f"~ {key}: status {task.status} -> cancelled")
            note = f"recalculated: {snapshot.category.value} cancelled"
            record_transition(
                session=self.session,
                task=task,
                to_status=TaskStatus.CANCELLED,
                by=self.by,
                now=self.now,
                note=note,
            )
            return
        changes = self._refresh_definition(task, old, definition)
        plan = self._plan(task, definition)
        if plan.status != task.status:
            changes.append(f"status {task.status} -> {plan.status}")
        if plan.due_at != task.due_at:
            changes.append(f"due {self._moment(task.due_at)} -> {self._moment(plan.due_at)}")
        if not changes:
            self.lines.append(f"= {key}: {task.status}, unchanged")
            return
        note = "recalculated: " + ", ".join(changes)
        if not move_task(
            session=self.session, task=task, plan=plan, by=self.by, now=self.now, note=note
        ):
            # Only what the task points at changed: the history still says who and why.
            record_transition(
                session=self.session,
                task=task,
                to_status=TaskStatus(task.status),
                by=self.by,
                now=self.now,
                note=note,
            )
        self.lines.append(f"~ {key}: " + ", ".join(changes))

    def _refresh_definition(
        self, task: Task, old: TaskDefinition, definition: TaskDefinition
    ) -> list[str]:
        changes = []
        if task.definition_id != definition.id:
            changes.append(
                f"definition version {old.config_version_id} -> {definition.config_version_id}"
            )
            task.definition_id = definition.id
        if task.responsible != definition.responsible:
            before, after = task.responsible or "-", definition.responsible or "-"
            changes.append(f"responsible {before} -> {after}")
            task.responsible = definition.responsible
        recipients = self.resolve(definition).recipients
        if task.recipients != recipients:
            held = [recipient["email"] for recipient in task.recipients]
            wanted = [recipient["email"] for recipient in recipients]
            diff = [f"+{email}" for email in wanted if email not in held]
            diff += [f"-{email}" for email in held if email not in wanted]
            changes.append("recipients " + (" ".join(diff) if diff else "details updated"))
            task.recipients = recipients
        return changes

    def _plan(self, task: Task, definition: TaskDefinition) -> Plan:
        plan = plan_task(
            spec=definition.task_spec,
            execution=definition.execution,
            snapshot=self.snapshot,
            now=self.now,
        )
        fired = task.due_at
        if definition.task_spec.schedule.on != "status" or fired is None or plan.due_at is None:
            return plan
        # Still reached: keep the moment it fired, not the moment of this recalculation.
        status = due_status(definition.execution) if fired <= self.now else TaskStatus.SCHEDULED
        return Plan(status, fired)

    def _moment(self, moment: datetime | None) -> str:
        return format_moment(moment, self.snapshot.timezone)
