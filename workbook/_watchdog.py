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

import os
import shutil
import signal
import subprocess
import sys
import threading

if __package__:
    from . import _proctree as tree
else:  # run as a script with `python -I`: its own folder, after the standard library
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
    import _proctree as tree

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
    started = tree.start_time(pgid)
    _send(f"+{pgid}" if started is None else f"+{pgid}:{started!r}")


def forget(pgid: int) -> None:
    """The group has been stopped cleanly: do not kill it (its id may be reused)."""
    _send(f"-{pgid}")


def _record(groups: set[int], known: dict[int, float]) -> None:
    """Remember every descendant of the groups' leaders, with its start time."""
    for pgid in groups:
        for pid in tree.descendants(pgid):
            started = tree.start_time(pid)
            if started is not None:
                known[pid] = started


def _still_ours(groups: dict[int, float | None]) -> set[int]:
    """The groups whose id still means our child. Pids are reused (pid_max is 32768 on
    many machines): a group whose leader died unseen (a crash demo's SIGKILL) may by now be
    the id of someone else's process, another kernel's even. A leader that runs with another
    start time is not ours; a leader that is gone leaves an id that cannot be reused while
    members of its group or session remain, so those members are ours."""
    kept = set()
    for pgid, started in groups.items():
        now = tree.start_time(pgid)
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
                        known_start = float(started) if started else tree.start_time(int(pgid))
                        groups[int(pgid)] = known_start
                    elif line.startswith("-"):
                        groups.pop(int(line[1:]), None)
            _record(_still_ours(groups), known)
    ours = _still_ours(groups)
    tree.end_groups(set(ours))
    tree.kill_known(known)
    tree.send(tree.in_sessions(ours), signal.SIGKILL)
    if len(sys.argv) > 1:
        shutil.rmtree(sys.argv[1], ignore_errors=True)


if __name__ == "__main__":
    main()
