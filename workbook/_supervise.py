"""Run one command so that nothing it starts outlives it: the supervisor of each check.

Markers can be scrubbed (valkey-server blanks its environment when it sets its title; a
learner's grandchild can execve with an empty one) and process groups and sessions can be
left (setsid). Ancestry cannot: on Linux this supervisor makes itself a child subreaper
(prctl PR_SET_CHILD_SUBREAPER), so every orphan below it is reparented to it instead of to
pid 1, and its descendants are every process the command started. It kills them all when
the command ends, at its own deadline, or the moment its parent (the kernel, the CLI) goes
away: the parent holds the other end of its stdin, and end-of-file is the signal, even
after a SIGKILL. When the parent is gone it also removes the run's folder.

    python -I workbook/_supervise.py SECONDS FOLDER REPORT_FD KEEP_FD -- COMMAND...

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


class Supervisor:
    """The command, its exit status, and every process below this one."""

    def __init__(self, command: list[str], keep_fd: int) -> None:
        self.subreaper = become_subreaper()
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


def _wait(supervisor: Supervisor, deadline: float) -> str:
    """Why the command's run ended: "exited", "deadline" or "stopped" (our stdin closed)."""
    with selectors.DefaultSelector() as selector:
        selector.register(sys.stdin.fileno(), selectors.EVENT_READ)
        while True:
            supervisor.reap()
            if supervisor.returncode is not None:
                return "exited"
            if time.monotonic() >= deadline:
                return "deadline"
            if selector.select(0.05) and not os.read(sys.stdin.fileno(), 4096):
                return "stopped"


def main() -> None:
    timeout, folder, report_fd, keep_fd = sys.argv[1:5]
    command = sys.argv[sys.argv.index("--") + 1 :]
    parent = os.getppid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides, through our stdin
    supervisor = Supervisor(command, int(keep_fd))
    if int(keep_fd) >= 0:
        os.close(int(keep_fd))
    # Let go of the output pipe: the parent sees end-of-file once the command's side is gone.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    reason = _wait(supervisor, time.monotonic() + float(timeout))
    strays = supervisor.settle(SETTLE) if reason == "exited" else []
    killed = supervisor.kill_all()
    report = {
        "returncode": supervisor.returncode,
        "reason": reason,
        "strays": strays,
        "killed": killed,
        "subreaper": supervisor.subreaper,
    }
    with contextlib.suppress(OSError), os.fdopen(int(report_fd), "w") as out:
        out.write(json.dumps(report))
    if os.getppid() != parent:  # the kernel or CLI died mid-check: nobody else will clean up
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
