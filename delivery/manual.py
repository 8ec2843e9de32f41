"""A person runs an email task by hand: for entities created before the automation.

`prepare_run` decides, per entity, what a run does, and (unless `dry_run`) writes it:

- no task of that key → created from the current definition, recipients resolved now;
- done → nothing ("already sent"; `tasks resend` sends again on purpose), so running the
  same command twice never sends twice;
- being sent → nothing; cancelled entity or task → refused;
- required documents missing → nothing sent, the missing types named;
- otherwise → `ready`, queued for sending by the person (a failed task starts its attempts
  again; one that had no recipient gets today's contacts).

A dry run writes nothing: it composes the e-mails in memory and shows who would receive
what, with which attachments. `runs.run_by_hand` calls it a page of entities at a time,
then sends the queued tasks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from core.moments import human_moment
from core.settings import get_settings
from core.text import counted
from delivery.mailboxes import password_problem
from delivery.task_emails import ComposeError, compose_task
from lifecycle.entities import (
    EntitySnapshot,
    load_snapshots,
)
from lifecycle.generation import build_task, insert_tasks, read_fallback_role
from lifecycle.history import record_transition
from lifecycle.recipients import Resolution, resolve_recipients
from models import Category, Task, TaskDefinition, TaskStatus
from storage.base import DocumentStore


@dataclass(frozen=True)
class Preview:
    """One e-mail a run would send."""

    recipients: tuple[str, ...]
    language: str
    subject: str
    attachments: tuple[str, ...]
    size: int


@dataclass
class RunItem:
    """What a run does (or would do) on one entity."""

    entity: str
    outcome: str
    task_id: uuid.UUID | None = None
    queued: bool = False
    previews: list[Preview] = field(default_factory=list)


def prepare_run(
    *,
    session: Session,
    store: DocumentStore,
    definition: TaskDefinition,
    entities: list[tuple[uuid.UUID, str]],
    by: str,
    now: datetime,
    dry_run: bool,
    flow_run_id: uuid.UUID | None = None,
) -> list[RunItem]:
    """Per entity, create or requeue the task (or, dry, compose its e-mails); caller commits."""
    category = Category(definition.category)
    snapshots = load_snapshots(
        session=session,
        category=category,
        entity_ids=[entity_id for entity_id, _ in entities],
        carrier_timezone=get_settings().timezone,
    )
    existing = _tasks_of(session, definition, list(snapshots))
    run = _Run(session, store, definition, by=by, now=now, dry_run=dry_run)
    run.flow_run_id = flow_run_id
    # One recipient resolution and one insert for the whole page, not one per entity.
    run.resolve(
        [s for s in snapshots.values() if s.id not in existing or not existing[s.id].recipients]
    )
    if not dry_run:
        missing = [
            s for s in snapshots.values() if s.id not in existing and s.status != "cancelled"
        ]
        if missing:
            run.created = run.create_all(missing)
            existing = _tasks_of(session, definition, list(snapshots))
    return [
        run.one(snapshots[entity_id], existing.get(entity_id), f"{category.value}:{reference}")
        for entity_id, reference in entities
    ]


def _tasks_of(
    session: Session, definition: TaskDefinition, entity_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Task]:
    """The task of `definition`'s key on each of these entities that has one."""
    statement = select(Task).where(
        Task.category == definition.category,
        Task.definition_key == definition.key,
        col(Task.entity_id).in_(entity_ids),
    )
    return {task.entity_id: task for task in session.exec(statement).all()}


