"""Processes a killed `haulflow up` left running, found again through the ids it wrote down.

The children run in their own sessions (so Ctrl-C reaches only `up`, which stops them in
order); the price is that a `kill -9` of `up` leaves them running. `up` writes their process
ids to `var/stack-pids.json` and removes the file when it stops; the next `up` that finds the
file while its writer is gone stops those processes first.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

PIDS_FILE = "stack-pids.json"
STOP_TIMEOUT_SECONDS = 20.0


def write_pids(path: Path, children: dict[str, int]) -> None:
    """Record this process and its children (name → process id, each a group leader)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps({"up": os.getpid(), "children": children}), encoding="utf-8")
    os.replace(temporary, path)


def running_writer(path: Path) -> int | None:
    """The id of the `haulflow up` that wrote `path`, if it still runs."""
    record = _read(path)
    pid = record.get("up") if record else None
    return pid if isinstance(pid, int) and _alive(pid) else None


def stop_leftovers(path: Path) -> list[str]:
    """Stop the children recorded in `path` whose writer is gone; the names of those stopped."""
    record = _read(path)
    if record is None or running_writer(path) is not None:
        return []
    leaders = {
        name: pid for name, pid in _children(record).items() if _alive(pid) and _group_leader(pid)
    }
    for pid in leaders.values():
        _kill_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while any(_alive(pid) for pid in leaders.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in leaders.values():
        _kill_group(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return sorted(leaders)


def forget(path: Path) -> None:
    """Remove the record once none of its children runs (else the next `up` stops them)."""
    record = _read(path)
    if not any(_alive(pid) for pid in _children(record).values()):
        path.unlink(missing_ok=True)


def _children(record: dict[str, object] | None) -> dict[str, int]:
    children = record.get("children") if record else None
    if not isinstance(children, dict):
        return {}
    return {str(name): pid for name, pid in children.items() if isinstance(pid, int)}


def _read(path: Path) -> dict[str, object] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, and never ours to stop
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    # An exited process nobody reaped yet (its parent, or an init that does not reap).
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc (macOS): trust the signal check
    return stat.rpartition(")")[2].split()[0] == "Z"


def _group_leader(pid: int) -> bool:
    # Ours were started as session leaders: a reused id is almost never one.
    try:
        if os.getpgid(pid) != pid:
            return False
        proc = Path(f"/proc/{pid}")
        # Where /proc exists (Linux), the process must also be this user's.
        return not proc.parent.is_dir() or proc.stat().st_uid == os.getuid()
    except (ProcessLookupError, FileNotFoundError):
        return False


def _kill_group(pid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
