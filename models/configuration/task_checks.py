"""Check one task definition against its category and what the file declares."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.sourcefile import Loc
from models.configuration.catalog import CategorySpec
from models.configuration.conditions import condition_findings
from models.configuration.messages import did_you_mean
from models.configuration.salvage import salvage
from models.configuration.schema import EmailSpec, TaskDefinition
from models.configuration.templates import absent_values, sample_context, template_problem

if TYPE_CHECKING:
    from models.configuration.checks import Checker

# Stand-ins for a broken key or name, so the rest of the task is still checked.
PLACEHOLDERS = {"key": "task", "name": "Task"}


def check_task(checker: Checker, spec: CategorySpec, loc: Loc, raw: Any) -> None:
    """Report every problem of the task at `loc` that the schema alone cannot see."""
    task, dropped = salvage(TaskDefinition, raw, PLACEHOLDERS)
    if task is not None:
        _TaskCheck(checker, spec, loc, task, raw, dropped).run()
    if isinstance(raw, dict) and "conditions" in raw:
        for where, message in condition_findings(raw["conditions"], spec, ("conditions",)):
            checker.report((*loc, *where), message)


class _TaskCheck:
    """The checks of one task; `dropped` lists its parts the schema rejected."""

    def __init__(
        self,
        checker: Checker,
        spec: CategorySpec,
        loc: Loc,
        task: TaskDefinition,
        raw: Any,
        dropped: list[Loc],
    ) -> None:
        self.checker, self.spec, self.loc, self.task = checker, spec, loc, task
        self.given = set(raw) if isinstance(raw, dict) else set()
        self.dropped = dropped

    def report(self, relative: Loc, message: str) -> None:
        self.checker.report((*self.loc, *relative), message)

    def intact(self, *names: str) -> bool:
        """True when none of these top-level parts was rejected by the schema."""
        return not any(loc[:1] == (name,) for loc in self.dropped for name in names)

    def run(self) -> None:
        self._check_references()
        if self.intact("schedule"):
            self._check_schedule()
        self._check_documents()
        self._check_execution()
        if self.task.email is not None:
            self._check_email(self.task.email)

    def _check_references(self) -> None:
        checker, task = self.checker, self.task
        if task.responsible_ref is not None:
            kind, key = task.responsible_ref
            known = {"user": checker.users, "team": checker.teams, "role": checker.roles}[kind]
            if key not in known:
                self.report(("responsible",), checker.unknown(kind, key, known))
        for index, role in enumerate(task.intended_for.roles):
            if role not in checker.roles:
                loc = ("intended_for", "roles", index)
                self.report(loc, checker.unknown("role", role, checker.roles))
        if task.intended_for.trip_contacts and not self.spec.has_trip_contacts:
            message = f"trip contacts exist only on trips and orders, not on {self.spec.section}"
            self.report(("intended_for", "trip_contacts"), message)
        elif task.intended_for.trip_contacts and checker.trip_contacts_disabled:
            message = (
                "trip contacts are not enabled; add "
                "'extra_fields: {trips: {contact_emails: true}}' at the top of the file"
            )
            self.report(("intended_for", "trip_contacts"), message)
        if task.mailbox is not None and task.mailbox not in checker.mailboxes:
            self.report(("mailbox",), checker.unknown("mailbox", task.mailbox, checker.mailboxes))

    def _check_schedule(self) -> None:
        schedule, spec = self.task.schedule, self.spec
        if schedule.on == "status" and schedule.status is None:
            self.report(
                ("schedule",), f"'on: status' needs 'status:', one of {', '.join(spec.statuses)}"
            )
        elif schedule.status is not None and schedule.on != "status":
            self.report(("schedule", "status"), "'status' applies only to 'on: status'")
        elif schedule.status is not None and schedule.status not in spec.statuses:
            hint = did_you_mean(schedule.status, spec.statuses)
            message = f"{spec.section} have no status '{schedule.status}'{hint}"
            self.report(("schedule", "status"), message)
        if schedule.on == "date" and schedule.date is None:
            self.report(
                ("schedule",), f"'on: date' needs 'date:', one of {', '.join(spec.date_fields)}"
            )
        elif schedule.date is not None and schedule.on != "date":
            self.report(("schedule", "date"), "'date' applies only to 'on: date'")
        elif schedule.date is not None and schedule.date not in spec.date_fields:
            hint = did_you_mean(schedule.date, spec.date_fields)
            self.report(
                ("schedule", "date"), f"{spec.section} have no date '{schedule.date}'{hint}"
            )
        if schedule.offset.total_seconds() < 0 and schedule.on != "date":
            self.report(
                ("schedule", "offset"), "a negative offset needs 'on: date' (before a date)"
            )
        if schedule.on == "documents" and not spec.has_documents:
            self.report(("schedule", "on"), f"{spec.section} have no documents; use another 'on'")
        elif schedule.on == "documents" and not self.task.required_documents:
            if self.intact("required_documents"):
                message = "'on: documents' needs required_documents (e.g. [pod, cmr]) to wait for"
                self.report(("schedule", "on"), message)

    def _check_documents(self) -> None:
        if self.spec.has_documents:
            return
        for name in ("required_documents", "attachments"):
            if getattr(self.task, name) and name in self.given:
                message = (
                    f"{self.spec.section} have no documents; remove {name} (orders and trips do)"
                )
                self.report((name,), message)
        corrected = self.task.on_corrected_document
        if corrected != "ignore" and not self.task.attachments and self.intact("attachments"):
            self.report(
                ("on_corrected_document",),
                f"'{corrected}' applies to documents the e-mail attaches, and this task "
                "attaches none: add 'attachments' (or required_documents) or remove it",
            )

    def _check_execution(self) -> None:
        task = self.task
        if task.execution != "automatic":
            return
        if task.email is None and self.intact("email"):
            self.report(
                ("execution",), "an automatic task sends an e-mail: add 'email' or use 'manual'"
            )
        if task.mailbox is None and self.intact("mailbox"):
            self.report(("execution",), "an automatic task needs a 'mailbox' to send from")
        if task.intended_for.is_empty and self.intact("intended_for"):
            self.report(("execution",), "an automatic task needs recipients: set 'intended_for'")

    def _check_email(self, email: EmailSpec) -> None:
        if email.default_language not in email.languages:
            given = ", ".join(email.languages)
            message = (
                f"default_language '{email.default_language}' has no template (given: {given})"
            )
            self.report(("email", "default_language"), message)
        task = self.task
        context = sample_context(
            self.spec.name,
            task_key=task.key,
            task_name=task.name,
            carrier=self.checker.carrier_name,
        )
        schedule = task.schedule
        absent = absent_values(
            self.spec.name, kept=schedule.date if schedule.on == "date" else None
        )
        for language, template in email.languages.items():
            at = ("email", "languages", language)
            problem = template_problem(
                template.subject, context, html=False, subject=True, absent=absent
            )
            if problem is not None:
                self.report((*at, "subject"), f"template {problem}")
            for part in ("text", "html"):
                inline, path = getattr(template, part), getattr(template, f"{part}_path")
                self._check_body((*at, part), inline, path, context, absent)

    def _check_body(
        self,
        loc: Loc,
        inline: str | None,
        path: str | None,
        context: dict[str, Any],
        absent: list[str],
    ) -> None:
        path_loc = (*loc[:-1], f"{loc[-1]}_path")
        if inline is not None and path is not None:
            self.report(path_loc, f"give either {loc[-1]} or {loc[-1]}_path, not both")
            return
        body, name = inline, "template"
        if path is not None:
            loc, name = path_loc, f"template {path}"
            body = self.checker.read_template((*self.loc, *path_loc), path)
        if body is None:
            return
        problem = template_problem(
            body, context, html=str(loc[-1]).startswith("html"), absent=absent
        )
        if problem is not None:
            self.report(loc, f"{name} {problem}")
