"""`haulflow up`: the local stack on embedded defaults, until Ctrl-C or SIGTERM.

In order: migrate the database, start the SMTP sink, start the Prefect server (with its UI;
home `var/prefect`), write its URL to `var/prefect-api-url` for every other command, start
`haulflow serve` with every mailbox relayed to the sink, wait until each deployment is served,
start `haulflow listen` when an SQS queue is configured (`HAULFLOW_SQS_QUEUE_URL`), load the
demo when asked, print where to look. Stopping undoes the starts in reverse order,
each step on its own, so one failure does not leave the rest running. Nothing is deleted but
the URL file: the database, documents, mail sink and Prefect's history stay under `var/`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from core.errors import HaulflowError
from core.prefect_runtime import API_URL_FILE, prefect_api_url, prefect_connection
from core.settings import Settings, get_settings
from delivery.mailboxes import RELAY_FILE
from deployments.catalog import DEPLOYMENT_NAMES
from mail.sink import MailSink, running_mail_sink
from services.schema import upgrade as upgrade_schema
from stack.leftovers import PIDS_FILE, forget, running_writer, stop_leftovers, write_pids
from stack.prefect_server import (
    PrefectServer,
    start_prefect_server,
    stop_prefect_server,
    wait_until_healthy,
)
from stack.processes import (
    StopSignal,
    log_tail,
    port_in_use,
    signals_ignored,
    start_logged,
    stop_process,
    stop_signals_raise,
)

# Registering ten deployments and their first poll takes seconds; a cold import, more.
DEPLOYMENTS_TIMEOUT_SECONDS = 120.0
# How often the running stack checks that its children are alive.
WATCH_INTERVAL_SECONDS = 0.5
# Importing FastAPI and the use cases takes a few seconds on a cold start.
API_TIMEOUT_SECONDS = 60.0


class StackError(HaulflowError):
    """A part of the stack failed to start or stopped on its own."""


def run_stack(*, demo: bool, console: Console) -> int:
    """Start the stack, block until Ctrl-C or SIGTERM, stop it: 0, or 1 if a stop step failed.

    A part that fails to start or stops on its own raises its `HaulflowError` once every part
    started is stopped again.
    """
    settings = get_settings()
    logs = settings.var_dir / "logs"
    stops: list[tuple[str, Callable[[], None]]] = []
    with stop_signals_raise():
        try:
            _start(settings, demo=demo, console=console, logs=logs, stops=stops)
        except (KeyboardInterrupt, StopSignal):
            pass
        finally:
            # A second Ctrl-C must not cut the stopping short: each step has its timeout.
            with signals_ignored():
                if stops:
                    console.print("stopping…")
                stopped = _stop_all(stops, console=console)
    return 0 if stopped else 1


def _start(
    settings: Settings,
    *,
    demo: bool,
    console: Console,
    logs: Path,
    stops: list[tuple[str, Callable[[], None]]],
) -> None:
    """Start every part, register how to stop it, then watch until told to stop."""
    started = time.monotonic()
    url_file = settings.var_dir / API_URL_FILE
    pids_file = settings.var_dir / PIDS_FILE
    _take_over(pids_file, console)
    if port_in_use(settings.api_host, settings.api_port):
        raise StackError(
            f"port {settings.api_port} on {settings.api_host} is already in use, so the HTTP "
            "API cannot listen there: stop what uses it (another `haulflow up` or `haulflow "
            "api`?) or choose another port with HAULFLOW_API_PORT"
        )
    _, migrated = upgrade_schema()
    console.print(f"database: {migrated.database} (migrated)")

    # First: it starts at once, so a taken port is reported before the server's long start.
    sink_stack = ExitStack()
    sink = sink_stack.enter_context(
        running_mail_sink(settings.resolved_mailsink_dir, settings.smtp_sink_port)
    )
    stops.append(("mail sink", sink_stack.close))
    relay_file = settings.var_dir / RELAY_FILE
    _write_atomically(relay_file, sink.address + "\n")
    stops.append((f"relay file {relay_file}", lambda: relay_file.unlink(missing_ok=True)))
    console.print(f"mail sink: smtp://{sink.address} → {sink.directory}")

    # Before the children, so it runs after their stop steps: kept if a child outlived its own.
    stops.append((f"process ids {pids_file}", lambda: forget(pids_file)))
    server = start_prefect_server(
        home=settings.var_dir / "prefect",
        port=settings.prefect_port,
        ui=True,
        log_path=logs / "prefect-server.log",
        log_level="INFO",
    )
    stops.append(("Prefect server", lambda: stop_prefect_server(server)))
    write_pids(pids_file, {"the Prefect server": server.process.pid})
    console.print(f"Prefect server starting on {server.ui_url} (log: {server.log_path})…")
    wait_until_healthy(server)
    _write_atomically(url_file, server.api_url + "\n")
    stops.append((f"URL file {url_file}", lambda: url_file.unlink(missing_ok=True)))

    serve_log = logs / "serve.log"
    serve = start_logged(
        [sys.executable, "-m", "cli", "serve"],
        env=serve_environment(server, sink, settings),
        log_path=serve_log,
    )
    # Only the runner gets the SIGTERM, so it stops its flow runs itself (stop_process).
    stops.append(("haulflow serve", lambda: stop_process(serve, group_first=False)))
    write_pids(pids_file, {"the Prefect server": server.process.pid, "`haulflow serve`": serve.pid})
    console.print(f"serving the deployments (log: {serve_log})…")
    wait_for_deployments(server, serve, serve_log)
    watched = [("`haulflow serve`", serve, serve_log)]
    pids = {"the Prefect server": server.process.pid, "`haulflow serve`": serve.pid}

    def start_command(name: str) -> Path:
        """`haulflow NAME` in this stack's environment, stopped, recorded and watched."""
        log = logs / f"{name}.log"
        process = start_logged(
            [sys.executable, "-m", "cli", name],
            env=serve_environment(server, sink, settings),
            log_path=log,
        )
        stops.append((f"haulflow {name}", lambda: stop_process(process, group_first=False)))
        pids[f"`haulflow {name}`"] = process.pid
        write_pids(pids_file, pids)
        watched.append((f"`haulflow {name}`", process, log))
        return log

    start_command("api")
    wait_for_api(api_url(settings), server, watched)
    if settings.sqs_queue_url:
        listen_log = start_command("listen")
        console.print(f"listening to {settings.sqs_queue_url} (log: {listen_log})")

    if demo:
        from stack.demo_data import load_demo
        from tasks.forms import publish_current_choices

        console.print("loading the demo…")
        for line in load_demo().lines():
            console.print(f"  {escape(line)}")
        # Its task keys, in the Prefect UI's hand-run forms now rather than at the next sweep.
        publish_current_choices(server.api_url)
    _print_ready(
        console, server, sink, url_file=url_file, demo=demo, seconds=time.monotonic() - started
    )
    _watch(server, watched)


