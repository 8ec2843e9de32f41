"""`haulflow status`: is the stack healthy, and what to do about each problem.

Healthy means: the Prefect server answers, every deployment is served (a runner polls it,
so Prefect marks it READY), a sweep ran in the last few minutes, a dispatcher is alive, no
haulflow run crashed or failed in the last hour, no ready task has waited longer than
asked, and, with an SQS queue configured, `haulflow listen` polls it. Failed tasks, sends
stuck past their timeout, runs that postponed e-mails and refused inbox drops are warnings:
they need a person, but the stack itself works.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.exc import SQLAlchemyError

from core.errors import NotConfiguredError
from core.moments import human_moment
from core.prefect_runtime import (
    API_URL_FILE,
    prefect_api_url,
    prefect_connection,
    prefect_server_reachable,
)
from core.settings import get_settings
from deployments.catalog import DEPLOYMENT_NAMES
from services.health import Check, database_checks, dispatcher_check
from stack.leftovers import PIDS_FILE, running_writer
from stack.report import StatusReport
from stack.run_health import LEFT_BEHIND, run_checks

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun

SWEEP_FLOW = "sweep"
# Five minutes (or three intervals) without a sweep run means the sweep is not running.
SWEEP_MIN_MAX_AGE = timedelta(minutes=5)


def check_status(*, stale_minutes: int, now: datetime | None = None) -> StatusReport:
    """Check the Prefect server, deployments, sweep and task tables; never raises for them."""
    now = now or datetime.now(UTC)
    api_url, source = api_url_and_source()
    checks = [_server_check(api_url, source)]
    if api_url is not None and checks[0].severity == "ok":
        started_at = _stack_started_at(api_url)
        checks += _prefect_checks(api_url, now=now, started_at=started_at)
        checks += _dispatcher_check(now=now, started_at=started_at)
    checks += _leftover_check()
    checks += database_checks(now=now, stale_minutes=stale_minutes)
    return StatusReport(api_url=api_url, url_source=source, checks=checks)


def api_url_and_source() -> tuple[str | None, str | None]:
    """The Prefect API URL haulflow uses, and where it was found (as `prefect_api_url`)."""
    url = prefect_api_url()
    if url is None:
        return None, None
    # Prefect's own variable, read where Prefect and `prefect_api_url` read it.
    if os.environ.get("PREFECT_API_URL", "").strip() == url:
        return url, "PREFECT_API_URL"
    url_file = _url_file()
    if url_file.is_file() and url_file.read_text(encoding="utf-8").strip() == url:
        return url, str(url_file)
    return url, "the active Prefect profile"


def _url_file() -> Path:
    return get_settings().var_dir / API_URL_FILE


def _server_check(api_url: str | None, source: str | None) -> Check:
    if api_url is None:
        return Check(
            "server",
            "problem",
            "no Prefect server configured",
            advice="start the local stack with `haulflow up`, or set PREFECT_API_URL",
        )
    where = f"{api_url} (from {source})"
    if prefect_server_reachable(timeout=3.0, api_url=api_url):
        return Check("server", "ok", f"Prefect server answers at {where}")
    advice = "start the local stack with `haulflow up`, or check that server and its network"
    if source == str(_url_file()):
        advice += f"; {source} is left from a `haulflow up` that did not stop cleanly"
    return Check("server", "problem", f"no Prefect server answers at {where}", advice=advice)


def _dispatcher_check(*, now: datetime, started_at: datetime | None) -> list[Check]:
    try:
        return [dispatcher_check(now=now, started_at=started_at)]
    except (NotConfiguredError, SQLAlchemyError):
        return []  # the database checks below say what is wrong with the database


def _leftover_check() -> list[Check]:
    """A `haulflow up` killed without stopping its children left them running, sink-less."""
    pids_file = get_settings().var_dir / PIDS_FILE
    if not pids_file.is_file() or running_writer(pids_file) is not None:
        return []
    return [
        Check(
            "local stack",
            "problem",
            "the `haulflow up` of this folder was killed: its Prefect server or `haulflow "
            "serve` may still run, but its mail sink does not (e-mails wait for retries)",
            advice="run `haulflow up` again: it stops what was left running first",
        )
    ]


def _stack_started_at(api_url: str) -> datetime | None:
    """When `haulflow up` started the server at `api_url`, from its URL file (also when the
    shell exports the same URL as PREFECT_API_URL); None for a server `up` did not start."""
    url_file = _url_file()
    try:
        if url_file.read_text(encoding="utf-8").strip() != api_url:
            return None
        return datetime.fromtimestamp(url_file.stat().st_mtime, UTC)
    except OSError:
        return None


def _prefect_checks(api_url: str, *, now: datetime, started_at: datetime | None) -> list[Check]:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError

    try:
        with prefect_connection(api_url), get_client(sync_client=True) as client:
            deployments = _deployment_check(client)
            sweep = _sweep_check(
                client,
                api_url=api_url,
                now=now,
                served=deployments.severity == "ok",
                started_at=started_at,
            )
            runs = run_checks(client, api_url=api_url, now=now, started_at=started_at)
    except (httpx.HTTPError, PrefectHTTPStatusError) as error:
        return [
            Check(
                "deployments",
                "problem",
                f"the Prefect server stopped answering: {type(error).__name__}: {error}",
                advice="run `haulflow status` again; if it persists, restart `haulflow up`",
            )
        ]
    return [deployments, sweep, *runs]


def _deployment_check(client: SyncPrefectClient) -> Check:
    from prefect.client.schemas.objects import DeploymentStatus
    from prefect.exceptions import ObjectNotFound

    missing: list[str] = []
    not_served: list[str] = []
    for name in DEPLOYMENT_NAMES:
        try:
            deployment = client.read_deployment_by_name(name)
        except ObjectNotFound:
            missing.append(name)
            continue
        if deployment.paused or deployment.status != DeploymentStatus.READY:
            not_served.append(name + (" (paused)" if deployment.paused else ""))
    total = len(DEPLOYMENT_NAMES)
    if not missing and not not_served:
        return Check("deployments", "ok", f"{total} deployments served")
    details = [f"missing: {name}" for name in missing]
    details += [f"not served (no runner polls it): {name}" for name in not_served]
    advice = (
        "run `haulflow up` (or `haulflow serve` with PREFECT_API_URL set) so the deployments "
        "are registered and served"
    )
    if not_served and not missing:
        advice = (
            "`haulflow serve` is not running (or a deployment is paused in the UI): restart "
            "`haulflow up`, or resume the deployment"
        )
    served = total - len(missing) - len(not_served)
    return Check(
        "deployments", "problem", f"{served} of {total} deployments served", details, advice
    )


def _sweep_check(
    client: SyncPrefectClient,
    *,
    api_url: str,
    now: datetime,
    served: bool,
    started_at: datetime | None,
) -> Check:
    run = _newest_sweep_run(client)
    max_age = sweep_max_age()
    if run is None or run.start_time is None:
        if started_at is not None and now - started_at < max_age:
            return Check(
                "sweep", "ok", f"no sweep yet: the stack started {_ago(now - started_at)} ago"
            )
        summary = "no sweep has run"
    else:
        start = run.start_time.astimezone(UTC)
        state = run.state.name if run.state else "unknown"
        summary = f"last sweep started {_ago(now - start)} ago ({human_moment(start)}), {state}"
        link = f"{api_url.removesuffix('/api')}/runs/flow-run/{run.id}"
        broke = run.state is not None and (run.state.is_failed() or run.state.is_crashed())
        # A sweep that postponed e-mails ran fine; the run check lists it as a warning.
        if broke and run.state is not None and run.state.name not in LEFT_BEHIND:
            # One cut short by the previous stack's stop is history, not a problem now.
            if started_at is None or start >= started_at:
                return Check("sweep", "problem", summary, [link], "open its logs in the UI")
            if now - started_at < max_age:
                return Check("sweep", "ok", summary + ", before this stack started")
        elif now - start <= max_age:
            return Check("sweep", "ok", summary)
    if not served:
        # The deployments' problem is the cause; this one needs no action of its own.
        return Check("sweep", "warning", summary, advice="fix the deployments first")
    return Check(
        "sweep",
        "problem",
        summary,
        advice=f"no sweep started in the last {_ago(max_age)}: if one still runs, its logs in "
        "the UI say why it takes so long; otherwise check the sweep's schedule in the UI and "
        "the Prefect server's log (var/logs/prefect-server.log under `haulflow up`)",
    )


def sweep_max_age() -> timedelta:
    """How old the last sweep may be: three intervals, and never less than five minutes."""
    interval = timedelta(seconds=get_settings().sweep_interval_seconds)
    return max(SWEEP_MIN_MAX_AGE, 3 * interval)


def _newest_sweep_run(client: SyncPrefectClient) -> FlowRun | None:
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterStartTime,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    runs = client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[SWEEP_FLOW])),
        flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(is_null_=False)),
        sort=FlowRunSort.START_TIME_DESC,
        limit=1,
    )
    return runs[0] if runs else None


def _ago(delta: timedelta) -> str:
    seconds = int(max(delta.total_seconds(), 0))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
