"""`haulflow tokens ...` and `haulflow api`, run as an operator runs them."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import httpx

from tests.cli.conftest import REPO, RunCli


def test_tokens_are_created_once_listed_and_revoked(run_cli: RunCli) -> None:
    assert run_cli("db", "upgrade").returncode == 0

    created = run_cli("tokens", "create", "tms", "--scope", "read", "--scope", "write")
    twice = run_cli("tokens", "create", "tms")
    bad_scope = run_cli("tokens", "create", "other", "--scope", "admin")

    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("hf_") and len(secret) > 40
    assert twice.returncode == 1 and "exists already" in twice.stderr
    assert bad_scope.returncode == 2 and "admin" in bad_scope.stderr
    listed = run_cli("tokens", "list").stdout
    assert "tms" in listed and "read,write" in listed and secret[:9] in listed
    assert secret not in listed and "live" in listed
    assert run_cli("tokens", "revoke", "tms").returncode == 0
    assert "revoked" in run_cli("tokens", "list").stdout
    unknown = run_cli("tokens", "revoke", "nobody")
    assert unknown.returncode == 1 and "no token named 'nobody'" in unknown.stderr


def test_api_serves_the_openapi_page_and_answers_with_a_token(run_cli: RunCli) -> None:
    assert run_cli("db", "upgrade").returncode == 0
    secret = run_cli("tokens", "create", "tms").stdout.strip().splitlines()[-1]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with subprocess.Popen(
        [sys.executable, "-m", "cli", "api", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        try:
            _check_served(server, port, secret)
        finally:
            server.terminate()
            _, log = server.communicate(timeout=10)
    # One line per request, with the token that made it.
    lines = log.splitlines()
    assert any(
        re.fullmatch(r"\S+Z 127\.0\.0\.1 GET /orders/ORD-1/tasks 404 \d+ ms token=tms", line)
        for line in lines
    ), log
    assert any(
        re.fullmatch(r"\S+Z 127\.0\.0\.1 GET /health 200 \d+ ms token=-", line) for line in lines
    ), log


def _check_served(server: subprocess.Popen[str], port: int, secret: str) -> None:
    assert server.stdout is not None
    announced = server.stdout.readline()
    assert f"http://127.0.0.1:{port}" in announced and "/docs" in announced
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            health = httpx.get(f"{url}/health")
            break
        except httpx.ConnectError:
            assert time.monotonic() < deadline and server.poll() is None, "the API never answered"
            time.sleep(0.1)
    assert health.json() == {"status": "ok"}
    assert httpx.get(f"{url}/docs").status_code == 200
    paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    assert {"/entities", "/{target}/{reference}/documents", "/tasks", "/runs"} <= set(paths)
    page = httpx.get(f"{url}/orders/ORD-1/tasks", headers={"Authorization": f"Bearer {secret}"})
    assert page.status_code == 404 and page.json()["detail"].startswith(
        "order ORD-1 does not exist: import"
    )
