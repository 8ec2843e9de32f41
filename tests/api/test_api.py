"""The HTTP API through HTTP, on a real uvicorn server: tokens and scopes, upserts, uploads,
entity pages, refused bodies."""

from __future__ import annotations

import json
import re
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlmodel import select

from core.settings import get_settings
from models import Order, Scope, Task, TaskEvent, TaskStatus, utcnow
from services.tokens import revoke_token
from tests.api.conftest import MakeClient
from tests.cli.conftest import RunCli
from tests.mailroom import Mailroom, pdf

ENTITIES: dict[str, Any] = {
    "parties": [
        {
            "reference": "ACME",
            "kind": "customer",
            "name": "ACME Logistique SA",
            "country": "FR",
            "language": "fr",
            "timezone": "Europe/Paris",
            "contacts": [{"email": "pod@acme.example", "roles": ["cmr-pod-processing"]}],
        }
    ],
    "orders": [
        {
            "reference": "ORD-1",
            "customer": "ACME",
            "status": "delivered",
            "pickup": {"country": "FR", "at": "2026-12-01T08:00"},
            "delivery": {"country": "BE", "at": "2026-12-01T16:00"},
        }
    ],
}


def test_every_route_but_health_needs_a_live_token_with_its_scope(client: MakeClient) -> None:
    anonymous, reader = client(), client(Scope.READ)

    assert anonymous.get("/health").json() == {"status": "ok"}
    refused = anonymous.get("/orders/ORD-1/tasks")
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert "haulflow tokens create" in refused.json()["detail"]
    forged = anonymous.get("/orders/ORD-1/tasks", headers={"Authorization": "Bearer hf_forged"})
    assert forged.status_code == 401
    assert reader.get("/orders/ORD-1/tasks").status_code == 404  # allowed; no such order
    written = reader.post("/entities", json=ENTITIES)
    assert written.status_code == 403
    assert "needs write" in written.json()["detail"] and "--scope write" in written.json()["detail"]
    upload = reader.post("/orders/ORD-1/documents", data={"type": "pod"}, files={"file": b"x"})
    assert upload.status_code == 403

    revoke_token(name="tms-2", now=utcnow())
    assert reader.get("/orders/ORD-1/tasks").status_code == 401


def test_the_documentation_pages_load_everything_from_the_api_itself(client: MakeClient) -> None:
    """`/docs` and `/redoc` on a network without internet access (a carrier's office, this
    machine): every script, style sheet and icon the pages name is served by the API."""
    anonymous = client()
    for page in ("/docs", "/redoc"):
        answer = anonymous.get(page)
        assert answer.status_code == 200 and "text/html" in answer.headers["content-type"]
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", answer.text)
        scripts = [url for url in assets if url.endswith(".js")]
        assert scripts, f"{page} names no script"
        for url in assets:
            assert url.startswith("/"), f"{page} loads {url} from elsewhere"
            loaded = anonymous.get(url)
            assert loaded.status_code == 200 and loaded.content, f"{page}: {url} is missing"
        assert "/openapi.json" in answer.text
    assert anonymous.get("/openapi.json").json()["info"]["title"] == "haulflow"


def test_upserts_are_idempotent_and_new_orders_get_their_tasks(
    room: Mailroom, client: MakeClient
) -> None:
    tms = client(Scope.READ, Scope.WRITE)

    first = tms.post("/entities", json=ENTITIES)
    again = tms.post("/entities", json=ENTITIES)

    assert first.status_code == 200, first.text
    assert first.json()["counts"]["orders"] == {"created": 1, "updated": 0, "unchanged": 0}
    assert first.json()["tasks_generated"]["order"]["created"] == 1
    assert again.json()["counts"]["orders"] == {"created": 0, "updated": 0, "unchanged": 1}
    assert again.json()["tasks_generated"] == {}
    page = tms.get("/orders/ORD-1/tasks").json()
    [task] = page["tasks"]
    assert (task["key"], task["status"]) == ("send-pod", "waiting_for_documents")
    assert page["status_history"][0]["by"] == "api:tms"


def test_a_refused_body_names_each_problem_by_field_path_and_writes_nothing(
    room: Mailroom, client: MakeClient
) -> None:
    tms = client(Scope.READ, Scope.WRITE)
    bad = json.loads(json.dumps(ENTITIES))
    bad["orders"].append({"reference": "ORD-2", "customer": "NOBODY"})
    bad["orders"].append({"reference": "ORD-3", "customer": "ACME", "pickup_at": "soon"})

    refused = tms.post("/entities", json=bad)

    assert refused.status_code == 422
    problems = {tuple(p["loc"]): p["msg"] for p in refused.json()["detail"]}
    assert "neither in this file nor in the database" in problems["body", "orders", 1, "customer"]
    assert "did you mean 'pickup'" in problems["body", "orders", 2, "pickup_at"]
    assert tms.get("/orders/ORD-1/tasks").status_code == 404  # all or nothing
    room.session.expire_all()
    assert room.session.exec(select(Order)).first() is None

    broken = tms.post("/entities", content=b'{\n  "orders": [\n', headers=_JSON)
    assert broken.status_code == 422 and broken.json()["detail"][0]["line"] >= 2
    assert broken.json()["detail"][0]["msg"].startswith("invalid JSON: ")
    assert tms.post("/entities", content=b"", headers=_JSON).status_code == 422
    latin1 = tms.post("/entities", content='{"orders": "é"}'.encode("latin-1"), headers=_JSON)
    assert latin1.status_code == 422 and "UTF-8" in latin1.json()["detail"]
    yaml = tms.post("/entities", content=b"orders: []", headers={"Content-Type": "text/yaml"})
    assert yaml.status_code == 415
    unknown = tms.post("/entities", json={"order": []})
    assert unknown.status_code == 422 and "did you mean 'orders'" in str(unknown.json())


