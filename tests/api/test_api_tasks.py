"""Tasks through the HTTP API: worklists page by page, done/skip, explain, hand runs,
resends and archived e-mails; the CLI gives the same answers."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import Session

from core.settings import get_settings
from models import Scope
from storage.folder import FolderStore
from tests.api.conftest import MakeClient
from tests.cli.conftest import RunCli
from tests.mailroom import SEND_POD, Mailroom, pdf
from tests.servers import SmtpSink

CHECK = """
    - key: check-delivery
      name: Vérifier la livraison
      responsible: user:alice
      execution: manual
      schedule: {on: date, date: delivery_at, offset: "+2h"}
"""


@pytest.fixture
def room(session: Session, smtp_sink: SmtpSink, quick_retries: None) -> Mailroom:
    """The automatic POD/CMR task and a manual check (this module's own), on the folder store
    the API opens."""
    room = Mailroom(session, FolderStore(get_settings().resolved_documents_dir), smtp_sink)
    room.configure(orders=SEND_POD + CHECK)
    return room


def _delivered_order(room: Mailroom) -> str:
    """An order whose POD and CMR are in: its send-pod task is ready. Its reference."""
    order = room.order()
    room.upload(order, "pod", pdf(f"pod {order.reference}"))
    room.upload(order, "cmr", pdf(f"cmr {order.reference}"))
    return order.reference


def test_worklist_pages_neither_repeat_nor_skip_a_task(
    room: Mailroom, client: MakeClient, run_cli: RunCli
) -> None:
    days = [datetime(2026, 12, day, 13, 0, tzinfo=UTC) for day in (3, 1, 3, 2, 1, 3, 2)]
    for day in days:
        room.order(delivery_at=day)
    reader = client(Scope.READ)

    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"category": "order", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = reader.get("/tasks", params=params).json()
        pages.append(page["tasks"])
        cursor = page["next"]
        if cursor is None:
            break

    listed = [task["task_id"] for page in pages for task in page]
    assert [len(page) for page in pages] == [3, 3, 3, 3, 2]
    assert len(set(listed)) == 14  # 7 checks with a due moment, 7 POD e-mails without
    printed = run_cli("tasks", "list", "--category", "order", "--limit", "500", "--json")
    assert [task["task_id"] for task in json.loads(printed.stdout)["tasks"]] == listed
    dues = [task["due_at"] for page in pages for task in page]
    assert dues[:7] == sorted(dues[:7]) and dues[7:] == [None] * 7
    filtered = reader.get("/tasks", params={"status": "waiting_for_documents"}).json()
    assert {task["key"] for task in filtered["tasks"]} == {"send-pod"}
    assert reader.get("/tasks", params={"cursor": "not-a-cursor"}).status_code == 422
    misnamed = reader.get("/tasks", params={"next": pages[0][0]["task_id"]})
    assert misnamed.status_code == 422 and "cursor" in misnamed.json()["detail"]
    assert reader.get("/tasks", params={"status": "lost"}).status_code == 422
    assert reader.get("/tasks", params={"limit": 0}).status_code == 422


def test_done_and_skip_are_all_or_nothing_and_name_the_token(
    room: Mailroom, client: MakeClient
) -> None:
    order = room.order()
    tms, reader = client(Scope.READ, Scope.WRITE), client(Scope.READ)
    page = tms.get(f"/orders/{order.reference}/tasks").json()
    check = next(task for task in page["tasks"] if task["key"] == "check-delivery")
    pod = next(task for task in page["tasks"] if task["key"] == "send-pod")

    done = tms.post(
        "/tasks/done", json={"tasks": [check["short_id"]], "by": "alice", "note": "called"}
    )
    twice = tms.post("/tasks/skip", json={"tasks": [pod["id"], check["id"]], "by": "alice"})

    assert done.status_code == 200, done.text
    assert done.json()["tasks"][0]["status"] == "done"
    assert twice.status_code == 409 and "nothing changed" in twice.json()["detail"]
    page = tms.get(f"/orders/{order.reference}/tasks").json()
    check = next(task for task in page["tasks"] if task["key"] == "check-delivery")
    pod = next(task for task in page["tasks"] if task["key"] == "send-pod")
    assert (check["history"][-1]["by"], check["history"][-1]["note"]) == (
        "alice",
        "called (via api:tms)",
    )
    assert pod["status"] == "waiting_for_documents"  # all or nothing
    body = {"tasks": [pod["id"]], "by": "alice"}
    assert reader.post("/tasks/skip", json=body).status_code == 403
    assert tms.post("/tasks/skip", json=body | {"who": "x"}).status_code == 422
    assert tms.post("/tasks/skip", json=body | {"by": "mallory"}).status_code == 404
    assert tms.post("/tasks/skip", json={"tasks": ["zz"], "by": "alice"}).status_code == 404
    # A NUL character (PostgreSQL cannot store it) is refused as input, not met as a 500.
    nul = tms.post("/tasks/skip", json=body | {"by": "ali\u0000ce"})
    assert nul.status_code == 422 and "one line of text" in nul.text
    assert tms.get(f"/orders/{order.reference}/tasks/send%00pod/explanation").status_code == 422
    # A note is printed in every history: no terminal escape, no line that forges another.
    for note in ("ok\u001b[2J", "ok\r\n2026-12-07 19:24  open → done  by bob"):
        forged = tms.post("/tasks/skip", json=body | {"note": note})
        assert forged.status_code == 422 and "one line of text" in forged.text


def test_explain_and_a_dry_run_answer_as_the_cli_does(
    room: Mailroom, client: MakeClient, run_cli: RunCli
) -> None:
    reference = _delivered_order(room)
    reader = client(Scope.READ)

    explained = reader.get(f"/orders/{reference}/tasks/send-pod/explanation")
    printed = run_cli("explain", "send-pod", f"order:{reference}", "--json", "--no-connect")
    body = {"task_key": "send-pod", "entities": [f"order:{reference}"], "dry_run": True}
    dry = reader.post("/runs", json=body)
    dry_printed = run_cli("tasks", "run", "send-pod", f"order:{reference}", "--dry-run", "--json")

    assert explained.status_code == 200 and printed.returncode == 0, printed.stderr
    assert explained.json() == json.loads(printed.stdout)
    assert dry.status_code == 200 and dry_printed.returncode == 0, dry_printed.stderr
    assert dry.json() == json.loads(dry_printed.stdout)
    [preview] = dry.json()["entities"][0]["previews"]
    assert preview["recipients"] == ["pod@customer.example"] and len(preview["attachments"]) == 2
    assert room.sink.received == []  # a dry run sends nothing


def test_a_hand_run_sends_once_and_the_archive_is_what_was_sent(
    room: Mailroom, client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _delivered_order(room)
    reader, sender = client(Scope.READ), client(Scope.READ, Scope.SEND)
    body = {"task_key": "send-pod", "entities": [f"order:{reference}"], "by": "alice"}

    assert reader.post("/runs", json=body).status_code == 403
    assert sender.post("/runs", json=body | {"by": None}).status_code == 422
    for target in ({"entities": []}, {"entities": [""]}, {"created_before": "2100-01-01"},
                   {"entities": ["order:" + "X" * 5000]}):  # fmt: skip
        refused = sender.post("/runs", json=body | target)
        assert refused.status_code == 422 and len(refused.text) < 1000, refused.text
    long_by = sender.post("/runs", json=body | {"by": "x" * 5000}).json()["detail"][0]
    assert (long_by["loc"], long_by["msg"]) == (
        ["body", "by"],
        "String should have at most 100 characters",
    )
    neither = sender.post("/runs", json=body | {"entities": []}).json()["detail"][0]["msg"]
    assert neither.endswith("give either entities or created_before (one of the two)")
    run = sender.post("/runs", json=body)
    again = sender.post("/runs", json=body)

    assert run.status_code == 200, run.text
    assert run.json()["counts"]["sent"] == 1 and again.json()["counts"]["sent"] == 0
    [received] = room.sink.received
    assert received.message["Subject"] == f"POD/CMR commande {reference}"
    page = reader.get(f"/orders/{reference}/tasks").json()
    [email] = next(task for task in page["tasks"] if task["key"] == "send-pod")["emails"]
    assert email["requested_by"] == "alice via api:tms-2"  # the user, and the sender's token
    archived = reader.get(f"/communications/{email['short_id']}/eml")
    assert archived.status_code == 200
    assert archived.headers["content-type"] == "message/rfc822"
    assert hashlib.sha256(archived.content).hexdigest() == email["archive_sha256"]
    assert archived.content.replace(b"\r\n", b"\n") == received.data.replace(b"\r\n", b"\n")
    assert reader.get("/communications/00000000/eml").status_code == 404

    monkeypatch.setattr("api.app.MAX_RUN_ENTITIES", 1)
    room.order()
    everyone = {"task_key": "send-pod", "created_before": "2100-01-01", "dry_run": True}
    # More than a request sends: the hand-run deployment's run, which needs a Prefect server
    # (tests/deployments/test_every_deployment.py runs one on the served stack).
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    anonymous = reader.post("/runs", json=everyone)
    assert anonymous.status_code == 422 and "give the haulflow username" in anonymous.text
    away = reader.post("/runs", json=everyone | {"by": "alice"})
    assert away.status_code == 503
    assert away.json()["detail"] == (
        "the Prefect server at http://127.0.0.1:9/api cannot be reached (no answer to its "
        "health check): start it (`haulflow up`) or set PREFECT_API_URL"
    )


def test_a_resend_goes_out_again_or_says_why_not(room: Mailroom, client: MakeClient) -> None:
    reference = _delivered_order(room)
    assert len(room.drain().sent) == 1
    tms, writer = client(Scope.READ, Scope.SEND), client(Scope.WRITE)
    page = tms.get(f"/orders/{reference}/tasks").json()
    task_id = next(task for task in page["tasks"] if task["key"] == "send-pod")["id"]

    assert writer.post(f"/tasks/{task_id}/resend", json={"by": "alice"}).status_code == 403
    resent = tms.post(f"/tasks/{task_id}/resend", json={"by": "alice", "to": "ops@acme.example"})
    room.sink.refuse("pod@customer.example", reply="550 5.1.1 no such mailbox")
    refused = tms.post(f"/tasks/{task_id}/resend", json={"by": "alice"})

    assert resent.status_code == 200, resent.text
    assert resent.json()["sent"][0]["recipients"] == ["ops@acme.example"]
    assert room.sink.received[-1].rcpt_tos == ("ops@acme.example",)
    page = tms.get(f"/orders/{reference}/tasks").json()
    emails = next(task for task in page["tasks"] if task["key"] == "send-pod")["emails"]
    assert [email["requested_by"] for email in emails][-1] == "alice via api:tms"
    assert refused.status_code == 422
    assert "permanent" in refused.json()["detail"] and refused.json()["sent"] == []
