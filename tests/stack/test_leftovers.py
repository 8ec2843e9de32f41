"""What a killed `haulflow up` left running is stopped by the next one, and only that."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.leftovers import forget, running_writer, stop_leftovers, write_pids
from stack.processes import start_logged, stop_process

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


@pytest.fixture
def children(tmp_path: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Two group leaders, as `up` starts its children; killed at the end whatever happens."""
    started = {
        name: start_logged(SLEEPER, env=os.environ, log_path=tmp_path / f"{name}.log")
        for name in ("server", "serve")
    }
    yield started
    for process in started.values():
        stop_process(process, timeout=1)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def record(path: Path, up: int, children: dict[str, subprocess.Popen[bytes]]) -> None:
    pids = {name: process.pid for name, process in children.items()}
    path.write_text(json.dumps({"up": up, "children": pids}))


def test_children_of_a_killed_up_are_stopped(
    tmp_path: Path, children: dict[str, subprocess.Popen[bytes]]
) -> None:
    path = tmp_path / "stack-pids.json"
    record(path, dead_pid(), children)
    assert running_writer(path) is None

    assert stop_leftovers(path) == ["serve", "server"]

    assert all(process.wait(timeout=5) is not None for process in children.values())
    assert not path.exists()


def test_a_running_up_keeps_its_children(
    tmp_path: Path, children: dict[str, subprocess.Popen[bytes]]
) -> None:
    path = tmp_path / "stack-pids.json"
    write_pids(path, {name: process.pid for name, process in children.items()})
    assert running_writer(path) == os.getpid()

    assert stop_leftovers(path) == []

    assert all(process.poll() is None for process in children.values())
    forget(path)  # children still run: the record stays for the next `up`
    assert path.exists()
    for process in children.values():
        stop_process(process, timeout=5)
    forget(path)
    assert not path.exists()


def test_a_reused_id_that_leads_no_group_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "stack-pids.json"
    # Alive, but in pytest's process group: not one of the group leaders `up` starts.
    bystander = subprocess.Popen(SLEEPER)
    try:
        path.write_text(json.dumps({"up": dead_pid(), "children": {"server": bystander.pid}}))
        assert stop_leftovers(path) == []
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_no_record_or_a_broken_one_stops_nothing(tmp_path: Path) -> None:
    path = tmp_path / "stack-pids.json"
    assert stop_leftovers(path) == []
    path.write_text("{not json")
    assert stop_leftovers(path) == [] and running_writer(path) is None
