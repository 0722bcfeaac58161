"""Run one command so that nothing it starts outlives it: the supervisor of each check.

Markers can be scrubbed (valkey-server blanks its environment when it sets its title; a
learner's grandchild can execve with an empty one) and process groups and sessions can be
left (setsid). Ancestry cannot: on Linux this supervisor makes itself a child subreaper
(prctl PR_SET_CHILD_SUBREAPER), so every orphan below it is reparented to it instead of to
pid 1, and its descendants are every process the command started. It kills them all when
the command ends, at its own deadline, or the moment its parent (the kernel, the CLI) goes
away: the parent holds the other end of its stdin, and end-of-file is the signal, even
after a SIGKILL. When the parent is gone it also removes the run's folder.

    python -I workbook/_exercises/supervise.py SECONDS FOLDER REPORT_FD KEEP_FD -- COMMAND...

It imports only the standard library and psutil (it runs as a script, not through the
package), so it adds little to a check's start.

The report (JSON on REPORT_FD, a pipe the command cannot see): the command's exit code,
why it ended, and what it left running.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
SETTLE = 3.0  # seconds for what the command started to stop by itself after it ended


def become_subreaper() -> bool:
    """Orphans below this process come to it, not to pid 1 (Linux 3.4+); False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class _Forked:
    """The pid and exit code of a child this process forked (Popen's two fields we use)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.returncode = pid, None


class Supervisor:
    """The command, its exit status, and every process below this one."""

    def __init__(self, command: list[str] | int, keep_fd: int = -1) -> None:
        """Start `command`; or, given a pid, watch that child (forked by workbook's check
        server after this process made itself the subreaper, in its own session)."""
        self.subreaper = become_subreaper() if isinstance(command, list) else True
        if isinstance(command, int):
            self.child: subprocess.Popen | _Forked = _Forked(command)
        else:
            self.child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own group: one killpg reaches most of it at once
                pass_fds=(keep_fd,) if keep_fd >= 0 else (),
            )
        self.returncode: int | None = None

    def reap(self) -> None:
        """Collect every child that ended (orphans that came to us included)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.child.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                self.child.returncode = self.returncode  # Popen must not wait for it again

    def living(self) -> list[tuple[int, str]]:
        """(pid, command line) of every living process below this one."""
        import psutil

        found = []
        with contextlib.suppress(psutil.Error):
            for proc in psutil.Process().children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if proc.status() != psutil.STATUS_ZOMBIE:
                        found.append((proc.pid, " ".join(proc.cmdline())))
        return found

    def settle(self, seconds: float) -> list[str]:
        """Wait up to `seconds` for the processes below to end; describe those that did not."""
        deadline = time.monotonic() + seconds
        while True:
            self.reap()
            left = self.living()
            if not left or time.monotonic() >= deadline:
                return [f"pid {pid}: {command[:80]}" for pid, command in left]
            time.sleep(0.05)

    def kill_all(self) -> int:
        """SIGKILL everything below, again and again until nothing is left (forks race us)."""
        killed: set[int] = set()
        if self.returncode is None:  # once reaped, its pid (and group id) may be reused
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.child.pid, signal.SIGKILL)
        for _ in range(100):
            self.reap()
            left = self.living()
            if not left:
                break
            for pid, _command in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
            time.sleep(0.02)
        self.reap()
        return len(killed)


def _wait(supervisor: Supervisor, deadline: float, control: int = 0) -> str:
    """Why the command's run ended: "exited", "deadline" or "stopped" (`control` closed)."""
    with selectors.DefaultSelector() as selector:
        selector.register(control, selectors.EVENT_READ)
        while True:
            supervisor.reap()
            if supervisor.returncode is not None:
                return "exited"
            if time.monotonic() >= deadline:
                return "deadline"
            if selector.select(0.05) and not os.read(control, 4096):
                return "stopped"


def supervise(
    supervisor: Supervisor, timeout: float, folder: str, report_fd: int, control: int = 0
) -> None:
    """Wait for the command (or the deadline, or `control` closing), kill everything below,
    write the report; when nobody can read it (the kernel or CLI died mid-check: nobody
    else will clean up), remove the run's folder."""
    parent = os.getppid()
    reason = _wait(supervisor, time.monotonic() + timeout, control)
    strays = supervisor.settle(SETTLE) if reason == "exited" else []
    killed = supervisor.kill_all()
    report = {
        "returncode": supervisor.returncode,
        "reason": reason,
        "strays": strays,
        "killed": killed,
        "subreaper": supervisor.subreaper,
    }
    delivered = False
    with contextlib.suppress(OSError), os.fdopen(report_fd, "w") as out:
        out.write(json.dumps(report))
        out.flush()
        delivered = True
    if not delivered or os.getppid() != parent:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    timeout, folder, report_fd, keep_fd = sys.argv[1:5]
    command = sys.argv[sys.argv.index("--") + 1 :]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides, through our stdin
    supervisor = Supervisor(command, int(keep_fd))
    if int(keep_fd) >= 0:
        os.close(int(keep_fd))
    # Let go of the output pipe: the parent sees end-of-file once the command's side is gone.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    supervise(supervisor, float(timeout), folder, int(report_fd))


if __name__ == "__main__":
    main()
