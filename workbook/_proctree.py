"""Process trees, through psutil: who is below a process, signalling them all, telling a
process from a later one that reuses its pid.

It imports only the standard library and psutil, and nothing of the package: the watchdog
(and any other supervisor that runs as a script, `python -I .../workbook/_x.py`) loads it
from its own folder (see _watchdog.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable

import psutil


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, also those that left its process group (RQ puts each work
    horse in a group of its own, so a kill of the worker's group alone would miss it)."""
    try:
        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except psutil.Error:
        return set()


def start_time(pid: int) -> float | None:
    """When `pid` started (None when no process has it): a pid and its start time name one
    process, where the pid alone may be a later stranger's."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def pid_taken(pid: int) -> bool:
    """Whether a process runs under `pid`. (A group id stays reserved while the group has
    members, so a group whose leader is gone, with no process under its id, is still ours.)"""
    return psutil.pid_exists(pid)


def send(pids: Iterable[int], sig: int) -> None:
    """Signal each of `pids` that still exists and is ours to signal."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def kill_tree(pid: int, sig: int) -> None:
    """Signal the process group led by `pid`, then every descendant outside it.

    The descendants are found first (once their parent is gone they are no longer below
    it), and signalled last: a parent that outlives its child by a moment records the
    child's death (an RQ worker marks its job failed; Celery acknowledges a late-ack task
    whose pool process died), where a crash takes both at once. For the same reason a
    SIGKILL reaches the leader alone first: the kernel signals a group's members one by
    one, the newest (the children) first, and a CPU paused in between is such a moment."""
    below = descendants(pid)
    if sig == signal.SIGKILL:
        send([pid], sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    send(below, sig)


def end_groups(groups: set[int], grace: float = 2.0) -> None:
    """Kill each process group and every descendant that left it: the descendants at once
    (while we can still see whose they are), the groups with SIGTERM, then after up to
    `grace` seconds SIGKILL."""
    send(set().union(*(descendants(pgid) for pgid in groups)), signal.SIGKILL)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pgid in list(groups):
            try:
                os.killpg(pgid, sig)
            except (ProcessLookupError, PermissionError):
                groups.discard(pgid)
        deadline = time.monotonic() + grace
        while sig == signal.SIGTERM and groups and time.monotonic() < deadline:
            time.sleep(0.05)
            for pgid in list(groups):
                try:
                    os.killpg(pgid, 0)
                except (ProcessLookupError, PermissionError):
                    groups.discard(pgid)


def in_sessions(sessions: set[int]) -> set[int]:
    """Every process (but this one) in one of `sessions`, orphans that left their group too."""
    if not sessions:
        return set()
    found = set()
    for pid in psutil.pids():
        with contextlib.suppress(OSError):
            if pid != os.getpid() and os.getsid(pid) in sessions:
                found.add(pid)
    return found


def kill_known(known: dict[int, float]) -> None:
    """SIGKILL each recorded process (pid: start time) that still runs as the same process."""
    send([pid for pid, started in known.items() if start_time(pid) == started], signal.SIGKILL)
