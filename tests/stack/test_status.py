"""`haulflow status`: each problem named with what to do, exit 1 when unhealthy."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from core.database import get_engine
from core.prefect_runtime import API_URL_FILE, prefect_connection
from core.settings import get_settings
from deployments.catalog import DEPLOYMENT_NAMES
from ingestion.drops import remember_refused
from ingestion.notifications import ObjectCreated
from models import Order, TaskDefinition, TaskStatus, utcnow
from models.heartbeats import LISTEN, beat
from services.health import Check, read_task_health
from stack.leftovers import PIDS_FILE
from stack.status import check_status
from storage.folder import FolderStore
from tests.cli.conftest import RunCli
from tests.factories import apply_config, make_order, make_task
from tests.mailroom import Mailroom, pdf
from tests.prefect_server import free_port, running_prefect_server
from tests.servers import SmtpSink

CONFIG = """
schema_version: 1
carrier: {name: Transports Test}
mailboxes:
  - key: pod
    from: "Transports Test <pod@transports-test.example>"
    smtp: {host: 127.0.0.1, port: 2525, security: plain}
  - key: held
    from: "Transports Test <held@transports-test.example>"
    smtp: {host: 127.0.0.1, port: 2525, security: plain}
    paused: true
tasks:
  orders:
    - key: send-pod
      name: Send the POD
      execution: automatic
      schedule: {on: documents}
      intended_for: {roles: [cmr-pod-processing]}
      required_documents: [pod]
      mailbox: pod
      email:
        default_language: en
        languages: {en: {subject: "POD {{ order.reference }}", text: "POD"}}
    - key: held-pod
      name: Send the POD later
      execution: automatic
      schedule: {on: documents}
      intended_for: {roles: [cmr-pod-processing]}
      required_documents: [pod]
      mailbox: held
      email:
        default_language: en
        languages: {en: {subject: "POD {{ order.reference }}", text: "POD"}}
