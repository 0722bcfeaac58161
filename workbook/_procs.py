"""Child processes the kernel starts: own process group, log file, watchdog, bounded waits."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from . import _proctree, _watchdog
from ._errors import WorkbookError
from ._paths import ROOT, child_env, runtime_dir
from ._registry import Handle
from ._threads import READY_TIMEOUT
from ._waiting import WaitTimeout, wait_for

Same = TypeVar("Same", bound="ProcessHandle")


class ProcessHandle(Handle):
    """What every handle on a child process offers; subclasses set `.process` and `_start()`.
    A context manager too: `with wb.serve(..., process=True) as api:` stops it at the end."""

    process: ChildProcess

    def _start(self) -> None:
        raise NotImplementedError

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def argv(self) -> list[str]:
        return self.process.argv

    def alive(self) -> bool:
        return self.process.alive()

    def logs(self, lines: int = 40) -> str:
        return self.process.logs(lines)

    def kill(self) -> None:
        """SIGKILL the process and its children at once, as a crash or an OOM kill would."""
        self.process.kill()

    def stop(self) -> None:
        """SIGTERM the process and its children, SIGKILL what is left after 10 s."""
        self.process.stop()
        self._release()

    def restart(self: Same) -> Same:
        """Start the same command again (after a kill, or to pick up code edits)."""
        if self.process.alive():
            self.process.stop()
        self.process = ChildProcess(self.process.name, self.process.argv, self.process.extra_env)
        self._start()
        return self


class ChildProcess:
    """A command run in its own process group, logging to a file, killed with the kernel."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.name, self.argv, self.extra_env = name, argv, env or {}
        self.log_path: Path = runtime_dir() / f"{name}.log"
        self.popen: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> None:
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child keeps writing to it
        with log:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=child_env(self.extra_env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _watchdog.watch(self.popen.pid)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def logs(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(
        self,
        ready: Callable[[], bool],
        explain: Callable[[str], tuple[str, str]],
        timeout: float = READY_TIMEOUT,
    ) -> None:
        """Poll `ready()` until true; on exit or time-out, kill and raise with the cause."""
        seen = False

        def ready_or_gone() -> bool:
            nonlocal seen
            if not self.alive():
                return True
            with contextlib.suppress(Exception):
                seen = bool(ready())
            return seen

        with contextlib.suppress(WaitTimeout):
            wait_for(ready_or_gone, timeout, limit=timeout)
        if seen:
            return
        logs = self.logs()
        what, fix = explain(logs)
        if not self.alive():
            code = self.popen.returncode if self.popen else "?"
            raise WorkbookError(f"{what} (the process exited with code {code})", fix, logs)
        self.kill()
        raise WorkbookError(f"{what} (not ready after {timeout:.0f} s; stopped it)", fix, logs)

    def signal_group(self, sig: int) -> None:
        """Signal the child's process group and any descendant that left it."""
        if self.popen is None:
            return
        if self.popen.returncode is not None and _proctree.pid_taken(self.popen.pid):
            return  # ours was reaped (killed in a demo, say): that pid is a stranger's now
        _proctree.kill_tree(self.popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole group at once: for crash demos, and the last resort of stop()."""
        self.signal_group(signal.SIGKILL)
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(5)
            if self.popen.returncode is not None:  # gone: its id may be reused, forget it
                _watchdog.forget(self.popen.pid)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the group, wait up to `timeout`, then SIGKILL whatever is left."""
        if self.popen is None:
            return
        self.signal_group(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout)
        self.signal_group(signal.SIGKILL)  # pool children may outlive their parent
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)
        _watchdog.forget(self.popen.pid)
