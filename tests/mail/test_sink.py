"""The local SMTP sink over TCP: exact bytes in `.eml` files, the envelope beside them."""

from __future__ import annotations

import json
import smtplib
import socket
from pathlib import Path

import pytest

from mail.sink import MailSinkError, running_mail_sink
from tests.servers import free_port

MESSAGE = (
    b"From: pod@carrier.example\r\n"
    b"To: customer@acme.example\r\n"
    b"Subject: POD ORD-1\r\n"
    b"Message-ID: <1@carrier.example>\r\n"
    b"\r\n"
    b"Signed POD attached.\r\n"
    # A line starting with a dot is dot-stuffed on the wire and must come back unstuffed.
    b".hidden line\r\n"
)


def eml_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.eml"))


def test_each_message_is_written_with_its_exact_bytes_and_envelope(tmp_path: Path) -> None:
    directory = tmp_path / "mailsink"
    with (
        running_mail_sink(directory, free_port()) as sink,
        smtplib.SMTP(sink.host, sink.port) as client,
    ):
        client.sendmail(
            "bounces@carrier.example", ["customer@acme.example", "ops@acme.example"], MESSAGE
        )
        client.sendmail("pod@carrier.example", ["other@acme.example"], MESSAGE + b"again\r\n")

    first, second = eml_files(directory)
    assert first.read_bytes() == MESSAGE
    assert second.read_bytes() == MESSAGE + b"again\r\n"
    envelope = json.loads(first.with_suffix(".json").read_text())
    assert envelope["mail_from"] == "bounces@carrier.example"
    assert envelope["rcpt_tos"] == ["customer@acme.example", "ops@acme.example"]
    assert envelope["message_file"] == first.name
    assert envelope["received_at"].endswith("+00:00")
    # Nothing half-written is left behind: no temporary files.
    assert sorted(path.suffix for path in directory.iterdir()) == [".eml", ".eml", ".json", ".json"]


def test_names_sort_by_arrival_and_carry_a_hash_of_the_bytes(tmp_path: Path) -> None:
    with (
        running_mail_sink(tmp_path, free_port()) as sink,
        smtplib.SMTP(sink.host, sink.port) as client,
    ):
        for number in range(5):
            client.sendmail("a@x.example", ["b@y.example"], MESSAGE + b"%d\r\n" % number)

    bodies = [path.read_bytes() for path in eml_files(tmp_path)]
    assert bodies == [MESSAGE + b"%d\r\n" % number for number in range(5)]
    stamp, _, digest = eml_files(tmp_path)[0].stem.partition("-")
    assert stamp.endswith("Z") and len(digest) == 10


def test_the_folder_is_created_and_the_port_freed_at_exit(tmp_path: Path) -> None:
    directory = tmp_path / "a" / "b"
    port = free_port()
    with running_mail_sink(directory, port) as sink:
        assert directory.is_dir()
        assert sink.address == f"127.0.0.1:{port}"
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MailSinkError, match=f"port {port} .* HAULFLOW_SMTP_SINK_PORT"):
            with running_mail_sink(tmp_path, port):
                pass


def test_a_message_that_cannot_be_stored_is_refused_temporarily(tmp_path: Path) -> None:
    directory = tmp_path / "mailsink"
    with (
        running_mail_sink(directory, free_port()) as sink,
        smtplib.SMTP(sink.host, sink.port) as client,
    ):
        directory.rmdir()  # the sink's folder vanished: the sender must keep the message
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("a@x.example", ["b@y.example"], MESSAGE)
    assert refused.value.smtp_code == 451
