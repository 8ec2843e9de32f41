"""The checks of `explain` about the e-mail itself: recipients, mailbox, sending, sent.

The mailbox probe connects like `sender.open_mailbox` (EHLO, STARTTLS and login as the
mailbox says, then QUIT) with a short timeout, and sends nothing. Its messages quote the
server and name where the password is kept, never the password.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from core.errors import HaulflowError
from core.secrets import PREFECT_BLOCK
from core.settings import get_settings
from delivery.dispatching import live_dispatchers
from delivery.explain_checks import Facts, Findings
from delivery.mailboxes import mailbox_account, mailbox_password, smtp_relay
from delivery.task_emails import addressed
from lifecycle.corrections import documents_after_last_email, policy_of
from lifecycle.generation import read_fallback_role
from lifecycle.recipients import Resolution, resolve_recipients
from mail.smtp import open_smtp
from models import Communication, Party, TaskStatus

# Long enough for a relay across the internet to greet; short enough for a person waiting.
PROBE_TIMEOUT_SECONDS = 5.0
_UNSENT = (TaskStatus.SCHEDULED, TaskStatus.WAITING_FOR_DOCUMENTS, TaskStatus.OPEN)


def check_recipients(facts: Facts, found: Findings) -> None:
    """Who the e-mail goes to (frozen when the task was created) and which roles nobody holds."""
    intended_for: dict[str, Any] = facts.spec.intended_for
    if not any(intended_for.get(name) for name in ("roles", "trip_contacts", "addresses")):
        found.add(
            "recipients",
            "problem",
            f"{facts.key} is intended for nobody",
            "set intended_for (roles, trip_contacts or addresses) and `haulflow config apply`",
            blocks="will not send: intended for nobody",
        )
        return
    now = _resolve_now(facts, intended_for)
    task = facts.task
    # Exactly whom the e-mails go to: composing leaves another customer's contact out.
    recipients, left_out = addressed(
        facts.session, facts.snapshot, task.recipients if task is not None else now.recipients
    )
    if not recipients:
        _no_recipient(facts, found, intended_for, now)
        _left_out(facts, found, left_out)
        return
    listed = ", ".join(f"{r['email']} ({r.get('source', '?')})" for r in recipients)
    to = "to" if task is not None else "a run would send to"
    unmatched = _unmatched(now)
    if unmatched:
        if now.unmatched_roles:
            roles = ", ".join(now.unmatched_roles)
            action = f"if they should receive it, give {_parties(facts)} the role {roles}"
        else:
            action = "correct the addresses (intended_for.addresses, or the trip contacts)"
        found.add("recipients", "info", f"{to} {listed}; {unmatched}", action)
    else:
        found.add("recipients", "ok", f"{to} {listed}")
    _left_out(facts, found, left_out)
    if task is None or task.status not in (*_UNSENT, TaskStatus.READY):
        return
    frozen = {str(r["email"]) for r in task.recipients}
    today = {str(r["email"]) for r in now.recipients}
    if frozen != today:
        found.add(
            "contacts",
            "info",
            "today's contacts differ from those frozen when the task was created: "
            f"now {', '.join(sorted(today)) or 'nobody'}; the task keeps its recipients",
            f"`haulflow tasks recalculate {facts.ref}` takes today's contacts",
        )


def _left_out(facts: Facts, found: Findings, left_out: list[dict[str, Any]]) -> None:
    if left_out:
        listed = ", ".join(f"{r['email']} ({r.get('source', '?')})" for r in left_out)
        found.add(
            "recipients",
            "info",
            f"left out: {listed}: a contact of another customer than {facts.label}'s, "
            "never sent its documents",
        )


def _resolve_now(facts: Facts, intended_for: dict[str, Any]) -> Resolution:
    fallback = read_fallback_role(session=facts.session, definitions=[facts.definition])
    resolutions = resolve_recipients(
        session=facts.session,
        intended_for=intended_for,
        snapshots=[facts.snapshot],
        fallback_role=fallback,
    )
    return resolutions[facts.snapshot.id]


def _unmatched(resolution: Resolution) -> str:
    parts = []
    if resolution.unmatched_roles:
        parts.append("nobody holds the role(s) " + ", ".join(resolution.unmatched_roles))
    if resolution.invalid_addresses:
        parts.append("invalid addresses dropped: " + ", ".join(resolution.invalid_addresses))
    return "; ".join(parts)


def _no_recipient(
    facts: Facts, found: Findings, intended_for: dict[str, Any], now: Resolution
) -> None:
    reasons = [_unmatched(now)] if _unmatched(now) else []
    if intended_for.get("trip_contacts") and not facts.snapshot.trip_contact_emails:
        reasons.append(f"{facts.label} has no trip contacts")
    if now.recipients:
        today = ", ".join(str(r["email"]) for r in now.recipients)
        reasons.append(f"today's contacts would receive it: {today}")
    if now.recipients:
        action = f"{facts.run_command} sends it to today's contacts"
    elif now.unmatched_roles:
        roles = ", ".join(now.unmatched_roles)
        action = (
            f"give {_parties(facts)} the role {roles} (contacts page), then {facts.run_command}"
        )
    else:
        action = f"add contact e-mails to the trip of {facts.label}, then {facts.run_command}"
    outcome = "will fail" if facts.task is not None else "will not send"
    held = f" (nobody holds {', '.join(now.unmatched_roles)})" if now.unmatched_roles else ""
    found.add(
        "recipients",
        "problem",
        "no recipient" + (": " + "; ".join(reasons) if reasons else ""),
        action,
        blocks=f"{outcome}: no recipient{held}",
    )


def _parties(facts: Facts) -> str:
    """`a contact of ACME (CUST-1)`, naming the parties whose contacts may be addressed."""
    ids = list(facts.snapshot.party_ids)
    if not ids:
        return "a contact of the entity's party"
    rows = facts.session.exec(
        select(Party.name, Party.reference).where(col(Party.id).in_(ids))
    ).all()
    return "a contact of " + " or ".join(f"{name} ({reference})" for name, reference in rows)


def check_mailbox(facts: Facts, found: Findings, *, probe: bool) -> None:
    """The mailbox's password can be read and its relay answers (unless `probe` is off)."""
    mailbox, task = facts.mailbox, facts.task
    if mailbox is None or (
        facts.finished and task is not None and task.status != TaskStatus.FAILED
    ):
        return
    relay = smtp_relay()
    where = f"relay {relay}" if relay else f"SMTP {mailbox.smtp_host}:{mailbox.smtp_port}"
    # A Prefect block is read over the network: not with --no-connect.
    secret = mailbox.password_secret or ""
    offline = not probe and not relay and secret.strip().startswith(PREFECT_BLOCK)
    try:
        password = None if offline else mailbox_password(mailbox)
    except HaulflowError as error:
        found.add(
            "mailbox",
            "problem",
            f"mailbox {mailbox.key}: {error}",
            "set it (explain never shows the value); the next dispatch then sends",
            blocks=f"will not send: mailbox {mailbox.key} has no password",
        )
        return
    if not probe:
        found.add("mailbox", "skipped", f"{where} not tried (--no-connect)")
        return
    timeout = min(PROBE_TIMEOUT_SECONDS, get_settings().smtp_timeout_seconds)
    account = mailbox_account(mailbox, password, timeout=timeout)
    try:
        with open_smtp(account):
            pass
    except HaulflowError as error:
        found.add(
            "mailbox",
            "problem",
            f"mailbox {mailbox.key} unreachable: {error}",
            "check the relay and the mailbox's smtp host, port, security and username; "
            "temporary failures are retried by themselves",
            blocks=f"mailbox {mailbox.key} unreachable: {error}",
        )
        return
    if relay:
        found.add("mailbox", "ok", f"{where} answered (every mailbox sends through it)")
        return
    login = f", logged in as {mailbox.smtp_username}" if mailbox.smtp_username else ""
    found.add("mailbox", "ok", f"{where} answered ({mailbox.smtp_security}{login})")


