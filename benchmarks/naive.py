"""The naive design, measured beside haulflow's: one flow run per event, one task run per e-mail.

What a first Prefect design of "send the POD e-mail when the documents arrive" looks like:
every upload emits an event of its own (a fresh id, so none is ever dropped), a deployment
triggered by that event starts a flow run for the order, and the flow sends each of the
order's ready e-mails in a task run of its own. Same database, same composing and sending
code as haulflow (`delivery`), so the difference is the orchestration alone.

`python -m benchmarks.naive serve` serves that deployment (the benchmark starts it in place
of `haulflow serve`); the functions below drive it and time it.
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from core.database import session_scope
from core.settings import get_settings
from delivery.claims import claim_ready_tasks
from delivery.sender import deliver_tasks
from models import Order, Task, TaskStatus
from storage.factory import open_document_store

EVENT = "benchmark.naive.document.uploaded"
RESOURCE = {"prefect.resource.id": "benchmark.naive.documents"}


@task(name="naive-send-one", cache_policy=NO_CACHE)
def send_one(task_id: str) -> int:
    """Claim and send one e-mail task; how many messages went out."""
    with session_scope() as session:
        claimed = claim_ready_tasks(
            session=session,
            now=datetime.now(UTC),
            by="naive",
            limit=1,
            task_ids=[uuid.UUID(task_id)],
        )
    report = deliver_tasks(task_ids=claimed, store=open_document_store(get_settings()), by="naive")
    return len(report.sent)


@flow(name="naive-send", flow_run_name="naive-send {order}")
def naive_send(order: str) -> int:
    """Send the ready e-mails of one order, one task run each (the run one event started)."""
    from sqlmodel import select

    with session_scope() as session:
        ids = session.exec(
            select(Task.id)
            .join(Order, Order.id == Task.entity_id)  # type: ignore[arg-type]
            .where(Order.reference == order, Task.status == TaskStatus.READY.value)
        ).all()
    return sum(send_one(str(task_id)) for task_id in ids)


def announce(order: str) -> None:
    """The upload's own event (a fresh id: never dropped as a repeat)."""
    from prefect.events import emit_event

    emit_event(EVENT, resource=dict(RESOURCE), payload={"order": order})


def serve() -> None:
    """Serve the naive deployment, as `haulflow serve` is served (runner poll 1 s, 8 runs)."""
    from prefect import serve as prefect_serve
    from prefect.events import DeploymentEventTrigger

    deployment: Any = naive_send.to_deployment(
        name="per-event",
        triggers=[
            DeploymentEventTrigger(
                name="naive: one run per upload",
                expect={EVENT},
                match=RESOURCE,
                parameters={"order": "{{ event.payload.order }}"},
            )
        ],
    )
    prefect_serve(deployment, limit=8, query_seconds=1)


if __name__ == "__main__":
    if sys.argv[1:] == ["serve"]:
        serve()
    else:
        raise SystemExit("usage: python -m benchmarks.naive serve")
