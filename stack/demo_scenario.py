"""The demo's own step: a configuration change (version 2) applied from text."""

from __future__ import annotations

import hashlib

from core.errors import InvalidFileError
from core.sourcefile import parse_source
from models.configuration import validate_source
from services.configuration import apply
from stack.demo_data import CONFIG_FILE

SUBJECT = "POD/CMR - commande {{ order.reference }}"


def changed_configuration() -> str:
    """The example configuration with a new French subject for `send-pod` (version 2)."""
    text = CONFIG_FILE.read_text(encoding="utf-8")
    if SUBJECT not in text:
        raise ValueError(f"examples/{CONFIG_FILE.name} no longer holds the subject {SUBJECT!r}")
    return text.replace(SUBJECT, "Documents de livraison - commande {{ order.reference }}", 1)


def apply_file(text: str, name: str) -> int | None:
    """Validate and apply configuration text (templates from examples/); the new version."""
    source = parse_source(text, file=name)
    configuration, problems = validate_source(source, base_dir=CONFIG_FILE.parent)
    if configuration is None:
        raise InvalidFileError(problems)
    sha256 = hashlib.sha256(text.encode()).hexdigest()
    return apply(configuration, source_name=name, source_sha256=sha256, by="demo").version
