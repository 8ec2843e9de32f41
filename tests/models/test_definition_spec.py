"""A stored definition's spec is read into one typed object, with the schema's defaults."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from lifecycle.schedules import read_offset
from models import TaskDefinition
from models.configuration.schema import TaskDefinition as ConfiguredTask
from models.definitions import TaskSpec
from tests.factories import apply_config

CONFIG = """
schema_version: 1
carrier: {name: Transports Test}
mailboxes:
  - key: pod
    from: "Transports Test <pod@transports-test.example>"
    smtp: {host: 127.0.0.1, port: 2525, security: plain}
tasks:
  orders:
    - key: send-pod
      name: POD
      execution: automatic
      schedule: {on: documents, offset: "+2h"}
      required_documents: [pod, cmr]
      intended_for: {roles: [cmr-pod-processing]}
      mailbox: pod
      on_uncertain_delivery: hold
      email:
        default_language: fr
        languages: {fr: {subject: "POD {{ order.reference }}", text: "Bonjour"}}
    - key: check
      name: Check
"""


def test_a_stored_definition_reads_as_configured(session: Session) -> None:
    apply_config(session, CONFIG)
    stored = {d.key: d for d in session.exec(select(TaskDefinition))}

    pod, check = stored["send-pod"].task_spec, stored["check"].task_spec

    assert (pod.schedule.on, read_offset(pod.schedule.offset)) == ("documents", timedelta(hours=2))
    assert pod.required_documents == pod.attachments == ("pod", "cmr")
    assert pod.intended_for["roles"] == ["cmr-pod-processing"]
    assert pod.on_uncertain_delivery == "hold" and pod.on_corrected_document == "ignore"
    assert pod.email is not None and pod.email["default_language"] == "fr"
    assert (check.schedule.on, check.email, check.conditions) == ("created", None, None)
    assert stored["send-pod"].task_spec is pod  # read once


def test_the_fallbacks_are_the_schema_defaults() -> None:
    empty = TaskSpec.read({})
    defaults = ConfiguredTask(key="x", name="x")

    assert empty.schedule.on == defaults.schedule.on
    assert empty.on_uncertain_delivery == defaults.on_uncertain_delivery
    assert empty.on_corrected_document == defaults.on_corrected_document
    assert empty.required_documents == defaults.required_documents
