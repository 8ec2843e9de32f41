"""The dispatcher: a long-lived run that sends each ready e-mail task within a second."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.client.schemas.objects import State
from prefect.context import SyncClientContext

from core.moments import human_moment
from core.settings import get_settings
from services.sending import Shift, lease_id
from tasks.audit import publish_entity_artifacts
from tasks.dispatching import ensure_dispatchers, from_deployment, send_ready
from tasks.mail import run_id
from tasks.outcomes import final_state, rename_run, warn_problems

# With nothing to do, look anyway this often: a retry whose moment came has no wake-up.
IDLE_LOOK_SECONDS = 2.0
# Past its lifetime, a dispatcher waits this long for its successor, then ends regardless
# (the sweep starts another when none is alive).
HANDOVER_SECONDS = 120.0
# The run's table artifact lists this many e-mails and problems at most.
ARTIFACT_ROWS = 1_000
# Entity pages are published between sends, in slices this long, so that a task readied
# meanwhile waits at most one slice (each page is two requests and a few queries).
PUBLISH_SLICE_SECONDS = 0.5
# After a failed publication (the Prefect server away), the pages wait this long.
PUBLISH_RETRY_SECONDS = 30.0


def _run_name() -> str:
    return f"dispatcher from {human_moment(datetime.now(UTC))}"


@flow(name="dispatcher", flow_run_name=_run_name)
async def dispatcher(
    batch_size: int = 200,
    lifetime_seconds: float | None = None,
    replicas: int | None = None,
) -> State[dict[str, int]]:
    """Send ready e-mail tasks as soon as the commit that readied them wakes this run.

    Runs for its lifetime, then starts a successor and hands over once it is running. Each
    batch it sends is a `send-ready` task run; each task left behind gets a WARNING line at
    once, and the run ends `Completed`, or `Postponed`/`Held`/`Failed` (`tasks.outcomes`).
    The task page (keyed artifact) of each entity it touched is published when no e-mail is
    waiting: during a burst, the e-mails go out first and the pages follow.

    Args:
        batch_size: Tasks claimed and sent per batch.
        lifetime_seconds: How long this run dispatches before handing over (default
            HAULFLOW_DISPATCHER_LIFETIME_SECONDS).
        replicas: How many dispatchers should run (default HAULFLOW_DISPATCHERS); an older
            one hands over when that many newer ones are alive.
    """
    settings = get_settings()
    lifetime = lifetime_seconds or settings.dispatcher_lifetime_seconds
    wanted = settings.dispatchers if replicas is None else replicas
    log = get_run_logger()
    shift_log = _ShiftLog()
    started = time.monotonic()
    successor_asked = False
    # One synchronous client for the whole shift: each `send-ready` task run otherwise
    # builds its own (an SSL context and a connection pool per batch, a tenth of this
    # run's CPU during a burst).
    with (
        SyncClientContext.get_or_create(),
        Shift(lease=lease_id(run_id()), replicas=max(wanted, 1)) as shift,
    ):
        log.info("dispatching (%d wanted, lifetime %.0f s)", wanted, lifetime)
        while shift.keep_going():
            age = time.monotonic() - started
            if age >= lifetime and not successor_asked:
                if not from_deployment():
                    break  # called in process, not through a deployment: no successor
                ensure_dispatchers(wanted, successor=True)
                successor_asked = True
            if age >= lifetime + HANDOVER_SECONDS:
                log.warning("no successor took over within %.0f s: ending", HANDOVER_SECONDS)
                break
            if await asyncio.to_thread(shift.work_waiting):
                shift_log.add(send_ready(batch_size))
                continue
            if shift_log.unpublished and time.monotonic() >= shift_log.publish_after:
                shift_log.publish(PUBLISH_SLICE_SECONDS)
                continue
            await asyncio.to_thread(shift.wait, IDLE_LOOK_SECONDS)
        shift_log.publish(None)
    return await shift_log.close()


class _ShiftLog:
    """What one dispatcher run did: e-mails, problems still open, for its end and artifacts."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.problems: dict[str, dict[str, dict[str, Any]]] = {
            "retrying": {},
            "failed": {},
            "uncertain": {},
        }
        self.sent = 0
        self.batches = 0
        # Entities whose task page changed and is not yet published (oldest first): sending
        # comes first, the pages follow when no e-mail is waiting.
        self.unpublished: dict[str, None] = {}
        self.publish_after = 0.0  # monotonic; later after a failure, so as not to spin

    def add(self, result: dict[str, Any]) -> None:
        log = get_run_logger()
        self.batches += 1
        for email in result["sent"]:
            self.sent += 1
            log.info("sent %s on %s to %s", email["task key"], email["entity"], email["to"])
            for open_problems in self.problems.values():
                open_problems.pop(email["task"], None)  # postponed earlier, sent now: settled
        fresh = {kind: result[kind] for kind in self.problems}
        warn_problems(fresh)
        for kind, rows in fresh.items():
            self.problems[kind].update((str(row["task"]), row) for row in rows)
        touched = [{"outcome": "sent", **row} for row in result["sent"]] + [
            {"outcome": kind, **row} for kind, rows in fresh.items() for row in rows
        ]
        self.rows += touched[: max(ARTIFACT_ROWS - len(self.rows), 0)]
        self.unpublished.update(dict.fromkeys(str(row["entity"]) for row in touched))

    def publish(self, seconds: float | None) -> None:
        """Publish the pages of the entities touched since, oldest first, for `seconds`
        (None: all of them, up to `MAX_ENTITY_ARTIFACTS`)."""
        entities = list(self.unpublished)
        try:
            published = publish_entity_artifacts(entities, seconds=seconds) if entities else 0
        except Exception as error:
            # The Prefect server is away (restarting): the e-mails went out and are recorded
            # in the database, which is what counts; the pages catch up at the next pass.
            get_run_logger().warning(
                "entity artifacts not published (%s: %s); next try in %.0f s",
                type(error).__name__,
                error,
                PUBLISH_RETRY_SECONDS,
            )
            self.publish_after = time.monotonic() + PUBLISH_RETRY_SECONDS
            return
        for entity in entities[:published] if seconds is not None else entities:
            del self.unpublished[entity]

    async def close(self) -> State[dict[str, int]]:
        problems = {kind: list(rows.values()) for kind, rows in self.problems.items()}
        totals = {
            "sent": self.sent,
            "batches": self.batches,
            "retrying": len(problems["retrying"]),
            "failed": len(problems["failed"]) + len(problems["uncertain"]),
        }
        summary = (
            f"{totals['sent']} e-mails sent in {totals['batches']} batches, "
            f"{totals['retrying']} to retry, {totals['failed']} failed"
        )
        log = get_run_logger()
        log.info("%s", summary)
        try:
            await acreate_table_artifact(
                key="dispatcher-sent",
                table=self.rows or [{"outcome": "nothing to send", "entity": "-", "task": "-"}],
                description=f"E-mails sent and tasks left behind by this dispatcher ({summary}; "
                f"the first {ARTIFACT_ROWS:,} rows).",
            )
            await rename_run(f"dispatcher until {human_moment(datetime.now(UTC))}: {summary}")
        except Exception as error:  # the Prefect server is away; the database has it all
            log.warning("run artifact and name not updated (%s: %s)", type(error).__name__, error)
        return final_state(problems, summary=summary, result=totals)
