"""The checks of `explain` before sending: execution, e-mail set-up, pauses, schedule, documents."""

from __future__ import annotations

from collections import defaultdict

from sqlmodel import Session, col, select

from delivery.claims import paused_definition_keys
from delivery.explain_checks import Facts, Findings, Verdict
from lifecycle.entities import EntitySnapshot
from models import FINISHED_STATUSES, Category, Document, Execution, Order, TaskStatus, TripOrder


def check_execution(facts: Facts, found: Findings) -> None:
    """Automatic tasks send by themselves; manual ones wait for a person; skip never runs."""
    execution = facts.definition.execution
    if execution == Execution.AUTOMATIC:
        found.add("execution", "ok", "automatic: sends by itself once due")
    elif execution == Execution.MANUAL and not facts.sends_email:
        found.add(
            "execution",
            "info",
            "manual, and it sends no e-mail: a person does it and marks it done",
            facts.run_command,
            blocks="a person completes it: it sends no e-mail",
        )
    elif execution == Execution.MANUAL:
        found.add(
            "execution",
            "problem",
            "manual mode: never sends by itself",
            f"a person marks it done, or {facts.run_command} sends it; to automate new "
            "entities, set execution: automatic and `haulflow config apply`",
            blocks="will not send: manual mode",
        )
    else:
        found.add(
            "execution",
            "skipped",
            "execution skip: the task is created skipped and never sends",
            (f"{facts.run_command} sends this one; " if facts.sends_email else "")
            + "set execution: automatic and `haulflow config apply` for new entities",
            blocks="will not send: execution skip",
        )


def check_email(facts: Facts, found: Findings) -> None:
    """The definition names a mailbox that exists and has an e-mail to send."""
    definition, key = facts.definition, facts.key
    present = {"mailbox": definition.mailbox_key, "email": facts.spec.email}
    missing = [name for name, value in present.items() if not value]
    if len(missing) == len(present):
        # Neither is configured: a to-do for a person (a task run by hand, by design), not a fault.
        found.add(
            "e-mail",
            "info",
            f"{key} has no mailbox and no email: it sends no e-mail (a to-do for a person)",
            f"to make it an e-mail, add mailbox: and email: to {key} and `haulflow config apply`",
        )
        return
    if missing:
        found.add(
            "e-mail",
            "problem",
            f"{key} has no {' and no '.join(missing)}: it sends no e-mail (a to-do for a person)",
            f"add {' and '.join(f'{name}:' for name in missing)} to {key} and "
            "`haulflow config apply`",
            blocks="will not send: no e-mail configured",
        )
        return
    if facts.mailbox is None:
        found.add(
            "e-mail",
            "problem",
            f"mailbox {definition.mailbox_key} does not exist",
            "add it under mailboxes: and `haulflow config apply`",
            blocks=f"will not send: mailbox {definition.mailbox_key} does not exist",
        )
        return
    languages = ", ".join((facts.spec.email or {}).get("languages", {})) or "-"
    found.add(
        "e-mail",
        "ok",
        f"mailbox {facts.mailbox.key} (from {facts.mailbox.from_address}); e-mail in {languages}",
    )


def check_paused(facts: Facts, found: Findings) -> None:
    """A paused definition (latest version) or mailbox holds its tasks."""
    paused = []
    if facts.key in paused_definition_keys(session=facts.session):
        paused.append(f"task {facts.key}")
    if facts.mailbox is not None and facts.mailbox.paused:
        paused.append(f"mailbox {facts.mailbox.key}")
    if not paused:
        found.add("paused", "ok", "neither the task nor its mailbox is paused")
        return
    what = " and ".join(paused)
    found.add(
        "paused",
        "waiting",
        f"{what} {'is' if len(paused) == 1 else 'are'} paused: the task waits, nothing is lost",
        f"set paused: false on {what} and `haulflow config apply`",
        blocks=f"waiting: {what} paused",
    )


