"""A throw-away stack for `haulflow demo`: its own var folder, free ports, nothing shared.

The demo must run on a machine where `haulflow up` already runs, and must never touch the
operator's database: it works under `var/demo-run/` (emptied first), on free ports, with its
own SQLite file unless `HAULFLOW_DEMO_DATABASE_URL` names another (CI runs it on PostgreSQL
too). The document store is the configured one (folder under the demo's var, or S3 under a
`demo-run/` prefix), so the demo exercises whichever store production uses.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings, get_settings
from mail.sink import MailSink, running_mail_sink
from services.schema import upgrade as upgrade_schema
from stack.prefect_server import (
    PrefectServer,
    start_prefect_server,
    stop_prefect_server,
    wait_until_healthy,
)
from stack.processes import start_logged, stop_process
from stack.up import serve_environment, wait_for_deployments


@dataclass(frozen=True)
class DemoStack:
    """What the demo talks to."""

    var_dir: Path
    server: PrefectServer
    sink: MailSink


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def isolate(base: Settings) -> Path:
    """Point this process's settings at a fresh `var/demo-run/`; return that folder."""
    var_dir = (base.var_dir / "demo-run").resolve()
    shutil.rmtree(var_dir, ignore_errors=True)
    var_dir.mkdir(parents=True)
    os.environ["HAULFLOW_VAR_DIR"] = str(var_dir)
    database = os.environ.get("HAULFLOW_DEMO_DATABASE_URL")
    if database:
        os.environ["HAULFLOW_DATABASE_URL"] = database
    else:
        os.environ.pop("HAULFLOW_DATABASE_URL", None)
    os.environ.pop("HAULFLOW_DOCUMENTS_DIR", None)
    os.environ.pop("HAULFLOW_MAILSINK_DIR", None)
    if base.document_store == "s3":
        os.environ["HAULFLOW_S3_PREFIX"] = f"{base.s3_prefix}demo-run-{os.getpid()}/"
    os.environ["HAULFLOW_SMTP_SINK_PORT"] = str(free_port())
    os.environ["HAULFLOW_PREFECT_PORT"] = str(free_port())
    # Each command of the demo must talk to the demo's server, never to another one.
    os.environ.pop("PREFECT_API_URL", None)
    get_settings.cache_clear()
    return var_dir


@contextmanager
def running_demo_stack() -> Iterator[DemoStack]:
    """Migrate, start the sink, a Prefect server and `haulflow serve`; stop all on exit."""
    settings = get_settings()
    upgrade_schema()
    logs = settings.var_dir / "logs"
    with ExitStack() as stack:
        sink = stack.enter_context(
            running_mail_sink(settings.resolved_mailsink_dir, settings.smtp_sink_port)
        )
        # The demo's own hand run sends from this process: to the sink too, never outside.
        os.environ["HAULFLOW_SMTP_RELAY"] = sink.address
        get_settings.cache_clear()
        server = start_prefect_server(
            home=settings.var_dir / "prefect",
            port=settings.prefect_port,
            ui=False,
            log_path=logs / "prefect-server.log",
            log_level="WARNING",
        )
        stack.callback(stop_prefect_server, server)
        wait_until_healthy(server)
        os.environ["PREFECT_API_URL"] = server.api_url
        stack.callback(os.environ.pop, "PREFECT_API_URL", None)
        serve_log = logs / "serve.log"
        serve = start_logged(
            [sys.executable, "-m", "cli", "serve"],
            env=serve_environment(server, sink, settings),
            log_path=serve_log,
        )
        stack.callback(stop_process, serve, group_first=False)
        wait_for_deployments(server, serve, serve_log)
        yield DemoStack(settings.var_dir, server, sink)
