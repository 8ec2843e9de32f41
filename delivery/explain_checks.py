"""The checklist of `explain`: its verdicts, what checks read, and the first two checks.

Each check reads the facts and adds a `Check` to `Findings`; one that stops the e-mail also
names the reason (`blocks`), and the first such reason becomes the conclusion. Here: the
definition (in the current configuration? of this category?) and the task (or why there is
none); `explain_readiness` and `explain_sending` hold the rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Session, col, select

from lifecycle.conditions import matches
from lifecycle.entities import ENTITY_MODELS, EntityRef, EntitySnapshot
from lifecycle.generation import active_definitions
from lifecycle.schedules import format_moment
from models import (
    FINISHED_STATUSES,
    ConfigVersion,
    Mailbox,
    Task,
    TaskDefinition,
    TaskStatus,
)
from models.definitions import TaskSpec

Verdict = Literal["ok", "problem", "waiting", "info", "skipped"]


@dataclass(frozen=True)
class Check:
    """One line of the checklist: what was checked, the verdict, why, and what to do."""

    name: str
    verdict: Verdict
    detail: str
    action: str | None = None


@dataclass
class Findings:
    """The checks so far and, in check order, the reasons the e-mail does not go out."""

    checks: list[Check] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    sent: str | None = None

    def add(
        self,
        name: str,
        verdict: Verdict,
        detail: str,
        action: str | None = None,
        *,
        blocks: str | None = None,
    ) -> None:
        """Add a check; `blocks` is the conclusion it leads to when it stops the e-mail."""
        self.checks.append(Check(name, verdict, detail, action))
        if blocks is not None:
            self.blockers.append(blocks)


@dataclass
class Facts:
    """What every check reads: the entity, the definition that applies, its task if any."""

    session: Session
    key: str
    ref: EntityRef
    now: datetime
    snapshot: EntitySnapshot
    # The task's own definition row when there is a task (a task keeps the version it was
    # created under), else the current one.
    definition: TaskDefinition
    task: Task | None
    mailbox: Mailbox | None

    @property
    def spec(self) -> TaskSpec:
        return self.definition.task_spec

    @property
    def label(self) -> str:
        """`order ORD-1001`, as messages name the entity."""
        return f"{self.ref.category.value} {self.ref.reference}"

    @property
    def run_command(self) -> str:
        """What a person runs to act on this task: send it, or (no e-mail) mark it done."""
        if self.sends_email:
            return f"`haulflow tasks run {self.key} {self.ref}`"
        task = self.task.id.hex[:8] if self.task is not None else "TASK_ID"
        return f"`haulflow tasks done {task} --by USERNAME` once a person did it"

    @property
    def finished(self) -> bool:
        return self.task is not None and self.task.status in FINISHED_STATUSES

    @property
    def sends_email(self) -> bool:
        return bool(self.definition.mailbox_key and self.spec.email)

    def moment(self, value: datetime | None) -> str:
        """`value` in the entity's timezone."""
        return format_moment(value, self.snapshot.timezone)


def check_definition(
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


def check_task(
    session: Session,
    task: Task,
    definition: TaskDefinition,
    ref: EntityRef,
    snapshot: EntitySnapshot,
    found: Findings,
) -> None:
    """The task exists: when it was created, from which version, and its status."""
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
            f"{detail}; later versions do not change a task already created",
            f"`haulflow tasks recalculate {ref}` applies version {latest} to it",
        )
    else:
        found.add("task", "ok", detail)


def check_missing_task(
    session: Session, key: str, ref: EntityRef, snapshot: EntitySnapshot, found: Findings
) -> None:
    """No task: say why, from the entity's status, its generation and the versions of `key`."""
    label = f"{ref.category.value} {ref.reference}"
    current = next(
        (d for d in active_definitions(session=session, category=ref.category) if d.key == key),
        None,
    )
    if current is None or (current.mailbox_key and current.task_spec.email):
        run, sends, creates = (
            f"`haulflow tasks run {key} {ref}`",
            "sends it once",
            "creates and sends it",
        )
    else:
        # `tasks run` refuses a task that sends no e-mail; recalculation adds it.
        run, sends = f"`haulflow tasks recalculate {ref}`", "adds it (it sends no e-mail)"
        creates = "adds it once auto_generate is on (it sends no e-mail)"
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
                f"(tasks generated {generated}), before the automation: {key} "
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
        found.add("task", "problem", detail, f"{run} {sends}", blocks=blocks)
    elif not decided.auto_generate:
        found.add(
            "task",
            "problem",
            f"no task: auto_generate is off for {key} (configuration version {in_force})",
            f"{run} {creates}",
            blocks="will not send: auto_generate is off",
        )
    elif not matches(decided.task_spec.conditions, snapshot.fields, timezone=zone):
        conditions = json.dumps(decided.task_spec.conditions, ensure_ascii=False)
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
