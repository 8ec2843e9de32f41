"""The files one POD/CMR walk runs through, from the upload use case to the SMTP server's
250 and the record, are the ones docs/architecture.md lists ("One POD, file by file")."""

from __future__ import annotations

import re
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from sqlmodel import Session

from core.settings import get_settings
from lifecycle.entities import EntityRef
from models import Category, DocumentType
from services.documents import upload_document
from services.sending import send_ready
from storage.folder import FolderStore
from tests.mailroom import Mailroom, pdf
from tests.servers import SmtpSink

REPO = Path(__file__).resolve().parents[2]
ARCHITECTURE = REPO / "docs" / "architecture.md"


def _documented() -> list[str]:
    text = ARCHITECTURE.read_text()
    section = text.split("### One POD, file by file", 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\d+\. `([a-z_/]+\.py)`", section, flags=re.MULTILINE)


def test_the_documented_walk_is_the_one_the_code_takes(
    session: Session, smtp_sink: SmtpSink, quick_retries: None
) -> None:
    # The folder store the upload use case opens from the settings.
    room = Mailroom(session, FolderStore(get_settings().resolved_documents_dir), smtp_sink)
    room.configure()
    order = room.order()
    visited: list[str] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        name = frame.f_code.co_filename
        if event == "call" and name.startswith(str(REPO)):
            relative = Path(name).relative_to(REPO).as_posix()
            if not relative.startswith((".venv", "tests/")) and relative not in visited:
                visited.append(relative)

    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        for kind in ("pod", "cmr"):
            upload_document(
                ref=EntityRef(Category.ORDER, order.reference),
                doc_type=DocumentType(kind),
                data=pdf(kind),
                filename=f"{kind}.pdf",
                source="walk",
            )
        # The dispatcher's `send-ready` step, with what the commit readied.
        report = send_ready(limit=200, by="walk", flow_run_id=None)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]

    assert len(report.sent) == 1
    documented = _documented()
    # Composing and sending overlap in two threads, so the order of first calls may vary.
    assert len(set(documented)) == len(documented)
    assert sorted(visited) == sorted(documented)