class _Run:
    def __init__(
        self,
        session: Session,
        store: DocumentStore,
        definition: TaskDefinition,
        *,
        by: str,
        now: datetime,
        dry_run: bool,
    ) -> None:
        self.session, self.store, self.definition = session, store, definition
        self.by, self.now, self.dry_run = by, now, dry_run
        self.fallback_role = read_fallback_role(session=session, definitions=[definition])
        self.flow_run_id: uuid.UUID | None = None
        self.resolutions: dict[uuid.UUID, Resolution] = {}
        self.created: set[uuid.UUID] = set()

    def one(self, snapshot: EntitySnapshot, task: Task | None, label: str) -> RunItem:
        if snapshot.status == "cancelled":
            return RunItem(
                label, f"{label} is cancelled: nothing to send", task.id if task else None
            )
        fresh = task is not None and task.id in self.created
        if task is not None and not fresh:
            blocked = self._blocked(task)
            if blocked:
                return RunItem(label, blocked, task.id)
        missing = sorted(
            set(self.definition.task_spec.required_documents) - snapshot.document_types
        )
        if missing:
            what = "create the task and wait" if fresh else "wait"
            outcome = f"missing documents: {', '.join(missing)} ({what}; upload them)"
            return RunItem(label, outcome, task.id if task else None)
        if self.dry_run:
            return self._preview(snapshot, task or self._transient(snapshot), label)
        assert task is not None  # created with the page
        outcome = "created and queued" if fresh else f"queued (was {task.status})"
        self._queue(task, snapshot)
        return RunItem(label, outcome, task.id, queued=True)

    def resolve(self, snapshots: list[EntitySnapshot]) -> None:
        """The recipients of these entities, resolved now, for the tasks made or refreshed."""
        if snapshots:
            self.resolutions |= resolve_recipients(
                session=self.session,
                intended_for=self.definition.task_spec.intended_for,
                snapshots=snapshots,
                fallback_role=self.fallback_role,
            )

    def create_all(self, snapshots: list[EntitySnapshot]) -> set[uuid.UUID]:
        """Insert the task on each of these entities; the ids inserted (another run may have
        inserted some first: the caller reads back whichever rows won)."""
        new_tasks = [
            build_task(self.definition, snapshot, self._resolution(snapshot), now=self.now)
            for snapshot in snapshots
        ]
        inserted = insert_tasks(
            session=self.session,
            new_tasks=new_tasks,
            now=self.now,
            by=self.by,
            flow_run_id=self.flow_run_id,
        )
        return set(inserted)

    def _blocked(self, task: Task) -> str | None:
        if task.status == TaskStatus.DONE:
            when = human_moment(task.completed_at) if task.completed_at else "earlier"
            return f"already sent ({when}); `haulflow tasks resend {task.id}` sends it again"
        if task.status == TaskStatus.SENDING:
            return "being sent right now"
        if task.status == TaskStatus.CANCELLED:
            return "the task was cancelled"
        return None

    def _resolution(self, snapshot: EntitySnapshot) -> Resolution:
        if snapshot.id not in self.resolutions:
            self.resolve([snapshot])
        return self.resolutions[snapshot.id]

    def _transient(self, snapshot: EntitySnapshot) -> Task:
        resolution = self._resolution(snapshot)
        return Task(**build_task(self.definition, snapshot, resolution, now=self.now).row)

    def _queue(self, task: Task, snapshot: EntitySnapshot) -> None:
        if task.status == TaskStatus.READY and task.next_attempt_at is None:
            return
        if task.status == TaskStatus.FAILED:
            task.attempts = 0
        if not task.recipients:
            task.recipients = self._resolution(snapshot).recipients
        task.next_attempt_at = None
        record_transition(
            session=self.session,
            task=task,
            to_status=TaskStatus.READY,
            by=self.by,
            now=self.now,
            note="run by hand",
            flow_run_id=self.flow_run_id,
        )
        task.completed_at = task.completed_by = None

    def _preview(self, snapshot: EntitySnapshot, task: Task, label: str) -> RunItem:
        try:
            _, mailbox, emails = compose_task(
                session=self.session, store=self.store, task=task, now=self.now
            )
        except ComposeError as error:
            return RunItem(label, f"would fail: {error}", task.id if task.id else None)
        except Exception as error:  # data no check foresaw: say so, never a traceback
            reason = f"{type(error).__name__}: {error}"
            return RunItem(label, f"would fail: {reason}", task.id if task.id else None)
        previews = [
            Preview(
                email.recipients,
                email.language,
                email.subject,
                tuple(str(a["filename"]) for a in email.attachments),
                len(email.data),
            )
            for email in emails
        ]
        mailbox_note = " (mailbox paused: it would wait)" if mailbox.paused else ""
        if (problem := password_problem(mailbox)) is not None:
            # The run would wait with backoff, as for any mailbox problem (delivery.sender).
            mailbox_note = f" (mailbox {mailbox.key} cannot log in: {problem}; it would wait)"
        outcome = f"would send {counted(len(emails), 'e-mail')}{mailbox_note}"
        return RunItem(label, outcome, None, False, previews)
