"""Where the Prefect server is, whether it answers, and how a command talks to it safely.

haulflow commands must never start a temporary Prefect server by accident: with no API URL,
Prefect 3.9.1 starts one for any client call, even `emit_event` (whose events worker ignores
the ephemeral-mode setting). So a command asks `prefect_server_reachable()` first, works in
process when it is False, and talks to Prefect only inside `prefect_connection(url)`.

Importing Prefect costs about 2.5 s, so this module never imports it at module level: a
command that finds no server never imports Prefect at all.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.settings import get_settings

# Written by `haulflow up` with the URL of the server it started; removed when it stops.
API_URL_FILE = "prefect-api-url"
# How long a command waits for its Prefect calls to reach the server before exiting.
FLUSH_TIMEOUT_SECONDS = 10.0


def prefect_api_url() -> str | None:
    """The Prefect API URL haulflow should use, or None when none is configured.

    In order: the `PREFECT_API_URL` environment variable; the URL `haulflow up` wrote to
    `var/prefect-api-url`; `PREFECT_API_URL` in the active Prefect profile. The profile is
    read from `profiles.toml` directly, like Prefect does, so that a command without a
    server never pays for importing Prefect. (`.env` and `prefect.toml` are not consulted.)
    The haulflow file outranks the profile: it names the stack of this very installation.
    """
    # Prefect's own variables, not haulflow settings: read where Prefect would read them.
    if url := os.environ.get("PREFECT_API_URL", "").strip():
        return url
    url_file = get_settings().var_dir / API_URL_FILE
    if url_file.is_file() and (url := url_file.read_text(encoding="utf-8").strip()):
        return url
    return _profile_api_url()


def _profile_api_url() -> str | None:
    path = _profiles_path()
    if not path.is_file():
        return None
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or document.get("active")
    profile = document.get("profiles", {}).get(active, {}) if isinstance(active, str) else {}
    url = profile.get("PREFECT_API_URL") if isinstance(profile, dict) else None
    return (url.strip() or None) if isinstance(url, str) else None


def _profiles_path() -> Path:
    if path := os.environ.get("PREFECT_PROFILES_PATH"):
        return Path(path)
    home = os.environ.get("PREFECT_HOME")
    return (Path(home) if home else Path.home() / ".prefect") / "profiles.toml"


def prefect_server_reachable(timeout: float = 1.0, *, api_url: str | None = None) -> bool:
    """True when the configured Prefect server answers its health check within `timeout`."""
    url = api_url if api_url is not None else prefect_api_url()
    if not url:
        return False
    # Here, not at the top: commands that never ask (`documents upload`) skip its 70 ms import.
    import httpx

    try:
        response = httpx.get(f"{url.rstrip('/')}/health", timeout=timeout)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def forbid_ephemeral_server() -> None:
    """Make every Prefect client of this process fail rather than start a temporary server.

    Effective for Prefect settings read after this call: commands call it before importing
    Prefect. The setting has two names; both are set, since whichever one a user set would
    otherwise win.
    """
    os.environ["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "false"
    os.environ["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "false"


@contextmanager
def prefect_connection(api_url: str) -> Iterator[None]:
    """Prefect calls inside go to `api_url` (never a temporary server) and are flushed at exit.

    Flow runs inside share one synchronous client: Prefect 3.9.1 otherwise opens one per
    flow run to read the server's default result storage and never closes it (an unclosed
    socket, a `ResourceWarning`). Events and run logs still queued on exit are sent before
    the block ends, so a command that exits right after loses none.
    """
    forbid_ephemeral_server()
    from prefect.context import SyncClientContext
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_ALLOW_EPHEMERAL_MODE,
        temporary_settings,
    )

    with temporary_settings(
        updates={PREFECT_API_URL: api_url, PREFECT_SERVER_ALLOW_EPHEMERAL_MODE: False}
    ):
        try:
            with SyncClientContext.get_or_create():
                yield
        finally:
            flush_prefect_workers()


def flush_prefect_workers(timeout: float = FLUSH_TIMEOUT_SECONDS) -> None:
    """Send the events and run logs queued in this process, waiting up to `timeout` (sync only)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    # Prefect warns "Still processing items" whenever a drain finds a non-empty queue, which
    # is the normal case here, not a problem an operator should see.
    loggers = [logging.getLogger(worker.__name__) for worker in (APILogWorker, EventsWorker)]
    levels = [service_logger.level for service_logger in loggers]
    for service_logger in loggers:
        service_logger.setLevel(logging.ERROR)
    try:
        # Draining stops the workers; the next event or log starts a fresh one.
        APILogWorker.drain_all(timeout=timeout)
        EventsWorker.drain_all(timeout=timeout)
    finally:
        for service_logger, level in zip(loggers, levels, strict=True):
            service_logger.setLevel(level)
