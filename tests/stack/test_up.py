"""`haulflow up` as an operator runs it: ready, reachable, healthy; Ctrl-C stops all of it."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from core.prefect_runtime import API_URL_FILE
from core.settings import get_settings
from stack.processes import port_in_use
from tests.cli.conftest import RunCli
from tests.inbox import Inbox
from tests.prefect_server import free_port

# A cold start copies the UI into the Prefect home and imports Prefect twice: about 35 s.
READY_TIMEOUT = 180.0


def stack_processes(var_dir: Path) -> list[int]:
    """Processes started for this stack: their environment names its var directory."""
    marker = f"HAULFLOW_VAR_DIR={var_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue  # gone, or not ours
        if marker in environ:
            found.append(int(entry.name))
    return found


def wait_for_line(log: Path, text: str, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        output = log.read_text(errors="replace")
        if text in output:
            return output
        assert process.poll() is None, f"haulflow up exited with {process.returncode}:\n{output}"
        time.sleep(0.5)
    raise AssertionError(f"no {text!r} after {READY_TIMEOUT:.0f} s:\n{log.read_text()}")


@pytest.fixture
def ports(monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """Free ports for the Prefect server and the sink (and the HTTP API), set for every
    process of the test."""
    prefect_port, sink_port = free_port(), free_port()
    monkeypatch.setenv("HAULFLOW_PREFECT_PORT", str(prefect_port))
    monkeypatch.setenv("HAULFLOW_SMTP_SINK_PORT", str(sink_port))
    monkeypatch.setenv("HAULFLOW_API_PORT", str(free_port()))
    get_settings.cache_clear()
    return prefect_port, sink_port


Up = tuple[subprocess.Popen[bytes], Path]
UpFactory = Callable[..., Up]


@pytest.fixture
def up_factory(tmp_path: Path, ports: tuple[int, int]) -> Iterator[UpFactory]:
    """Starts `haulflow up` in a folder of its own, with the test's environment as it is then;
    kills it with its children if a test fails."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, script: Path | None = None) -> Up:
        """`python -m cli up ARGS`, or the `haulflow` console script at `script` typed by
        that path with the PATH as the test found it (a virtualenv not activated)."""
        log = tmp_path / "up.out"
        command, env = [sys.executable, "-m", "cli"], None
        if script is not None:
            command = [str(script)]
            path = os.environ.get("PATH", "").split(os.pathsep)
            kept = [entry for entry in path if entry and Path(entry) != script.parent]
            env = os.environ | {"PATH": os.pathsep.join(kept)}
        with log.open("wb") as output:
            process = subprocess.Popen(
                [*command, "up", *args], cwd=tmp_path, env=env, stdout=output, stderr=output
            )
        started.append(process)
        return process, log

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
    for pid in stack_processes(get_settings().var_dir):
        os.kill(pid, signal.SIGKILL)


# The console script README's commands use (`.venv/bin/haulflow`).
SCRIPT = Path(sys.executable).parent / "haulflow"


@pytest.fixture
def up(up_factory: UpFactory) -> Up:
    """`.venv/bin/haulflow up` on the embedded defaults, the virtualenv not activated."""
    return up_factory(script=SCRIPT)


