"""`haulflow demo`: the POD/CMR story, told by the real system and checked at every step.

An order from before the automation → the example configuration applied → orders and trips
imported, tasks generated → the POD uploaded (nothing sent) → the CMR uploaded → one e-mail
with both PDFs in the SMTP sink → the task done in the history → a configuration change
leaves the older order alone → a hand run sends the older order's e-mail once. Uploads go
through the same intake and wake-up as `documents upload`; the e-mail is sent by the served
`dispatch` deployment on the demo's own Prefect server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from models import Category, DocumentType
from services.documents import upload_document
from services.entities import EntityRef, communications, entity_page
from services.imports import import_entity_file
from services.tasks import archived_email, hand_run
from stack.demo_data import (
    CONFIG_FILE,
    ENTITIES_FILE,
    OLDER_ORDER_FILE,
    generate_pending_tasks,
    minimal_pdf,
)
from stack.demo_scenario import apply_file, changed_configuration

ORDER, OLD_ORDER, TASK = "ORD-1001", "ORD-0999", "send-pod"
MAIL_TIMEOUT_SECONDS = 90.0
RECORD_TIMEOUT_SECONDS = 30.0
LOGS_HINT = "see var/demo-run/logs/serve.log and `haulflow explain send-pod order:ORD-1001`"


@dataclass
class Step:
    """One step of the story: what was checked, whether it held, what was seen."""

    name: str
    ok: bool = False
    detail: str = ""
    seconds: float = 0.0


@dataclass
class DemoRun:
    """Every step so far; the demo succeeds only if every step held."""

    steps: list[Step] = field(default_factory=list)
    report: Callable[[Step], None] = lambda step: None

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)

    def check(
        self, name: str, action: Callable[[], tuple[bool, str]], *, took: float | None = None
    ) -> bool:
        """Run one step and report it; `took`: its time when it ran before (the stack's start)."""
        started = time.monotonic()
        step = Step(name)
        try:
            step.ok, step.detail = action()
        except Exception as error:  # a failed step is reported, and the story stops there
            step.ok, step.detail = False, f"{type(error).__name__}: {error}"
        step.seconds = round(time.monotonic() - started if took is None else took, 2)
        self.steps.append(step)
        self.report(step)
        return step.ok

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "steps": [asdict(step) for step in self.steps]}


def tell_story(run: DemoRun, stack_seconds: float, sink_dir: Path) -> None:
    """Run the steps in order, stopping at the first that does not hold."""
    story = _Story(sink_dir)
    started = (True, f"Prefect server, served deployments, SMTP sink in {stack_seconds:.0f} s")
    if not run.check("stack started", lambda: started, took=stack_seconds):
        return
    steps: list[tuple[str, Callable[[], tuple[bool, str]]]] = [
        ("an order from before the automation", story.old_order),
        ("configuration applied", story.configure),
        ("orders and trips created, tasks generated", story.import_entities),
        ("POD uploaded: nothing sent", story.upload_pod),
        ("CMR uploaded: one e-mail with both documents", story.upload_cmr),
        ("the task completed in the history", story.history),
        ("a configuration change leaves the older order alone", story.change_configuration),
        ("a hand run sends the older order's e-mail once", story.hand_run),
    ]
    for name, action in steps:
        if not run.check(name, action):
            return


