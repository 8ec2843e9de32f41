"""The demo of `haulflow up --demo`: the example configuration, entities and scans.

Loading is idempotent: the configuration is stored only when it differs from the current
version, entities are upserted by reference, tasks are generated only for entities that
never had them, and a PDF is rewritten only when its bytes would change. The example
orders' PDFs are not uploaded: uploading them is the operator's part of the demo
(`haulflow documents upload`). The older order (`examples/older-order.yaml`) stands for an
order from before the automation: it never gets a task by itself, and its two scans are
recorded, so a hand run from the Prefect UI or `haulflow tasks run` has something to send.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from core.database import session_scope
from core.settings import get_settings
from ingestion.documents import record_document
from ingestion.importer import import_file
from lifecycle.entities import EntityRef, find_entity_id
from lifecycle.generation import mark_generated
from models import Category, DocumentType
from models.configuration import load_configuration
from models.configuration.store import file_sha256
from services.configuration import apply
from services.generation import generate_pending
from services.imports import import_entity_file
from services.schema import require_current_schema
from storage.factory import open_document_store

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
CONFIG_FILE = EXAMPLES_DIR / "tasks.yaml"
ENTITIES_FILE = EXAMPLES_DIR / "entities.yaml"
OLDER_ORDER_FILE = EXAMPLES_DIR / "older-order.yaml"
OLDER_ORDER = "ORD-0999"
DOCUMENT_TYPES = ("pod", "cmr")
# Entities per generation transaction, as the import command does.
BATCH_SIZE = 500


@dataclass
class DemoSummary:
    """What a load did: configuration version, import lines, tasks created, sample scans."""

    config_version: int
    config_applied: bool
    imported: list[str] = field(default_factory=list)
    # The older order's line (its own file).
    older: str = ""
    tasks_created: int = 0
    pdfs: list[Path] = field(default_factory=list)
    pdfs_written: int = 0

    def lines(self) -> list[str]:
        """What to print, one line each."""
        verb = "applied as" if self.config_applied else "already at"
        lines = [
            f"configuration {CONFIG_FILE.name}: {verb} version {self.config_version}",
            *(f"{ENTITIES_FILE.name}: {line}" for line in self.imported),
            *([self.older] if self.older else []),
            f"tasks generated: {self.tasks_created}",
        ]
        if self.pdfs:
            written = f", {self.pdfs_written} written now" if self.pdfs_written else ""
            lines.append(f"sample scans: {len(self.pdfs)} PDFs in {self.pdfs[0].parent}{written}")
        return lines


def load_demo(*, by: str = "demo") -> DemoSummary:
    """Apply the example configuration, import the example entities, write sample PDFs."""
    configuration = load_configuration(CONFIG_FILE)
    require_current_schema()
    older = load_older_order(by=by)
    applied = apply(
        configuration,
        source_name=f"examples/{CONFIG_FILE.name}",
        source_sha256=file_sha256(CONFIG_FILE),
        by=by,
    )
    version = applied.version if applied.version is not None else applied.previous
    assert version is not None  # an unchanged apply means a current version exists
    report = import_entity_file(ENTITIES_FILE, by=by)
    summary = DemoSummary(
        config_version=version,
        config_applied=applied.version is not None,
        imported=report.summarize(),
        older=older,
        tasks_created=generate_pending_tasks(by=by),
    )
    summary.pdfs, summary.pdfs_written = write_sample_scans(demo_order_references())
    return summary


def load_older_order(*, by: str) -> str:
    """Import the older order with no task and record its POD and CMR; a line saying so.

    Marked generated as it is imported, before the configuration is looked at: like an order
    the TMS created before the automation existed, it gets tasks only from a hand run. Below
    the use cases on purpose: no use case makes an order that predates the automation.
    """
    store = open_document_store(get_settings())
    now = datetime.now(UTC)
    with session_scope() as session:
        import_file(OLDER_ORDER_FILE, session=session, by=by)
        ref = EntityRef(Category.ORDER, OLDER_ORDER)
        order_id = find_entity_id(session=session, ref=ref)
        mark_generated(session=session, category=Category.ORDER, entity_ids=[order_id], now=now)
        for doc_type in DOCUMENT_TYPES:
            record_document(
                session=session,
                store=store,
                ref=ref,
                doc_type=DocumentType(doc_type),
                data=sample_scan(OLDER_ORDER, doc_type),
                filename=f"{OLDER_ORDER}-{doc_type}.pdf",
                source="demo",
                max_bytes=get_settings().max_document_bytes,
                now=now,
            )
    return (
        f"{OLDER_ORDER_FILE.name}: order {OLDER_ORDER} from before the automation, no task, "
        "POD and CMR recorded"
    )


def generate_pending_tasks(*, by: str) -> int:
    """Generate the tasks of every entity still without them; how many tasks were created.

    Here rather than in a flow run, so the demo needs no Prefect server; pending rather than
    just-imported entities, so a load interrupted after its import is completed by the next.
    """
    created = 0
    for category in Category:
        while True:
            pending, report = generate_pending(category, limit=BATCH_SIZE, by=by)
            created += report.created
            # Every entity of a batch is marked generated, so each full batch is progress;
            # one where none could be read would come back: stop there too.
            if pending < BATCH_SIZE or not report.entities:
                break
    return created


def demo_order_references() -> list[str]:
    """The references of the example orders, in file order."""
    document = yaml.safe_load(ENTITIES_FILE.read_text(encoding="utf-8"))
    return [str(order["reference"]) for order in document.get("orders", [])]


def sample_scan_dir() -> Path:
    """Where the demo's sample PDFs are written: `var/demo`."""
    return get_settings().var_dir / "demo"


def write_sample_scans(references: list[str]) -> tuple[list[Path], int]:
    """A POD and a CMR per order (`ORD-1001-pod.pdf`...); the paths and how many were written."""
    directory = sample_scan_dir()
    directory.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    written = 0
    for reference in references:
        for doc_type in DOCUMENT_TYPES:
            path = directory / f"{reference}-{doc_type}.pdf"
            data = sample_scan(reference, doc_type)
            paths.append(path)
            if not path.is_file() or path.read_bytes() != data:
                path.write_bytes(data)
                written += 1
    return paths, written


def sample_scan(reference: str, doc_type: str) -> bytes:
    """The sample PDF of one document of one order."""
    return minimal_pdf(
        [f"{doc_type.upper()} {reference}", "Sample scan generated by haulflow up --demo"]
    )


def minimal_pdf(lines: list[str]) -> bytes:
    """A valid one-page A4 PDF 1.4 showing `lines` (ASCII) in Helvetica; same input, same bytes."""
    text = "".join(
        f"BT /F1 {24 if number == 0 else 12} Tf 72 {770 - 30 * number} Td ({_escape(line)}) Tj ET\n"
        for number, line in enumerate(lines)
    ).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%sendstream" % (len(text), text),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _escape(line: str) -> str:
    # Parentheses and backslashes delimit PDF string literals.
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