"""


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def test_without_a_server_the_stack_is_unhealthy(database_url: str, run_cli: RunCli) -> None:
    result = run_cli("status")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "problem  server: no Prefect server configured" in result.stdout
    assert "→ start the local stack with `haulflow up`" in result.stdout
    assert "ok       ready tasks" in result.stdout
    assert result.stdout.rstrip().endswith("unhealthy")
    assert "Traceback" not in result.stderr


def test_a_url_file_left_behind_is_named(database_url: str, run_cli: RunCli) -> None:
    url_file = get_settings().var_dir / API_URL_FILE
    url_file.parent.mkdir(parents=True)
    url_file.write_text(f"http://127.0.0.1:{free_port()}/api\n")

    result = run_cli("status", "--json")

    assert result.returncode == 1
    report = result.stdout
    assert '"healthy": false' in report
    assert "left from a `haulflow up` that did not stop cleanly" in report
    assert f'"url_source": "{url_file}"' in report


def test_an_unmigrated_database_is_a_problem(run_cli: RunCli) -> None:
    result = run_cli("status")
    assert result.returncode == 1
    assert "database has no schema yet" in result.stdout
    assert "run `haulflow db upgrade` first" in result.stdout


def test_a_server_without_deployments_is_unhealthy(
    database_url: str, prefect_api: str, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)

    report = check_status(stale_minutes=10)

    assert not report.healthy
    assert (report.api_url, report.url_source) == (prefect_api, "PREFECT_API_URL")
    checks = by_name(report.checks)
    server, deployments, sweep = checks["server"], checks["deployments"], checks["sweep"]
    assert server.severity == "ok"
    assert deployments.severity == "problem"
    assert f"of {len(DEPLOYMENT_NAMES)} deployments served" in deployments.summary
    assert deployments.advice is not None and "haulflow serve" in deployments.advice
    # The missing sweep follows from the deployments: no second action asked.
    assert sweep.severity != "problem" or "failed" in sweep.summary.lower()

    result = run_cli("status")
    assert result.returncode == 1
    assert "problem  deployments:" in result.stdout


def test_the_last_sweep_is_reported_and_judged_by_its_age(
    database_url: str, prefect_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.sweep import sweep

    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    with prefect_connection(prefect_api):
        state = asyncio.run(sweep(reconcile_store=False, return_state=True))
    assert state.is_completed()

    recent = by_name(check_status(stale_minutes=10).checks)["sweep"]
    assert recent.severity == "ok"
    assert recent.summary.startswith("last sweep started") and "Completed" in recent.summary

    later = datetime.now(UTC) + timedelta(minutes=10)
    old = by_name(check_status(stale_minutes=10, now=later).checks)["sweep"]
    # Not a second problem: the deployments, not served here, are the cause.
    assert old.severity == "warning" and old.advice == "fix the deployments first"


def test_task_states_are_counted(session: Session, run_cli: RunCli) -> None:
    apply_config(session, CONFIG)
    definitions = {d.key: d.id for d in session.exec(select(TaskDefinition)).all()}
    now = utcnow()

    def task(key: str, status: TaskStatus, age: timedelta, **values: object) -> None:
        order: Order = make_order(session)
        make_task(
            session, order, definitions[key], key, status=status, updated_at=now - age, **values
        )

    old, fresh = timedelta(minutes=30), timedelta(minutes=2)
    task("send-pod", TaskStatus.READY, old)  # stale
    task("send-pod", TaskStatus.READY, fresh)
    task("send-pod", TaskStatus.READY, old, next_attempt_at=now + timedelta(minutes=5))
    task("held-pod", TaskStatus.READY, old)  # held on purpose: its mailbox is paused
    for number in range(6):
        task(
            "send-pod", TaskStatus.FAILED, timedelta(minutes=number), last_error=f"550 no {number}"
        )
    task("send-pod", TaskStatus.SENDING, timedelta(hours=1))  # past the 15-minute timeout
    task("send-pod", TaskStatus.SENDING, fresh)
    session.commit()

    health = read_task_health(session=session, now=now, stale_minutes=10)

    assert (health.stale_ready, health.paused_ready) == (1, 1)
    assert health.oldest_ready is not None and health.oldest_ready.key == "send-pod"
    assert health.oldest_ready.entity.startswith("order:ORD-")
    assert health.failed == 6
    assert [line.error for line in health.newest_failed] == [f"550 no {n}" for n in range(5)]
    assert health.stuck_sending == 1
    assert read_task_health(session=session, now=now, stale_minutes=60).stale_ready == 0

    result = run_cli("status", "--stale-minutes", "10")
    assert result.returncode == 1
    out = result.stdout
    assert "problem  ready tasks: 1 task(s) ready but unsent for more than 10 min" in out
    assert f"haulflow explain send-pod {health.oldest_ready.entity}" in out
    assert "warning  paused tasks: 1 ready task(s) held by a paused mailbox" in out
    assert "warning  failed tasks: 6 failed task(s)" in out and ": 550 no 0" in out
    assert "550 no 5" not in out  # only the newest five are listed
    # A failed task never went out: the hand run sends it (a resend is for what was sent).
    assert "then `haulflow tasks run TASK_KEY ENTITY --by YOU` sends it" in " ".join(out.split())
    assert "warning  sending tasks: 1 task(s) sending for longer" in out


def test_a_killed_up_is_a_problem(database_url: str) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    pids_file = get_settings().var_dir / PIDS_FILE
    pids_file.parent.mkdir(parents=True)
    pids_file.write_text(json.dumps({"up": gone.pid, "children": {}}))

    check = by_name(check_status(stale_minutes=10).checks)["local stack"]

    assert check.severity == "problem"
    assert "was killed" in check.summary
    assert check.advice == "run `haulflow up` again: it stops what was left running first"


def test_failed_crashed_and_postponing_runs_refused_drops_and_a_silent_listen_are_reported(
    database_url: str,
    session: Session,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: RunCli,
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    from flows.alert import alert
    from flows.dispatch import dispatch
    from flows.run_task import run_order_task

    with running_prefect_server(tmp_path / "own-server") as api_url:
        monkeypatch.setenv("PREFECT_API_URL", api_url)
        with prefect_connection(api_url):
            # A red run by design, a run whose process died, one that postponed nothing
            # went out: what a runner would report to the server.
            assert asyncio.run(alert(failure_event="e-1", return_state=True)).is_failed()
            dispatched = asyncio.run(dispatch(reason="test", return_state=True))
            with get_client(sync_client=True) as client:
                client.set_flow_run_state(
                    dispatched.state_details.flow_run_id,
                    # Two lines, as Prefect's own messages often are: status shows one.
                    Crashed(message="the flow run's process was killed\n  (SIGKILL)"),
                    force=True,
                )
            # A run that postponed a send: red, but the stack works (a warning).
            room = Mailroom(session, FolderStore(get_settings().resolved_documents_dir), smtp_sink)
            room.configure()
            order = room.order()
            room.upload(order, "pod", pdf("pod"))
            room.upload(order, "cmr", pdf("cmr"))
            smtp_sink.reply_next("451 4.3.0 greylisted")
            assert asyncio.run(dispatch(reason="test", return_state=True)).name == "Postponed"
            # A hand run given a reference that does not exist: the person's typo, a warning.
            typo = asyncio.run(
                run_order_task(
                    task_key="send-pod",
                    requested_by="alice",
                    entities=["ORD-TYPO"],
                    return_state=True,
                )
            )
            assert typo.name == "Refused"
        remember_refused(
            session=session,
            event=ObjectCreated("bucket", "inbox/order/ORD-1/pod/x.txt", 10),
            reason="skipped inbox/order/ORD-1/pod/x.txt: x.txt is neither a PDF nor an image",
            now=utcnow(),
        )
        session.commit()
        monkeypatch.setenv("HAULFLOW_SQS_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/1/q")
        get_settings.cache_clear()

        checks = by_name(check_status(stale_minutes=10).checks)
        result = run_cli("status")

    runs = checks["flow runs"]
    assert runs.severity == "problem" and runs.summary.startswith("2 haulflow run(s) crashed")
    assert any("Crashed: the flow run's process was killed (SIGKILL)" in x for x in runs.details)
    assert any("alert: automation action failed: Failed" in line for line in runs.details)
    drops = checks["inbox drops"]
    assert (
        drops.severity == "warning"
        and "1 document(s) dropped in the inbox refused" in drops.summary
    )
    assert "x.txt is neither a PDF nor an image" in drops.details[0]
    left = checks["runs with work left"]
    assert left.severity == "warning" and "Postponed" in left.details[0]
    typos = checks["refused hand runs"]
    assert typos.severity == "warning" and "ORD-TYPO does not exist" in typos.details[0]
    listen = checks["listen"]
    assert listen.severity == "problem" and "no `haulflow listen` polled" in listen.summary
    assert result.returncode == 1, result.stdout + result.stderr
    assert "problem  flow runs: 2 haulflow run(s) crashed or failed" in result.stdout
    assert "warning  inbox drops:" in result.stdout and "problem  listen:" in result.stdout

    beat(engine=get_engine(), service=LISTEN, now=utcnow())
    alive = by_name(check_status(stale_minutes=10).checks)["listen"]
    assert alive.severity == "ok" and "`haulflow listen` runs" in alive.summary
