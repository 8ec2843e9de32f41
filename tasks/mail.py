"""Prefect steps of sending: open document gates, claim a batch, send it, raise alerts.

The use cases live in `services.sending`; these steps call them and return plain data.
Claims and gates are safe to retry (they only move what is still in the state they look
for); sending is not retried by Prefect: a task that failed temporarily is already back to
`ready` with its next attempt recorded, and the sweep takes it then.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.runtime import flow_run

from services import sending
from services.sending import DeliveryReport, TaskProblem

TASK_FAILED = "haulflow.task.failed"


def run_id() -> uuid.UUID | None:
    """The current flow run's id, recorded in task history and the communication log."""
    current = flow_run.get_id()
    return uuid.UUID(current) if current else None


def automation_name() -> str:
    """Who the task history names: the flow run, so the Prefect UI leads to it."""
    current = flow_run.get_id()
    return f"flow-run:{current}" if current else "automation"


@task(name="open-document-gates", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def open_gates() -> int:
    """Make due the tasks whose required documents are all recorded; return how many."""
    return sending.open_gates(by=automation_name())


@task(name="claim-batch", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def claim_batch(limit: int, due_by: datetime) -> list[str]:
    """Move up to `limit` ready email tasks to `sending`; return their ids."""
    ids = sending.claim(limit=limit, by=automation_name(), flow_run_id=run_id(), due_by=due_by)
    return [str(task_id) for task_id in ids]


def _send_run_name() -> str:
    from prefect.runtime import task_run

    return f"send x{len(task_run.get_parameters()['task_ids'])}"


@task(name="send-batch", task_run_name=_send_run_name, cache_policy=NO_CACHE)
def send_batch(task_ids: list[str]) -> dict[str, Any]:
    """Send the claimed tasks' e-mails, one SMTP connection per mailbox; alert on failures."""
    report = sending.send_claimed(
        [uuid.UUID(task_id) for task_id in task_ids], by=automation_name(), flow_run_id=run_id()
    )
    for problem in report.failed:
        alert_failure(problem)
    return summarize(report)


def alert_failure(problem: TaskProblem) -> None:
    """A task failed for good: an error in the run's log and a Prefect event to automate on."""
    get_run_logger().error(
        "%s on %s failed: %s", problem.definition_key, problem.entity, problem.error
    )
    emit_event(
        TASK_FAILED,
        resource={
            "prefect.resource.id": f"haulflow.task.{problem.task_id}",
            "prefect.resource.name": f"{problem.definition_key} {problem.entity}",
        },
        payload={
            "task_id": str(problem.task_id),
            "task_key": problem.definition_key,
            "entity": problem.entity,
            "error": problem.error,
        },
    )


def summarize(report: DeliveryReport) -> dict[str, Any]:
    """A delivery report as plain data for the flow and its artifact."""
    return {
        "sent": [
            {
                "task": str(email.task_id),
                "task key": email.definition_key,
                "entity": email.entity,
                "to": ", ".join(email.recipients),
                "subject": email.subject,
                "message id": email.message_id,
                "attachments": email.attachments,
            }
            for email in report.sent
        ],
        "completed": len(report.completed),
        "retrying": [_problem(problem) for problem in report.retrying],
        "failed": [_problem(problem) for problem in report.failed],
        "uncertain": [_problem(problem) for problem in report.uncertain],
    }


def _problem(problem: TaskProblem) -> dict[str, str]:
    return {
        "task": str(problem.task_id),
        "task key": problem.definition_key,
        "entity": problem.entity,
        "error": problem.error,
    }
