"""Schemathesis generates requests from the OpenAPI schema (valid and invalid ones) and
sends them to the served API, on each engine: none may get a server error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlmodel import Session

from core.settings import get_settings
from models import Scope, utcnow
from services.tokens import create_token
from storage.folder import FolderStore
from tests.api_server import running_api
from tests.mailroom import Mailroom, pdf
from tests.servers import SmtpSink


def test_generated_requests_get_no_server_error(
    session: Session,
    smtp_sink: SmtpSink,
    quick_retries: None,
    tmp_path: Path,
) -> None:
    room = Mailroom(session, FolderStore(get_settings().resolved_documents_dir), smtp_sink)
    room.configure()
    order = room.order()
    room.upload(order, "pod", pdf("pod"))
    _, secret = create_token(name="fuzz", scopes=list(Scope), now=utcnow())

    with running_api() as url:
        run = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json"]
            + ["--checks", "not_a_server_error", "--max-examples", "25", "--seed", "1"]
            + ["--header", f"Authorization: Bearer {secret}", "--no-color"]
            + ["--report-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=600,
        )

    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout.split("SUMMARY")[-1]