class _Story:
    def __init__(self, sink_dir: Path) -> None:
        self.sink_dir = sink_dir
        self.scans: dict[str, bytes] = {}

    def old_order(self) -> tuple[bool, str]:
        import_entity_file(OLDER_ORDER_FILE, by="demo")
        # Generated like any import: with no configuration yet, it gets no task, for good.
        generate_pending_tasks(by="demo")
        tasks = self._tasks(OLD_ORDER)
        return not tasks, f"order:{OLD_ORDER} imported with no configuration: {len(tasks)} tasks"

    def configure(self) -> tuple[bool, str]:
        version = apply_file(CONFIG_FILE.read_text(encoding="utf-8"), CONFIG_FILE.name)
        return version == 1, f"examples/{CONFIG_FILE.name} is configuration version {version}"

    def import_entities(self) -> tuple[bool, str]:
        report = import_entity_file(ENTITIES_FILE, by="demo")
        created = generate_pending_tasks(by="demo")
        statuses = {view.key: view.status for view in self._tasks(ORDER)}
        ok = statuses.get(TASK) == "waiting_for_documents" and not self._tasks(OLD_ORDER)
        imported = "; ".join(report.summarize())
        return ok, f"{imported}; {created} tasks; {ORDER} {TASK}: {statuses.get(TASK)}"

    def upload_pod(self) -> tuple[bool, str]:
        self._upload(ORDER, "pod")
        time.sleep(4)  # long enough for a wrongly woken dispatch to have sent
        status = self._status(ORDER)
        ok = status == "waiting_for_documents" and not self._emails(ORDER)
        return ok, f"{TASK} is {status}; {len(self._emails(ORDER))} e-mails for {ORDER}"

    def upload_cmr(self) -> tuple[bool, str]:
        uploaded = time.monotonic()
        self._upload(ORDER, "cmr")
        emails = self._wait_for_emails(ORDER, 1)
        seconds = time.monotonic() - uploaded
        if not emails:
            return False, f"no e-mail after {MAIL_TIMEOUT_SECONDS:.0f} s: {LOGS_HINT}"
        message = emails[0]
        attached = {str(p.get_filename()): p.get_content() for p in message.iter_attachments()}
        expected = {
            f"{ORDER}-pod.pdf": self.scans[f"{ORDER}-pod"],
            f"{ORDER}-cmr.pdf": self.scans[f"{ORDER}-cmr"],
        }
        ok = len(emails) == 1 and attached == expected
        return ok, (
            f"{seconds:.1f} s after the upload: to {message['To']}, "
            f"reply-to {message['Reply-To']}, subject {message['Subject']!r}, "
            f"attachments {sorted(attached)} byte-equal to the uploads"
        )

    def history(self) -> tuple[bool, str]:
        # The server's 250 comes before the run archives and records the e-mail.
        deadline = time.monotonic() + RECORD_TIMEOUT_SECONDS
        while self._status(ORDER) == "sending" and time.monotonic() < deadline:
            time.sleep(0.25)
        [view] = [view for view in self._tasks(ORDER) if view.key == TASK]
        logged = [
            email.communication
            for email in communications(EntityRef(Category.ORDER, ORDER))
            if email.communication.task_id == view.id
        ]
        archive = archived_email(str(logged[0].id))[1] if logged else b""
        on_disk = [path.read_bytes() for path in sorted(self.sink_dir.glob("*.eml"))]
        ok = view.status == "done" and len(logged) == 1 and archive in on_disk
        return (
            ok,
            f"{TASK} {view.status} by {view.completed_by}; e-mail logged and archived "
            f"({len(archive):,} bytes, as received)",
        )

    def change_configuration(self) -> tuple[bool, str]:
        before = self._definition_versions(ORDER)
        version = apply_file(changed_configuration(), "tasks-v2.yaml")
        after = self._definition_versions(ORDER)
        old_tasks = self._tasks(OLD_ORDER)
        ok = version == 2 and before == after and not old_tasks
        return ok, (
            f"version {version} applied; {ORDER} keeps its tasks of version "
            f"{sorted(set(after.values()))}; "
            f"order:{OLD_ORDER} still has {len(old_tasks)} tasks (not retroactive)"
        )

    def hand_run(self) -> tuple[bool, str]:
        self._upload(OLD_ORDER, "pod")
        self._upload(OLD_ORDER, "cmr")
        time.sleep(3)
        before = len(self._emails(OLD_ORDER))
        ref = EntityRef(Category.ORDER, OLD_ORDER)
        first = hand_run(key=TASK, refs=[ref], created_before=None, dry_run=False, by="alice")
        second = hand_run(key=TASK, refs=[ref], created_before=None, dry_run=False, by="alice")
        emails = self._wait_for_emails(OLD_ORDER, 1)
        ok = (
            before == 0
            and len(first.report.sent) == 1
            and not second.report.sent
            and len(emails) == 1
        )
        return (
            ok,
            f"first run: {first.items[0].outcome}; second run: {second.items[0].outcome}; "
            f"{len(emails)} e-mail",
        )

    def _upload(self, reference: str, kind: str) -> None:
        data = minimal_pdf([f"{kind.upper()} {reference}", "haulflow demo"])
        self.scans[f"{reference}-{kind}"] = data
        upload_document(
            ref=EntityRef(Category.ORDER, reference),
            doc_type=DocumentType(kind),
            data=data,
            filename=f"{reference}-{kind}.pdf",
            source="demo",
        )

    def _tasks(self, reference: str) -> list[Any]:
        return list(entity_page(EntityRef(Category.ORDER, reference)).tasks)

    def _status(self, reference: str) -> str | None:
        return next((view.status for view in self._tasks(reference) if view.key == TASK), None)

    def _definition_versions(self, reference: str) -> dict[str, int]:
        return {view.key: view.config_version for view in self._tasks(reference)}

    def _emails(self, reference: str) -> list[EmailMessage]:
        messages = []
        for path in sorted(self.sink_dir.glob("*.eml")):
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            if isinstance(message, EmailMessage) and reference in str(message["Subject"]):
                messages.append(message)
        return messages

    def _wait_for_emails(self, reference: str, count: int) -> list[EmailMessage]:
        deadline = time.monotonic() + MAIL_TIMEOUT_SECONDS
        while len(emails := self._emails(reference)) < count and time.monotonic() < deadline:
            time.sleep(0.25)
        return emails
