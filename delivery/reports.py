"""What a delivery did: the messages accepted, the tasks done, retried, failed or uncertain."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from delivery.task_emails import PlannedEmail


@dataclass(frozen=True)
class SentEmail:
    """One accepted message, for run artifacts and the CLI."""

    task_id: uuid.UUID
    entity: str
    definition_key: str
    recipients: tuple[str, ...]
    subject: str
    message_id: str
    attachments: int

    @classmethod
    def of(cls, email: PlannedEmail, *, task_id: uuid.UUID, entity: str, key: str) -> SentEmail:
        """The summary of a planned message the server accepted."""
        return cls(
            task_id,
            entity,
            key,
            email.recipients,
            email.subject,
            email.message_id,
            len(email.attachments),
        )


@dataclass(frozen=True)
class TaskProblem:
    """A task that failed or will be retried, with why."""

    task_id: uuid.UUID
    entity: str
    definition_key: str
    error: str


@dataclass
class DeliveryReport:
    """What one delivery did; reports of several batches add up with `merge`."""

    sent: list[SentEmail] = field(default_factory=list)
    completed: list[uuid.UUID] = field(default_factory=list)
    retrying: list[TaskProblem] = field(default_factory=list)
    failed: list[TaskProblem] = field(default_factory=list)
    uncertain: list[TaskProblem] = field(default_factory=list)

    def merge(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.completed += other.completed
        self.retrying += other.retrying
        self.failed += other.failed
        self.uncertain += other.uncertain
