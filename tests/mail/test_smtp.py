"""Sending over SMTP against real local servers: reuse, reconnection, TLS, login, failures."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from mail.compose import Attachment, OutgoingEmail, build_message, make_message_id
from mail.smtp import (
    PermanentSendError,
    SendOutcome,
    SmtpAccount,
    TemporarySendError,
    open_smtp,
)
from tests.servers import (
    Authenticator,
    SmtpSink,
    TestCertificate,
    free_port,
    running_smtp_sink,
)

SENDER = "dispatch@haul.example"
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 64
PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(255, -1, -1)) * 16


@pytest.fixture(scope="module")
def certificate() -> TestCertificate:
    """One self-signed certificate for the TLS tests of this module."""
    return TestCertificate.generate()


def account_for(sink: SmtpSink, **overrides: Any) -> SmtpAccount:
    return dataclasses.replace(SmtpAccount("127.0.0.1", sink.port, "plain"), **overrides)


def make_message(number: int = 1, attachments: tuple[Attachment, ...] = ()) -> bytes:
    email = OutgoingEmail(
        from_address=f"Haulage Ltd <{SENDER}>",
        to=("Client <client@example.com>",),
        subject=f"POD {number} — délivré",
        message_id=make_message_id(f"task-{number}", domain="haul.example"),
        text=f"Message {number}.\n.\n..leading dots survive\n",
        attachments=attachments,
    )
    return build_message(email, date=datetime(2025, 1, 2, tzinfo=UTC), max_bytes=10_000_000)


def parse(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_a_message_arrives_exactly_as_built(smtp_sink: SmtpSink) -> None:
    attachments = (
        Attachment("4711-pod.pdf", "application/pdf", PDF),
        Attachment("Foto Ladung ÄÖÜ.jpg", "image/jpeg", PHOTO),
    )
    data = make_message(attachments=attachments)

    with open_smtp(account_for(smtp_sink)) as connection:
        outcome = connection.send(data, envelope_from=SENDER, recipients=["client@example.com"])

    assert outcome == SendOutcome(refused={})
    (received,) = smtp_sink.received
    assert (received.mail_from, received.rcpt_tos) == (SENDER, ("client@example.com",))
    assert received.data == data
    got = [
        (part.get_filename(), part.get_content_type(), part.get_content())
        for part in received.message.iter_attachments()
    ]
    assert got == [(a.filename, a.content_type, a.data) for a in attachments]


def test_one_connection_serves_every_send_of_the_block(smtp_sink: SmtpSink) -> None:
    with open_smtp(account_for(smtp_sink)) as connection:
        for number in (1, 2, 3):
            connection.send(
                make_message(number), envelope_from=SENDER, recipients=["a@example.com"]
            )

    assert len(smtp_sink.received) == 3
    assert smtp_sink.connections == 1


def test_a_connection_the_server_dropped_while_idle_is_reopened_once() -> None:
    with running_smtp_sink(timeout=0.2) as sink:
        with open_smtp(account_for(sink)) as connection:
            connection.send(make_message(1), envelope_from=SENDER, recipients=["a@example.com"])
            time.sleep(0.4)  # the server closes the idle connection after 0.2 s
            connection.send(make_message(2), envelope_from=SENDER, recipients=["a@example.com"])

        assert [r.message["Subject"] for r in sink.received] == [
            "POD 1 — délivré",
            "POD 2 — délivré",
        ]
        assert sink.connections == 2


def test_a_4xx_reply_to_data_is_temporary_and_not_resent(smtp_sink: SmtpSink) -> None:
    smtp_sink.reply_next("451 4.3.0 try later")

    with open_smtp(account_for(smtp_sink)) as connection:
        with pytest.raises(TemporarySendError) as raised:
            connection.send(make_message(), envelope_from=SENDER, recipients=["a@example.com"])
        assert smtp_sink.received == []
        # The session survives a refused message: the next one goes out on it.
        connection.send(make_message(2), envelope_from=SENDER, recipients=["a@example.com"])

    error = raised.value
    assert error.temporary
    assert (error.code, error.reply) == (451, "451 4.3.0 try later")
    assert str(error) == f"SMTP 127.0.0.1:{smtp_sink.port} answered 451 4.3.0 try later"
    assert len(smtp_sink.received) == 1
    assert smtp_sink.connections == 1


def test_a_421_reply_to_data_is_not_resent_and_the_next_send_reconnects(
    smtp_sink: SmtpSink,
) -> None:
    smtp_sink.reply_next("421 4.3.2 shutting down")

    with open_smtp(account_for(smtp_sink)) as connection:
        with pytest.raises(TemporarySendError) as raised:
            connection.send(make_message(), envelope_from=SENDER, recipients=["a@example.com"])
        assert smtp_sink.received == []
        connection.send(make_message(2), envelope_from=SENDER, recipients=["a@example.com"])

    assert raised.value.code == 421
    assert [r.message["Subject"] for r in smtp_sink.received] == ["POD 2 — délivré"]
    assert smtp_sink.connections == 2


def test_a_5xx_reply_to_data_is_permanent(smtp_sink: SmtpSink) -> None:
    smtp_sink.reply_next("554 5.6.0 message rejected as spam")

    with open_smtp(account_for(smtp_sink)) as connection:
        with pytest.raises(PermanentSendError) as raised:
            connection.send(make_message(), envelope_from=SENDER, recipients=["a@example.com"])

    assert not raised.value.temporary
    assert raised.value.code == 554
    assert "554 5.6.0 message rejected as spam" in str(raised.value)


def test_recipients_refused_while_others_accepted_are_reported(smtp_sink: SmtpSink) -> None:
    smtp_sink.refuse("gone@example.com")

    with open_smtp(account_for(smtp_sink)) as connection:
        outcome = connection.send(
            make_message(), envelope_from=SENDER, recipients=["gone@example.com", "a@example.com"]
        )

    assert outcome.refused == {"gone@example.com": "550 5.1.1 mailbox unavailable"}
    assert smtp_sink.received[0].rcpt_tos == ("a@example.com",)


def test_every_recipient_refused_is_permanent(smtp_sink: SmtpSink) -> None:
    smtp_sink.refuse("gone@example.com", "left@example.com")

    with open_smtp(account_for(smtp_sink)) as connection:
        with pytest.raises(PermanentSendError) as raised:
            connection.send(
                make_message(),
                envelope_from=SENDER,
                recipients=["gone@example.com", "left@example.com"],
            )

    assert raised.value.code == 550
    assert "refused every recipient: gone@example.com: 550 5.1.1" in str(raised.value)
    assert smtp_sink.received == []


def test_every_recipient_refused_for_now_is_temporary(smtp_sink: SmtpSink) -> None:
    smtp_sink.refuse("grey@example.com", reply="450 4.2.0 greylisted, try again later")

    with open_smtp(account_for(smtp_sink)) as connection:
        with pytest.raises(TemporarySendError) as raised:
            connection.send(make_message(), envelope_from=SENDER, recipients=["grey@example.com"])

    assert raised.value.code == 450
    assert "grey@example.com: 450 4.2.0 greylisted" in str(raised.value)


def test_nothing_listening_is_temporary() -> None:
    port = free_port()
    started = time.monotonic()

    with pytest.raises(TemporarySendError, match=f"127.0.0.1:{port} refused the connection"):
        with open_smtp(SmtpAccount("127.0.0.1", port, "plain")):
            pass

    assert time.monotonic() - started < 1.0


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_a_server_that_never_answers_times_out_as_temporary(silent_server: int) -> None:
    account = SmtpAccount("127.0.0.1", silent_server, "plain", timeout=0.5)

    with pytest.raises(TemporarySendError, match="did not answer within 0.5 s"):
        with open_smtp(account):
            pass


def test_starttls_with_a_trusted_certificate(certificate: TestCertificate) -> None:
    tls = certificate.server_context()
    with running_smtp_sink(tls_context=tls, require_starttls=True) as sink:
        account = account_for(sink, security="starttls")
        with open_smtp(account, ssl_context=certificate.client_context()) as connection:
            connection.send(make_message(), envelope_from=SENDER, recipients=["a@example.com"])

        assert len(sink.received) == 1
        assert sink.connections == 1


def test_starttls_required_but_not_offered_is_permanent(smtp_sink: SmtpSink) -> None:
    with pytest.raises(PermanentSendError, match="does not offer STARTTLS"):
        with open_smtp(account_for(smtp_sink, security="starttls")):
            pass


def test_an_untrusted_certificate_is_permanent(certificate: TestCertificate) -> None:
    stranger = TestCertificate.generate()
    with running_smtp_sink(ssl_context=certificate.server_context()) as sink:
        account = account_for(sink, security="ssl")
        with pytest.raises(PermanentSendError, match="certificate is not trusted"):
            with open_smtp(account, ssl_context=stranger.client_context()):
                pass


def test_implicit_tls_with_login(certificate: TestCertificate) -> None:
    authenticator = Authenticator("dispatch", "s3cret")
    # aiosmtpd counts only STARTTLS as TLS for AUTH, so implicit TLS needs auth_require_tls off.
    server_tls = certificate.server_context()
    with running_smtp_sink(
        ssl_context=server_tls, authenticator=authenticator, auth_require_tls=False
    ) as sink:
        account = account_for(sink, security="ssl", username="dispatch", password="s3cret")
        with open_smtp(account, ssl_context=certificate.client_context()) as connection:
            connection.send(make_message(), envelope_from=SENDER, recipients=["a@example.com"])

        assert len(sink.received) == 1
        assert authenticator.logins == ["dispatch"]


def test_starttls_then_login(certificate: TestCertificate) -> None:
    authenticator = Authenticator("dispatch", "s3cret")
    tls = certificate.server_context()
    with running_smtp_sink(
        tls_context=tls, authenticator=authenticator, auth_required=True
    ) as sink:
        account = account_for(sink, security="starttls", username="dispatch", password="s3cret")
        with open_smtp(account, ssl_context=certificate.client_context()) as connection:
            connection.send(make_message(), envelope_from=SENDER, recipients=["a@example.com"])

        assert authenticator.logins == ["dispatch"]
        assert len(sink.received) == 1


def test_a_login_over_a_plain_connection_needs_consent() -> None:
    authenticator = Authenticator("dispatch", "s3cret")
    with running_smtp_sink(authenticator=authenticator, auth_require_tls=False) as sink:
        with pytest.raises(PermanentSendError, match="password in clear: use starttls or ssl"):
            with open_smtp(account_for(sink, username="dispatch", password="s3cret")):
                pass
    assert authenticator.logins == []  # the password never left


def test_plain_login_and_a_wrong_password() -> None:
    authenticator = Authenticator("dispatch", "s3cret")
    with running_smtp_sink(authenticator=authenticator, auth_require_tls=False) as sink:
        good = account_for(sink, username="dispatch", password="s3cret", allow_plain_login=True)
        with open_smtp(good) as connection:
            connection.send(make_message(), envelope_from=SENDER, recipients=["a@example.com"])
        wrong = account_for(
            sink, username="dispatch", password="guessed-wrong", allow_plain_login=True
        )
        with pytest.raises(PermanentSendError) as raised:
            with open_smtp(wrong):
                pass

    assert authenticator.logins == ["dispatch"]
    error = raised.value
    assert error.code == 535
    assert "refused the login of dispatch: 535" in str(error)
    assert "check the mailbox's username and password" in str(error)
    assert "guessed-wrong" not in str(error) + error.reply


def test_plain_without_a_username_does_not_log_in() -> None:
    authenticator = Authenticator("dispatch", "s3cret")
    with running_smtp_sink(authenticator=authenticator, auth_require_tls=False) as sink:
        with open_smtp(account_for(sink)) as connection:
            connection.send(make_message(), envelope_from=SENDER, recipients=["a@example.com"])

        assert authenticator.logins == []
        assert len(sink.received) == 1


def test_the_password_stays_out_of_the_account_repr() -> None:
    account = SmtpAccount("smtp.example.com", 587, "starttls", "dispatch", "s3cret")

    assert "s3cret" not in repr(account)