def test_up_serves_everything_until_ctrl_c(
    up: tuple[subprocess.Popen[bytes], Path],
    ports: tuple[int, int],
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    process, log = up
    prefect_port, sink_port = ports
    var_dir = get_settings().var_dir

    output = wait_for_line(log, "ready in", process)

    url_file = var_dir / API_URL_FILE
    assert url_file.read_text().strip() == f"http://127.0.0.1:{prefect_port}/api"
    assert f"Prefect UI     http://127.0.0.1:{prefect_port}" in output
    # What it says to type in another shell works there: the script by its path, the folder.
    assert f"upload a POD   {SCRIPT} documents upload order:REFERENCE pod FILE" in output
    assert f"every command run with HAULFLOW_VAR_DIR={var_dir.resolve()} finds it" in output
    ui = httpx.get(f"http://127.0.0.1:{prefect_port}/", timeout=10)
    assert ui.status_code == 200 and "<html" in ui.text
    with smtplib.SMTP("127.0.0.1", sink_port, timeout=10) as client:
        client.sendmail("a@carrier.example", ["b@customer.example"], b"Subject: hi\r\n\r\nhi\r\n")
    assert len(list((var_dir / "mailsink").glob("*.eml"))) == 1
    # Every other command finds the stack through the URL file, and finds it healthy.
    status = run_cli("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "deployments served" in status.stdout and "healthy" in status.stdout
    # The same with the URL exported (as the stock `prefect` CLI needs it): a stack this
    # young has had no sweep yet, and that is no problem either way.
    monkeypatch.setenv("PREFECT_API_URL", url_file.read_text().strip())
    exported = run_cli("status")
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert "PREFECT_API_URL" in exported.stdout and "problem" not in exported.stdout
    monkeypatch.delenv("PREFECT_API_URL")
    assert len(stack_processes(var_dir)) >= 3  # the Prefect server, `serve` and `api`
    api_port = get_settings().api_port
    assert f"HTTP API       http://127.0.0.1:{api_port}" in output
    assert httpx.get(f"http://127.0.0.1:{api_port}/health").json() == {"status": "ok"}
    token = run_cli("tokens", "create", "tms").stdout.strip().splitlines()[-1]
    page = httpx.get(
        f"http://127.0.0.1:{api_port}/orders/ORD-1/tasks",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert page.status_code == 404  # served on the stack's database, with its tokens

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0, log.read_text()

    output = log.read_text()
    assert f"stopped; the database and everything under {var_dir}/ are kept" in output
    assert "Traceback" not in output
    assert not url_file.exists()
    assert stack_processes(var_dir) == []
    assert not port_in_use("127.0.0.1", prefect_port)
    assert not port_in_use("127.0.0.1", sink_port)
    assert not port_in_use("127.0.0.1", api_port)
    assert (var_dir / "haulflow.db").is_file()
    assert len(list((var_dir / "mailsink").glob("*.eml"))) == 1


@pytest.mark.parametrize("taken", ["prefect", "sink", "api"])
def test_a_taken_port_stops_up_with_what_to_do(
    ports: tuple[int, int], run_cli: RunCli, taken: str
) -> None:
    port = {"prefect": ports[0], "sink": ports[1], "api": get_settings().api_port}[taken]
    setting = {
        "prefect": "HAULFLOW_PREFECT_PORT",
        "sink": "HAULFLOW_SMTP_SINK_PORT",
        "api": "HAULFLOW_API_PORT",
    }[taken]
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        result = run_cli("up")
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert setting in result.stderr
    assert "Traceback" not in result.stderr
    assert not (get_settings().var_dir / API_URL_FILE).exists()


def test_a_serve_that_dies_stops_the_stack_with_its_log(
    up: tuple[subprocess.Popen[bytes], Path], ports: tuple[int, int]
) -> None:
    process, log = up
    var_dir = get_settings().var_dir
    wait_for_line(log, "ready in", process)
    serve = [
        pid
        for pid in stack_processes(var_dir)
        if b"serve" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    ]
    assert len(serve) == 1

    os.kill(serve[0], signal.SIGKILL)

    assert process.wait(timeout=60) == 1
    output = log.read_text()
    assert "`haulflow serve` stopped on its own (exit code -9)" in output
    # The last lines of its log follow (wrapped to the terminal; its flow runs may have
    # written more since).
    shown = "".join(output.split("ends with:", 1)[1].split())
    logged = (var_dir / "logs" / "serve.log").read_text().splitlines()
    assert any("".join(line.split()) in shown for line in logged[-20:] if line.strip())
    assert "Traceback" not in output
    assert not (var_dir / API_URL_FILE).exists()
    assert stack_processes(var_dir) == []
    assert not port_in_use("127.0.0.1", ports[0])


def test_up_starts_listen_when_a_queue_is_set_and_stops_it(
    inbox: Inbox, up_factory: UpFactory, run_cli: RunCli
) -> None:
    process, log = up_factory()
    var_dir = get_settings().var_dir
    output = wait_for_line(log, "ready in", process)
    assert f"listening to {inbox.queue_url}" in output
    listen = [
        pid
        for pid in stack_processes(var_dir)
        if b"listen" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    ]
    assert len(listen) == 1
    deadline = time.monotonic() + 60
    while "ok       listen:" not in (status := run_cli("status")).stdout:
        assert time.monotonic() < deadline, status.stdout
        time.sleep(1)

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0, log.read_text()
    assert stack_processes(var_dir) == []
    # Stopped cleanly, it says so: no stale heartbeat keeps `status` believing it runs.
    assert "problem  listen:" in run_cli("status").stdout


def test_up_demo_older_order_sent_by_hand_from_the_prefect_cli_and_another_shell(
    up_factory: UpFactory, run_cli: RunCli
) -> None:
    """The README's hand run on `up --demo`: the older order exists with its scans, the stock
    `prefect deployment run` sends its e-mail once, and a command typed in another shell (no
    relay in its environment) sends through the stack's sink too."""
    from tests.deployments.conftest import prefect_cli

    process, log = up_factory("--demo")
    var_dir = get_settings().var_dir
    output = wait_for_line(log, "ready in", process)
    assert "order ORD-0999 from before the automation, no task, POD and CMR recorded" in output
    assert "haulflow tasks run send-pod order:ORD-0999 --dry-run --by alice" in output
    api = (var_dir / API_URL_FILE).read_text().strip()
    sink = var_dir / "mailsink"

    dry = run_cli("tasks", "run", "send-pod", "order:ORD-0999", "--dry-run", "--by", "alice")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "pod@anciens.example" in dry.stdout and "ORD-0999-pod.pdf" in dry.stdout
    explained = run_cli("explain", "send-pod", "order:ORD-0999", "--json")
    assert "answered (every mailbox sends through it)" in explained.stdout, explained.stdout
    assert "no password" not in explained.stdout

    command = ("deployment", "run", "run-order-task/orders-by-hand", "-p", "task_key=send-pod",
               "-p", "requested_by=alice", "-p", 'entities=["ORD-0999"]', "--watch")  # fmt: skip
    first = prefect_cli(api, *command)
    assert "Completed" in first, first
    assert len(_about(sink, "ORD-0999")) == 1
    second = prefect_cli(api, *command)
    assert "Completed" in second, second
    assert len(_about(sink, "ORD-0999")) == 1

    listed = json.loads(run_cli("tasks", "list", "order:ORD-0999", "--json").stdout)
    [task_id] = [task["id"] for task in listed["tasks"] if task["key"] == "send-pod"]
    resent = run_cli("tasks", "resend", task_id, "--by", "alice")
    assert resent.returncode == 0, resent.stdout + resent.stderr
    assert len(_about(sink, "ORD-0999")) == 2

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0, log.read_text()
    assert not (var_dir / "smtp-relay").exists()


def _about(sink: Path, reference: str) -> list[Path]:
    """The sink's messages about `reference` (the demo's other ready tasks go out too)."""
    return [path for path in sink.glob("*.eml") if reference.encode() in path.read_bytes()]