def check_dispatcher(facts: Facts, found: Findings) -> None:
    """A ready e-mail goes out only while a dispatcher runs (`up`, `serve`, a worker)."""
    if facts.task is None or facts.task.status != TaskStatus.READY:
        return
    if live_dispatchers(session=facts.session, now=facts.now):
        found.add("dispatcher", "ok", "a dispatcher is running: it sends ready e-mails at once")
        return
    found.add(
        "dispatcher",
        "waiting",
        "no dispatcher has run within the last minute: nothing sends this task until one does",
        "start `haulflow up` (one machine) or `haulflow serve` (or workers on the pool), or "
        f"send it now: {facts.run_command}",
        blocks="ready, waiting for a dispatcher: none is running",
    )


def check_sending(facts: Facts, found: Findings) -> None:
    """Attempts, the next retry and the last SMTP error; a stuck claim; a failure."""
    task = facts.task
    if task is None:
        return
    if task.status == TaskStatus.FAILED:
        attempts = f" after {task.attempts} attempt(s)" if task.attempts else ""
        found.add(
            "sending",
            "problem",
            f"failed{attempts}: {task.last_error or 'no reason recorded'}",
            f"fix the cause, then {facts.run_command} tries again",
        )
        return
    if task.status not in (TaskStatus.READY, TaskStatus.SENDING) or not task.attempts:
        return
    stale = facts.now - timedelta(seconds=get_settings().sending_timeout_seconds)
    if task.status == TaskStatus.SENDING and task.updated_at < stale:
        found.add(
            "sending",
            "problem",
            f"sending since {facts.moment(task.updated_at)}: the sending run stopped",
            "the sweep releases it by the definition's on_uncertain_delivery",
            blocks="stuck in sending: the sweep releases it",
        )
    elif task.status == TaskStatus.SENDING:
        since = facts.moment(task.updated_at)
        found.add("sending", "info", f"being sent: attempt {task.attempts} since {since}")
    elif task.last_error:
        found.add(
            "sending",
            "problem",
            f"attempt {task.attempts} failed: {task.last_error}; next attempt "
            f"{facts.moment(task.next_attempt_at)}",
            f"retried by itself up to {get_settings().send_max_attempts} attempts; "
            "fix the cause the server names",
            blocks=f"retrying: {task.last_error}",
        )