def check_schedule(facts: Facts, found: Findings) -> None:
    """Where the task stands in time: scheduled, waiting, due, or finished."""
    task = facts.task
    if task is None:
        return
    status, due = task.status, facts.moment(task.due_at)
    if status == TaskStatus.SCHEDULED and task.due_at is not None:
        if task.due_at > facts.now:
            found.add("schedule", "waiting", f"scheduled: due {due}", blocks=f"scheduled for {due}")
        else:
            found.add(
                "schedule",
                "waiting",
                f"due since {due}: the next sweep makes it ready",
                blocks="due: waiting for the next sweep",
            )
    elif status == TaskStatus.SCHEDULED:
        found.add("schedule", "waiting", *_unknown_moment(facts))
    elif status == TaskStatus.WAITING_FOR_DOCUMENTS:
        found.add("schedule", "waiting", "waiting for its required documents")
    elif status == TaskStatus.OPEN and facts.definition.execution == Execution.AUTOMATIC:
        found.add(
            "schedule",
            "problem",
            "open: held for a person (an uncertain delivery, or set open by hand)",
            f"check the mailbox's sent items, then `haulflow tasks done {task.id}` or "
            f"`haulflow tasks resend {task.id}`",
            blocks="held for a person",
        )
    elif status == TaskStatus.OPEN:
        # `due_at` is when it is due, not when it opened: it may lie ahead.
        when = "overdue since" if task.due_at and task.due_at <= facts.now else "due"
        found.add("schedule", "info", f"open for a person, {when} {due}")
    elif status in (TaskStatus.READY, TaskStatus.SENDING):
        found.add("schedule", "ok", f"due since {due}" if task.due_at else "due")
    elif status in FINISHED_STATUSES:
        by = task.completed_by or "?"
        verdict: Verdict = "ok" if status == TaskStatus.DONE else "info"
        found.add("schedule", verdict, f"{status} on {facts.moment(task.completed_at)} by {by}")


def _unknown_moment(facts: Facts) -> tuple[str, str | None]:
    """Detail and action of a scheduled task whose moment is not known yet."""
    schedule = facts.spec.schedule
    if schedule.on == "status":
        target = schedule.status or "?"
        detail = f"waits until {facts.label} reaches status {target} (now {facts.snapshot.status})"
        return detail, None
    field_name = schedule.date or "?"
    return f"waits for {facts.label}'s {field_name}, not set", f"set {field_name} on the entity"


def check_documents(facts: Facts, found: Findings) -> None:
    """Every required document type is recorded (for a trip: for every order it carries)."""
    required = list(facts.spec.required_documents)
    if not required or facts.finished:
        return
    if facts.ref.category is Category.TRIP:
        _check_trip_documents(facts, found, required)
        return
    missing = [kind for kind in required if kind not in facts.snapshot.document_types]
    if not missing:
        found.add("documents", "ok", f"recorded: {', '.join(required)}")
        return
    recorded = ", ".join(sorted(facts.snapshot.document_types)) or "none"
    found.add(
        "documents",
        "waiting",
        f"missing: {', '.join(missing)} (recorded: {recorded})",
        "upload with " + "; ".join(_upload(str(facts.ref), kind) for kind in missing),
        blocks=_waiting_for(missing),
    )


def _upload(entity: str, kind: str) -> str:
    return f"`haulflow documents upload {entity} {kind} FILE`"


def _waiting_for(kinds: list[str]) -> str:
    return f"waiting for {' and '.join(kinds)}"


def _check_trip_documents(facts: Facts, found: Findings, required: list[str]) -> None:
    """A trip's task waits until every order it carries has each required type."""
    missing_by_order = _trip_missing(facts.session, facts.snapshot, required)
    if missing_by_order is None:
        detail = f"{facts.label} carries no order, so no {', '.join(required)} can be recorded"
        found.add("documents", "waiting", detail, blocks=_waiting_for(required))
        return
    if not missing_by_order:
        found.add("documents", "ok", f"recorded for every order: {', '.join(required)}")
        return
    detail = "missing: " + "; ".join(
        f"{reference} {', '.join(kinds)}" for reference, kinds in missing_by_order.items()
    )
    uploads = [
        _upload(f"order:{reference}", kind)
        for reference, kinds in missing_by_order.items()
        for kind in kinds
    ]
    wanted = [kind for kind in required if any(kind in k for k in missing_by_order.values())]
    action = "upload with " + "; ".join(uploads)
    found.add("documents", "waiting", detail, action, blocks=_waiting_for(wanted))


def _trip_missing(
    session: Session, snapshot: EntitySnapshot, required: list[str]
) -> dict[str, list[str]] | None:
    """Per order reference of the trip, the required types not recorded; None without orders."""
    rows = session.exec(
        select(Order.reference, Document.type)
        .select_from(TripOrder)
        .join(Order, col(Order.id) == TripOrder.order_id)
        .outerjoin(Document, col(Document.order_id) == TripOrder.order_id)
        .where(TripOrder.trip_id == snapshot.id)
        .order_by(col(Order.reference))
    ).all()
    if not rows:
        return None
    recorded: dict[str, set[str]] = defaultdict(set)
    for reference, kind in rows:
        recorded[reference].update([kind] if kind else [])
    missing = {ref: [k for k in required if k not in kinds] for ref, kinds in recorded.items()}
    return {reference: kinds for reference, kinds in missing.items() if kinds}
