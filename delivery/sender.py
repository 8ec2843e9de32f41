"""Send claimed email tasks: one SMTP connection per mailbox per batch, record each message.

Each task is composed in a read-only session, each accepted message is archived and
recorded in its own commit right after the server's 250, and the task is completed when all
its messages are recorded. Messages already recorded for the task (a retry after some of a
groupage trip's e-mails went out) are not sent again. A failure to record after the server
accepted leaves the task `sending`: that is the uncertain case `claims.release_stale_claims`
settles by the definition's `on_uncertain_delivery`.

The steps (`delivery.send_steps`) of consecutive tasks overlap: while this task's messages
are on the wire, the next task is composed (one thread) and the previous one is recorded
(another). The wire is the one thing done in order, one message at a time; at most one task
is accepted-but-not-yet-recorded at any moment, which bounds the uncertain window to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from core.database import session_scope
from core.errors import HaulflowError
from delivery.claims import release_unsent
from delivery.mailboxes import SmtpOpener, open_mailbox
from delivery.reports import DeliveryReport
from delivery.send_steps import (
    Context,
    Failure,
    Job,
    compose_job,
    finish_job,
    load_jobs,
    send_job,
    settle,
)
from models import Mailbox, utcnow
from storage.base import DocumentStore


def deliver_tasks(
    *,
    task_ids: list[uuid.UUID],
    store: DocumentStore,
    by: str = "automation",
    open_connection: SmtpOpener = open_mailbox,
    flow_run_id: uuid.UUID | None = None,
    now: Callable[[], datetime] = utcnow,
    should_stop: Callable[[], bool] = lambda: False,
) -> DeliveryReport:
    """Send the messages of these `sending` tasks and record every outcome.

    Asked to stop (`should_stop`, checked between two tasks), or stopped on the way (the
    runner stopping, a cancelled run), it gives back the tasks it had not begun, `ready` as
    before their claim, so at most the one being sent at that moment is left `sending` for
    `claims.release_stale_claims`.
    """
    report = DeliveryReport()
    context = Context(store, by, flow_run_id, now)
    jobs = load_jobs(task_ids)
    begun: set[uuid.UUID] = set()
    try:
        by_mailbox: dict[str, list[Job]] = {}
        for job in jobs:
            by_mailbox.setdefault(job.mailbox_key, []).append(job)
        for mailbox_key, group in by_mailbox.items():
            if should_stop():
                break
            _deliver_group(mailbox_key, group, begun, report, context, open_connection, should_stop)
    finally:
        unsent = [job.task_id for job in jobs if job.task_id not in begun]
        if unsent:
            with session_scope() as session:
                release_unsent(session=session, task_ids=unsent, now=now(), by=by)
    return report


def _deliver_group(
    mailbox_key: str,
    group: list[Job],
    begun: set[uuid.UUID],
    report: DeliveryReport,
    context: Context,
    open_connection: SmtpOpener,
    should_stop: Callable[[], bool],
) -> None:
    """One mailbox's tasks on one connection: compose ahead, send, record behind."""
    pending = list(group)
    with session_scope() as session:
        mailbox = session.get(Mailbox, mailbox_key)
    assert mailbox is not None  # the claim joined it
    try:
        with (
            open_connection(mailbox) as connection,
            ThreadPoolExecutor(1, thread_name_prefix="compose") as composer,
            ThreadPoolExecutor(1, thread_name_prefix="record") as recorder,
        ):
            upcoming = composer.submit(compose_job, pending[0], context)
            recording: Future[DeliveryReport] | None = None
            try:
                while pending and not should_stop():
                    job, composed = pending[0], upcoming.result()
                    if len(pending) > 1:
                        upcoming = composer.submit(compose_job, pending[1], context)
                    begun.add(job.task_id)
                    sending = send_job(job, composed, connection)
                    if recording is not None:
                        report.merge(recording.result())
                    recording = recorder.submit(finish_job, job, sending, context)
                    pending.pop(0)
            finally:
                # Whatever stopped the loop, what was accepted is recorded before leaving.
                if recording is not None:
                    report.merge(recording.result())
    except HaulflowError as error:
        # The relay could not be reached or refused the login, or its secret is missing:
        # a mailbox problem, not the tasks'. They wait (with backoff, up to the last
        # attempt) rather than hundreds failing at once for one wrong password.
        for job in pending:
            begun.add(job.task_id)
            failure = Failure(f"mailbox {mailbox_key}: {error}", permanent=False)
            settle(job, failure, report, context)