def check_sent(facts: Facts, found: Findings) -> None:
    """The communication log of the task: what went out, when, to whom."""
    task = facts.task
    if task is None:
        return
    sent = facts.session.exec(
        select(Communication)
        .where(Communication.task_id == task.id)
        .order_by(col(Communication.sent_at))
    ).all()
    if not sent:
        if task.status == TaskStatus.DONE:
            found.add("sent", "info", f"done by {task.completed_by or '?'}: no e-mail recorded")
        return
    lines = [
        f"sent on {facts.moment(email.sent_at)} to {', '.join(email.recipients)} "
        f"(Message-ID {email.message_id}, by {email.requested_by})"
        for email in sent
    ]
    found.add("sent", "ok", "; ".join(lines))
    last = sent[-1]
    found.sent = f"sent on {facts.moment(last.sent_at)} to {', '.join(last.recipients)}"


def check_corrections(facts: Facts, found: Findings) -> None:
    """Documents recorded after the e-mail went out, and what `on_corrected_document` did."""
    task = facts.task
    if task is None:
        return
    later = documents_after_last_email(
        session=facts.session, task=task, definition=facts.definition
    )
    if not later:
        return
    policy = policy_of(facts.definition)
    names = ", ".join(
        f"{document.type} {document.filename} ({facts.moment(document.uploaded_at)})"
        for document in later
    )
    detail = f"recorded after the last e-mail, which went out with the earlier version: {names}"
    if task.status == TaskStatus.DONE:
        found.add(
            "corrected documents",
            "info",
            f"{detail}; on_corrected_document: {policy}: not sent again",
            f"`haulflow tasks resend {task.id.hex[:8]} --by USERNAME` sends it with them",
        )
    elif task.status == TaskStatus.OPEN:
        found.add(
            "corrected documents",
            "waiting",
            f"{detail}; on_corrected_document: {policy}: reopened for a person",
            f"`haulflow tasks resend {task.id.hex[:8]} --by USERNAME`, or `tasks done` to keep "
            "the earlier e-mail",
            blocks="reopened: a corrected document waits for a person's resend",
        )
    else:
        found.add(
            "corrected documents",
            "info",
            f"{detail}; on_corrected_document: {policy}: a new e-mail with them is on its way",
        )