def _take_over(pids_file: Path, console: Console) -> None:
    """Refuse to start twice; stop what a killed `haulflow up` left running."""
    if (pid := running_writer(pids_file)) is not None:
        raise StackError(
            f"`haulflow up` already runs here (process {pid}, see {pids_file}): use that stack, "
            "or stop it first with Ctrl-C in its terminal (if that process is not `haulflow up`, "
            f"delete {pids_file})"
        )
    if stopped := stop_leftovers(pids_file):
        console.print(
            f"stopped {', '.join(stopped)}, left running by a `haulflow up` that was killed"
        )


def serve_environment(server: PrefectServer, sink: MailSink, settings: Settings) -> dict[str, str]:
    """The environment of `haulflow serve`: this stack's server, every mailbox to the sink."""
    env = dict(os.environ)
    return env | {
        "PREFECT_API_URL": server.api_url,
        # The runner's own files (flow run logs, results) stay with the stack, not ~/.prefect.
        "PREFECT_HOME": str(settings.var_dir.resolve() / "prefect"),
        "HAULFLOW_SMTP_RELAY": sink.address,
        # Absolute: the runner's flow runs must find the same var/ whatever their directory.
        "HAULFLOW_VAR_DIR": str(settings.var_dir.resolve()),
    }


def wait_for_deployments(
    server: PrefectServer, serve: subprocess.Popen[bytes], serve_log: Path
) -> None:
    """Return once every expected deployment exists and a runner polls it."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.client.schemas.objects import DeploymentStatus

    deadline = time.monotonic() + DEPLOYMENTS_TIMEOUT_SECONDS
    names = sorted({name.split("/", 1)[1] for name in DEPLOYMENT_NAMES})
    waiting: set[str] = set(DEPLOYMENT_NAMES)
    with prefect_connection(server.api_url), get_client(sync_client=True) as client:
        while waiting:
            _check_alive(server, [("`haulflow serve`", serve, serve_log)])
            if time.monotonic() > deadline:
                raise StackError(
                    f"after {DEPLOYMENTS_TIMEOUT_SECONDS:.0f} s these deployments are still not "
                    f"served: {', '.join(sorted(waiting))}; `haulflow serve` logged:\n"
                    f"{log_tail(serve_log)}"
                )
            flows = {flow.id: flow.name for flow in client.read_flows(limit=200)}
            deployments = client.read_deployments(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=names))
            )
            waiting -= {
                f"{flows.get(deployment.flow_id)}/{deployment.name}"
                for deployment in deployments
                if deployment.status == DeploymentStatus.READY and not deployment.paused
            }
            time.sleep(0.5)


Child = tuple[str, subprocess.Popen[bytes], Path]


def api_url(settings: Settings) -> str:
    return f"http://{settings.api_host}:{settings.api_port}"


def wait_for_api(url: str, server: PrefectServer, children: list[Child]) -> None:
    """Return once the HTTP API answers `/health`."""
    deadline = time.monotonic() + API_TIMEOUT_SECONDS
    while True:
        _check_alive(server, children)
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            name, _, log = children[-1]
            raise StackError(
                f"after {API_TIMEOUT_SECONDS:.0f} s the HTTP API does not answer at {url}; "
                f"{name} logged:\n{log_tail(log)}"
            )
        time.sleep(0.2)


def _watch(server: PrefectServer, children: list[Child]) -> None:
    """Block until a signal arrives; raise when a child process ends on its own."""
    while True:
        _check_alive(server, children)
        time.sleep(WATCH_INTERVAL_SECONDS)


def _check_alive(server: PrefectServer, children: list[Child]) -> None:
    for name, process, log in children:
        if process.poll() is not None:
            raise StackError(
                f"{name} stopped on its own (exit code {process.returncode}); its log "
                f"{log} ends with:\n{log_tail(log)}"
            )
    if server.process.poll() is not None:
        raise StackError(
            f"the Prefect server stopped on its own (exit code {server.process.returncode}); "
            f"its log {server.log_path} ends with:\n{log_tail(server.log_path)}"
        )


def _print_ready(
    console: Console,
    server: PrefectServer,
    sink: MailSink,
    *,
    url_file: Path,
    demo: bool,
    seconds: float,
) -> None:
    run = command_name()
    order = "order:ORD-1001" if demo else "order:REFERENCE"
    older = f"{run} tasks run send-pod order:ORD-0999 --dry-run --by alice"
    scans = get_settings().var_dir / "demo"
    pod = scans / "ORD-1001-pod.pdf" if demo else Path("FILE")
    cmr = scans / "ORD-1001-cmr.pdf" if demo else Path("FILE")
    console.print(f"\n[bold green]ready[/bold green] in {seconds:.0f} s; Ctrl-C stops everything")
    console.print(f"  Prefect UI     {server.ui_url}")
    console.print(
        f"  Prefect API    {server.api_url} (in {url_file}: every command {finds_it()} finds it)"
    )
    console.print(
        f"  HTTP API       {api_url(get_settings())} (OpenAPI: /docs; a token: {run} tokens "
        "create NAME --scope read)"
    )
    console.print(
        f"  e-mails sent   {sink.directory} (one .eml per message; every command run on this "
        "folder sends there too)"
    )
    console.print(f"  upload a POD   {run} documents upload {order} pod {pod}")
    console.print(f"  and its CMR    {run} documents upload {order} cmr {cmr}")
    console.print(f"  its tasks      {run} tasks list {order}")
    if demo:
        console.print(f"  an older order {older} (or its Prefect UI form)")
    console.print(f"  health         {run} status")
    if (used := prefect_api_url()) != server.api_url:
        console.print(
            f"[yellow]warning:[/yellow] PREFECT_API_URL is {used} in this shell, so commands run "
            "here talk to that server, not to this stack: unset it"
        )


def command_name() -> str:
    """How to type haulflow in another shell: `haulflow` when that is the one on the PATH
    (or when started as `python -m cli`), else the path this command was started by, such
    as `.venv/bin/haulflow` when the virtualenv is not activated."""
    started_by = Path(sys.argv[0])
    on_path = shutil.which("haulflow")
    if started_by.name != "haulflow" or (on_path and Path(on_path).samefile(started_by)):
        return "haulflow"
    return str(started_by)


def finds_it() -> str:
    """Where another shell must be for its commands to find this stack: the same folder
    (the default `var` is relative) or the same `HAULFLOW_VAR_DIR`."""
    if "HAULFLOW_VAR_DIR" in os.environ:
        return f"run with HAULFLOW_VAR_DIR={get_settings().var_dir.resolve()}"
    return f"run from {Path.cwd()}"


def _stop_all(stops: list[tuple[str, Callable[[], None]]], *, console: Console) -> bool:
    """Run every stop step, newest first, each guarded; False if any failed."""
    stopped = True
    for name, stop in reversed(stops):
        try:
            stop()
        except Exception as error:
            console.print(
                f"[red]error:[/red] stopping {escape(name)} failed: "
                f"{escape(type(error).__name__)}: {escape(str(error))}"
            )
            stopped = False
    if stops:
        kept = escape(str(get_settings().var_dir))
        console.print(f"stopped; the database and everything under {kept}/ are kept")
    return stopped


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
