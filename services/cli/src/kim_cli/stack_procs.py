"""Process bookkeeping for the local stack: pid files, liveness, stopping exactly our own processes."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


def write_pid(path: Path, pid: int) -> None:
    path.write_text(f"{pid}\n")


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _reap(pid: int) -> None:
    """Collect a child of this process that has exited, so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def is_alive(pid: int) -> bool:
    _reap(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def owned_pid(pid_file: Path, marker: str) -> int | None:
    """The pid in pid_file if that process is alive and its command line names `marker` (our config or data dir).

    The marker check keeps a recycled pid from being mistaken for ours (and from being killed by `down`).
    """
    pid = read_pid(pid_file)
    if pid is not None and is_alive(pid) and marker in cmdline(pid):
        return pid
    return None


def _stop_signal(pid: int) -> int:
    # PostgreSQL treats SIGTERM as "smart" shutdown (waits for every client to leave); SIGINT is "fast".
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        comm = ""
    return signal.SIGINT if comm == "postgres" else signal.SIGTERM


def terminate(pids: Iterable[int], grace_s: float = 20.0) -> None:
    """Ask each process to stop, wait up to grace_s for all of them, then SIGKILL the rest."""
    pending = [p for p in pids if is_alive(p)]
    for pid in pending:
        _signal(pid, _stop_signal(pid))
    deadline = time.monotonic() + grace_s
    while pending and time.monotonic() < deadline:
        time.sleep(0.1)
        pending = [p for p in pending if is_alive(p)]
    for pid in pending:
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pending and time.monotonic() < deadline:
        time.sleep(0.05)
        pending = [p for p in pending if is_alive(p)]


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (two `kim stack up` on one stack dir, or two jar downloads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
