"""The generate-tasks flow on a real Prefect server: batches, run names, artifact, idempotency."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from sqlmodel import Session, col, func, select

from flows.generate_tasks import generate_tasks
from models import Category, Order, Task, TaskEvent
from tests.factories import apply_config, make_booking, make_order, make_trip
from tests.flows.conftest import CONFIG
from tests.prefect_server import settled_task_runs

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient


def test_listed_entities_are_generated_in_batches_visible_on_the_server(
    session: Session, prefect_client: SyncPrefectClient
) -> None:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    apply_config(session, CONFIG)
    orders = [make_order(session) for _ in range(5)]
    session.commit()

    state = asyncio.run(
        generate_tasks(
            category=Category.ORDER,
            entity_ids=[str(order.id) for order in orders],
            reason="test",
            batch_size=2,
            return_state=True,
        )
    )

    assert state.is_completed()
    assert state.result() == {
        "order": {
            "requested": 5,
            "entities": 5,
            "created": 10,
            "already_present": 0,
            "not_matching": 0,
        }
    }
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    assert prefect_client.read_flow_run(flow_run_id).name == "generate-tasks order test"
    runs = settled_task_runs(prefect_client, flow_run_id, at_least=3)
    assert [run.name for run in runs] == [
        "generate order tasks x2",
        "generate order tasks x2",
        "generate order tasks x1",
    ]
    assert all(run.state is not None and run.state.is_completed() for run in runs)
    count = select(func.count()).select_from(Task)
    assert session.exec(count.where(col(Task.entity_id).in_([o.id for o in orders]))).one() == 10
    assert set(session.exec(select(TaskEvent.by)).all()) == {f"flow-run:{flow_run_id}"}
    (artifact,) = prefect_client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
    )
    assert artifact.key == "generate-tasks-totals"
    assert '"tasks created": 10' in str(artifact.data)


def test_a_sweep_drains_every_category_and_a_second_sweep_creates_nothing(
    session: Session, prefect_client: SyncPrefectClient
) -> None:
    apply_config(session, CONFIG)
    orders = [make_order(session) for _ in range(3)]
    make_trip(session, orders=orders[:1])
    make_booking(session)  # no booking definition: generated, with no task
    session.commit()

    first = asyncio.run(generate_tasks(batch_size=2, return_state=True))
    second = asyncio.run(generate_tasks(batch_size=2))

    created = {category: counts["created"] for category, counts in first.result().items()}
    assert created == {"order": 6, "booking": 0, "trip": 1, "invoice": 0}
    assert {counts["entities"] for counts in second.values()} == {0}
    flow_run_id = first.state_details.flow_run_id
    assert flow_run_id is not None
    assert prefect_client.read_flow_run(flow_run_id).name == "generate-tasks all sweep"
    # Orders: a full batch of 2 then a short one; one short batch per other category.
    runs = settled_task_runs(prefect_client, flow_run_id, at_least=5)
    assert sorted(run.name for run in runs) == [
        "generate pending booking tasks (up to 2)",
        "generate pending invoice tasks (up to 2)",
        "generate pending order tasks (up to 2)",
        "generate pending order tasks (up to 2)",
        "generate pending trip tasks (up to 2)",
    ]
    pending = select(func.count()).select_from(Order).where(col(Order.tasks_generated_at).is_(None))
    assert session.exec(pending).one() == 0
    assert session.exec(select(func.count()).select_from(Task)).one() == 7