def test_bodies_over_the_limit_are_refused_before_being_read(
    room: Mailroom, client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAULFLOW_MAX_DOCUMENT_BYTES", "5000")
    monkeypatch.setenv("HAULFLOW_MAX_IMPORT_BYTES", "2000")
    get_settings.cache_clear()
    tms = client(Scope.READ, Scope.WRITE)
    assert tms.post("/entities", json=ENTITIES).status_code == 200

    files = {"file": ("pod.pdf", pdf("pod", 200_000))}
    upload = tms.post("/orders/ORD-1/documents", data={"type": "pod"}, files=files)
    entities = tms.post("/entities", json={"orders": [ENTITIES["orders"][0]] * 100})

    assert upload.status_code == 413 and "HAULFLOW_MAX_DOCUMENT_BYTES" in upload.json()["detail"]
    assert entities.status_code == 413
    # Within the envelope's room but over the document limit: refused after reading.
    files = {"file": ("pod.pdf", pdf("pod", 6_000))}
    assert tms.post("/orders/ORD-1/documents", data={"type": "pod"}, files=files).status_code == 413

    def chunks() -> Any:
        yield b'{"orders": []}'

    chunked = tms.post("/entities", content=chunks(), headers=_JSON)
    assert chunked.status_code == 411


def test_a_client_that_announces_a_body_it_never_sends_is_answered_and_let_go(
    api_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("api.app.DISCARD_SECONDS", 0.5)
    host, port = urlsplit(api_url).hostname, urlsplit(api_url).port
    with socket.create_connection((host, port), timeout=10) as connection:
        connection.sendall(
            b"POST /entities HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
            b"Content-Length: 999999999\r\n\r\n"
        )
        started = time.monotonic()
        answer = b""
        while chunk := connection.recv(65536):  # the server closes once it has answered
            answer += chunk
        waited = time.monotonic() - started

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"HAULFLOW_MAX_IMPORT_BYTES" in answer
    assert waited < 5


def test_an_upload_is_recorded_once_under_the_token_and_readies_the_task(
    room: Mailroom, client: MakeClient
) -> None:
    tms = client(Scope.READ, Scope.WRITE)
    tms.post("/entities", json=ENTITIES).raise_for_status()

    def upload(kind: str, data: bytes, reference: str = "ORD-1") -> Any:
        files = {"file": (f"{kind}.pdf", data)}
        return tms.post(f"/orders/{reference}/documents", data={"type": kind}, files=files)

    pod = upload("pod", pdf("pod"))
    same = upload("pod", pdf("pod"))
    cmr = upload("cmr", pdf("cmr"))

    assert (pod.status_code, pod.json()["created"], pod.json()["tasks_ready"]) == (201, True, 0)
    assert (same.status_code, same.json()["created"]) == (200, False)
    assert same.json()["document"]["id"] == pod.json()["document"]["id"]
    assert (cmr.status_code, cmr.json()["tasks_ready"]) == (201, 1)
    room.session.expire_all()
    task = room.session.exec(select(Task)).one()
    assert task.status == TaskStatus.READY
    events = room.session.exec(select(TaskEvent).where(TaskEvent.task_id == task.id)).all()
    assert events[-1].by == "upload:api:tms"
    assert upload("pod", pdf("x"), "ORD-404").status_code == 404
    assert upload("invoice", pdf("x")).status_code == 422
    not_a_scan = upload("other", b"plain text")
    assert not_a_scan.status_code == 422 and "neither a PDF nor an image" in str(not_a_scan.json())

    report = room.drain()

    assert len(report.sent) == 1
    [received] = room.sink.received
    message = received.message
    assert message["To"] == "pod@acme.example"
    names = sorted(part.get_filename() for part in message.walk() if part.get_filename())
    assert len(names) == 2 and any("POD" in n.upper() for n in names)


def test_the_cli_and_the_api_show_the_same_entity_page(
    room: Mailroom, client: MakeClient, run_cli: RunCli
) -> None:
    tms = client(Scope.READ, Scope.WRITE)
    tms.post("/entities", json=ENTITIES).raise_for_status()
    files = {"file": ("pod.pdf", pdf("pod"))}
    tms.post("/orders/ORD-1/documents", data={"type": "pod"}, files=files).raise_for_status()

    printed = run_cli("tasks", "list", "order:ORD-1", "--json")

    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == tms.get("/orders/ORD-1/tasks").json()


_JSON = {"Content-Type": "application/json"}
