"""A tiny process that kills this kernel's children when the kernel goes away.

atexit never runs when a kernel is killed with SIGKILL, so the kernel starts this watchdog
(in its own session, so a kill of the kernel's process group spares it) and writes the
process-group id of every child it starts down a pipe. The moment the kernel dies, for any
reason, the pipe reaches end-of-file and the watchdog kills every group it was told about,
then removes the kernel's run-time folder (logs, Redis' working directory).

Nothing here relies on a marker a process can scrub (valkey-server blanks its environment).
A child is found by its group, by its session (every child starts a session of its own, and
its descendants stay in it unless they call setsid), and by a record, refreshed every
second, of its descendants' pids with their start times (so an orphan that left both is
still known, and a reused pid is not mistaken for it). The watchdog runs as a script
(`python -I .../_watchdog.py`), importing only the standard library and psutil.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

_lock = threading.Lock()
_watchdog: subprocess.Popen | None = None
_owner = 0  # the pid that started the watchdog: a forked child must not reuse our pipe


def _send(line: str) -> None:
    global _watchdog, _owner
    with _lock:
        if _watchdog is None or _watchdog.poll() is not None or _owner != os.getpid():
            from ._paths import runtime_dir

            _watchdog = subprocess.Popen(
                [sys.executable, "-I", os.path.abspath(__file__), str(runtime_dir())],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                text=True,
            )
            _owner = os.getpid()
        assert _watchdog.stdin is not None
        _watchdog.stdin.write(line + "\n")
        _watchdog.stdin.flush()


def watch(pgid: int) -> None:
    """Kill process group `pgid` when this process dies (`pgid`: a child just started, so
    its start time, sent along, tells it from a later process that reuses its pid)."""
    started = _start_time(pgid)
    _send(f"+{pgid}" if started is None else f"+{pgid}:{started!r}")


def forget(pgid: int) -> None:
    """The group has been stopped cleanly: do not kill it (its id may be reused)."""
    _send(f"-{pgid}")


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, also those that left its process group (RQ puts each work
    horse in a group of its own, so a kill of the worker's group alone would miss it)."""
    import psutil

    try:
        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except psutil.Error:
        return set()


def kill_tree(pid: int, sig: int) -> None:
    """Signal the process group led by `pid` and every descendant outside it."""
    for target in descendants(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _kill_groups(groups: set[int]) -> None:
    strays = set().union(*(descendants(pgid) for pgid in groups)) if groups else set()
    for pid in strays:  # first, while we can still see who they belong to
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pgid in list(groups):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                groups.discard(pgid)
            except PermissionError:
                groups.discard(pgid)
        deadline = time.monotonic() + 2
        while sig == signal.SIGTERM and groups and time.monotonic() < deadline:
            time.sleep(0.05)
            for pgid in list(groups):
                try:
                    os.killpg(pgid, 0)
                except (ProcessLookupError, PermissionError):
                    groups.discard(pgid)


def _record(groups: set[int], known: dict[int, float]) -> None:
    """Remember every descendant of the groups' leaders, with its start time."""
    import psutil

    for pgid in groups:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(pgid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    known[child.pid] = child.create_time()


def _kill_known(known: dict[int, float]) -> None:
    """SIGKILL recorded descendants that still run (the same process: same start time)."""
    import psutil

    for pid, started in known.items():
        with contextlib.suppress(psutil.Error, OSError):
            if psutil.Process(pid).create_time() == started:
                os.kill(pid, signal.SIGKILL)


def _kill_sessions(sessions: set[int]) -> None:
    """SIGKILL every process still in one of the children's sessions (orphans included)."""
    if not sessions or not os.path.isdir("/proc"):
        return
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            with contextlib.suppress(OSError):
                if os.getsid(int(entry)) in sessions:
                    os.kill(int(entry), signal.SIGKILL)


def _start_time(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _still_ours(groups: dict[int, float | None]) -> set[int]:
    """The groups whose id still means our child. Pids are reused (pid_max is 32768 on
    many machines): a group whose leader died unseen (a crash demo's SIGKILL) may by now be
    the id of someone else's process, another kernel's even. A leader that runs with another
    start time is not ours; a leader that is gone leaves an id that cannot be reused while
    members of its group or session remain, so those members are ours."""
    kept = set()
    for pgid, started in groups.items():
        now = _start_time(pgid)
        if now is None or started is None or now == started:
            kept.add(pgid)
    return kept


def main() -> None:
    import selectors

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is not for us
    groups: dict[int, float | None] = {}  # process-group id -> its leader's start time
    known: dict[int, float] = {}
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(sys.stdin.fileno(), selectors.EVENT_READ)
        while True:
            if selector.select(1.0):
                chunk = os.read(sys.stdin.fileno(), 4096)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in (raw.decode().strip() for raw in lines):
                    if line.startswith("+"):
                        pgid, _, started = line[1:].partition(":")
                        groups[int(pgid)] = float(started) if started else _start_time(int(pgid))
                    elif line.startswith("-"):
                        groups.pop(int(line[1:]), None)
            _record(_still_ours(groups), known)
    ours = _still_ours(groups)
    _kill_groups(set(ours))
    _kill_known(known)
    _kill_sessions(ours)
    if len(sys.argv) > 1:
        shutil.rmtree(sys.argv[1], ignore_errors=True)


if __name__ == "__main__":
    main()
