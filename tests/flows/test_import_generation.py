"""`haulflow import` generates tasks: as a flow run with a server, in process without one."""

from __future__ import annotations

import re
import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session, col, func, select

from core.events import wake_up_event_id
from models import Order, Task, TaskEvent
from tests.factories import apply_config
from tests.flows.conftest import CONFIG, RunHaulflow
from tests.prefect_server import free_port, settled_task_runs, stored_events

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

FLOW_RUN = re.compile(
    r"order tasks: ([\d,]+) entit(?:y|ies): ([\d,]+) tasks? created.*\(flow run ([0-9a-f-]{36})\)"
)

SMALL_FILE = """
parties:
  - {reference: SMALLCUST, kind: customer, name: Small Customer, country: FR,
     language: fr, timezone: Europe/Paris}
orders:
  - {reference: SMALL-1, customer: SMALLCUST, status: planned}
  - {reference: SMALL-2, customer: SMALLCUST, status: planned}
trips:
  - {reference: SMALL-TRP, status: planned, orders: [SMALL-1]}
"""


def write_orders(path: Path, count: int) -> Path:
    """An import file of one customer and `count` orders."""
    lines = [
        "parties:",
        "  - {reference: BULK, kind: customer, name: Bulk Customer, country: FR, language: fr,"
        " timezone: Europe/Paris}",
        "orders:",
    ]
    lines += [
        f"  - {{reference: BULK-{n:05d}, customer: BULK, status: planned, "
        "pickup: {country: FR, at: '2026-12-01T08:00'}, "
        "delivery: {country: BE, at: '2026-12-02T14:00'}}"
        for n in range(count)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def small_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(textwrap.dedent(SMALL_FILE), encoding="utf-8")
    return path


def count_tasks(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Task)).one()


def test_without_a_server_import_generates_in_process_and_never_starts_one(
    session: Session, run_haulflow: RunHaulflow, tmp_path: Path, prefect_home: Path
) -> None:
    apply_config(session, CONFIG)
    session.commit()

    result = run_haulflow("import", small_file(tmp_path), "--by", "tms")

    assert result.returncode == 0, result.stderr
    assert (
        "Prefect server not reachable (not configured): tasks generated in this process; "
        "no run appears in the Prefect UI"
    ) in result.stdout
    assert "order tasks: 2 entities: 4 tasks created" in result.stdout
    assert "trip tasks: 1 entity: 1 task created" in result.stdout
    # A process that never imported Prefect started no server, ephemeral or other.
    assert not result.prefect_imported
    assert not list(prefect_home.rglob("*.db"))
    assert count_tasks(session) == 5
    assert set(session.exec(select(TaskEvent.by)).all()) == {"tms"}


def test_with_an_unreachable_server_import_still_works_quickly(
    session: Session, run_haulflow: RunHaulflow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_config(session, CONFIG)
    session.commit()
    closed = f"http://127.0.0.1:{free_port()}/api"
    monkeypatch.setenv("PREFECT_API_URL", closed)

    result = run_haulflow("import", small_file(tmp_path))

    assert result.returncode == 0, result.stderr
    assert f"Prefect server not reachable at {closed}: tasks generated in this process" in (
        result.stdout
    )
    assert not result.prefect_imported
    assert count_tasks(session) == 5
    # Start-up and a tiny import take a few seconds; the refused health check adds nothing.
    assert result.seconds < 15


def test_with_a_server_import_runs_the_flow_and_emits_a_wake_up(
    session: Session, run_haulflow: RunHaulflow, tmp_path: Path, prefect_client: SyncPrefectClient
) -> None:
    apply_config(session, CONFIG)
    session.commit()
    started = datetime.now(UTC)

    result = run_haulflow("import", small_file(tmp_path))

    finished = datetime.now(UTC)
    assert result.returncode == 0, result.stderr
    assert "not reachable" not in result.stdout
    # The runs' log lines are in the Prefect UI; the terminal shows warnings only.
    assert "INFO" not in result.stderr, result.stderr
    match = FLOW_RUN.search(result.stdout)
    assert match is not None, result.stdout
    assert match.group(1, 2) == ("2", "4")
    assert "trip tasks: 1 entity: 1 task created" in result.stdout
    flow_run = prefect_client.read_flow_run(uuid.UUID(match.group(3)))
    assert flow_run.name == "generate-tasks order import"
    assert count_tasks(session) == 5
    # The wake-up's id is that of its 10-second bucket. A test emitting earlier in the same
    # bucket would have left the event (then with its own payload): the id proves the emit.
    bucket_ids = {
        wake_up_event_id(started + timedelta(seconds=s))
        for s in range(0, int((finished - started).total_seconds()) + 2)
    }
    events = stored_events(prefect_client, list(bucket_ids))
    assert [event.event for event in events] == ["haulflow.entities.changed"]
    (event,) = events
    if event.occurred >= started:
        assert event.payload["created"] == {"order": 2, "booking": 0, "trip": 1, "invoice": 0}


# SQLite only: the PostgreSQL half would add ~30 s for the same Prefect-side assertion.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_ten_thousand_imported_orders_take_a_bounded_number_of_task_runs(
    session: Session, run_haulflow: RunHaulflow, tmp_path: Path, prefect_client: SyncPrefectClient
) -> None:
    apply_config(session, CONFIG)
    session.commit()

    result = run_haulflow("import", write_orders(tmp_path / "orders.yaml", 10_000))

    assert result.returncode == 0, result.stderr
    match = FLOW_RUN.search(result.stdout)
    assert match is not None, result.stdout
    assert match.group(1, 2) == ("10,000", "20,000")
    # 20 full batches of 500, then one that finds nothing left pending.
    runs = settled_task_runs(prefect_client, uuid.UUID(match.group(3)), at_least=21)
    assert 20 <= len(runs) <= 25
    assert {run.name for run in runs} == {"generate pending order tasks (up to 500)"}
    assert all(run.state is not None and run.state.is_completed() for run in runs)
    generated = select(func.count(func.distinct(Task.entity_id))).where(Task.category == "order")
    assert session.exec(generated).one() == 10_000
    assert count_tasks(session) == 20_000
    pending = select(func.count()).select_from(Order).where(col(Order.tasks_generated_at).is_(None))
    assert session.exec(pending).one() == 0
