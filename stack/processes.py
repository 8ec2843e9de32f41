"""Child processes of the local stack: started in their own group, logged, stopped for sure."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

# How long a child has to exit on SIGTERM before its whole group is killed.
STOP_TIMEOUT_SECONDS = 20.0


def start_logged(
    command: Sequence[str], *, env: Mapping[str, str], log_path: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `command` writing stdout and stderr to `log_path` (appended), in its own group.

    Its own process group (session): a Ctrl-C in the terminal reaches only the parent, which
    then stops its children in order, and stopping the group also stops their children.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(command),
            env=dict(env),
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_process(
    process: subprocess.Popen[bytes],
    *,
    timeout: float = STOP_TIMEOUT_SECONDS,
    group_first: bool = True,
) -> None:
    """SIGTERM, wait up to `timeout`, then SIGKILL; the whole group unless `group_first` is off.

    With `group_first` off, only the leader gets the SIGTERM, so it can stop its own children
    in order (a runner cancelling its flow runs); whatever of the group survives it is killed.
    """
    if process.poll() is None:
        _signal(process, signal.SIGTERM, group=group_first)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal(process, signal.SIGKILL, group=True)
            process.wait(timeout=5)
    # Children the leader left behind (it exited first): nothing of the group may outlive it.
    _signal(process, signal.SIGKILL, group=True)


def _signal(process: subprocess.Popen[bytes], signum: signal.Signals, *, group: bool) -> None:
    try:
        if group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def port_in_use(host: str, port: int) -> bool:
    """True when something listens on `host:port` (a server binding it would fail)."""
    with socket.socket() as probe:
        # As servers do: a port left in TIME_WAIT by a stopped server counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def log_tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a log file, or a note when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        return f"(cannot read {path}: {error.strerror or error})"
    return "\n".join(text.rstrip().splitlines()[-lines:])


class StopSignal(Exception):
    """SIGTERM or SIGHUP arrived inside `stop_signals_raise()`."""


@contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Inside, SIGTERM and SIGHUP (a closed terminal) raise `StopSignal`, unwinding like Ctrl-C."""

    def raise_stop(signum: int, frame: FrameType | None) -> None:
        raise StopSignal(signal.Signals(signum).name)

    signals = (signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, raise_stop) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def signals_ignored() -> Iterator[None]:
    """Inside, SIGINT, SIGTERM and SIGHUP are ignored: for cleanup that must run to its end."""
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
