"""A command line run in a folder, as a learner would type it in a terminal there.

The tutorial reproductions (app_snippets/chNN_*/article_*) are started by their own commands
(`celery -A app.main.celery_app worker`, `python app/rq_worker.py`, `uvicorn app.main:app`)
from the folder that holds their `app/`. A crash is a result to show, not an error: the
handle comes back once the command printed its ready line or exited, with its output.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from pathlib import Path

from . import _registry
from ._errors import WorkbookError
from ._net import HOST, free_port
from ._procs import ChildProcess, ProcessHandle
from ._waiting import WaitTimeout, wait_for
from ._workers import slug


class Command(ProcessHandle):
    """A shell command line run in `cwd`, in its own process group, killed with the kernel."""

    kind = "worker"  # stop_all stops it before servers and Redis

    def __init__(self, command: str, cwd: Path, ready: str | None, timeout: float) -> None:
        self.port = free_port() if "{port}" in command else None
        self.url = f"http://{HOST}:{self.port}" if self.port else None
        command = command.replace("{port}", str(self.port))
        self.command, self.cwd, self.ready, self.timeout = command, cwd, ready, timeout
        argv = ["/bin/sh", "-c", f"cd {shlex.quote(str(cwd))} && exec {command}"]
        # The venv's commands first, as `make lab` has them; no PYTHONPATH from the workbook:
        # the command finds its modules the way it would in a terminal, or does not.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        env = {"PATH": path, "PYTHONPATH": ""}
        self.process = ChildProcess(f"command-{slug(command)}", argv, env)
        self._start()

    def _start(self) -> None:
        self.process.start()
        with contextlib.suppress(WaitTimeout):
            wait_for(self._ready_or_exited, self.timeout, limit=self.timeout, poll=0.05)
        if not self._ready_or_exited():
            logs = self.logs()
            self.process.kill()
            raise WorkbookError(
                f"`{self.command}` (in {self.cwd}) printed no {self.ready!r} within "
                f"{self.timeout:.0f} s; stopped it",
                "read its output below; on a busy machine, pass a longer timeout=",
                logs,
            )

    def _ready_or_exited(self) -> bool:
        return not self.alive() or bool(self.ready and self.ready in self.logs(400))

    @property
    def returncode(self) -> int | None:
        """The exit code once the command has exited, else None."""
        popen = self.process.popen
        return None if popen is None else popen.poll()

    def wait(self, timeout: float = 15.0) -> int:
        """Wait until the command exits (at most `timeout` s) and return its exit code."""
        assert self.process.popen is not None
        return self.process.popen.wait(timeout)

    def __repr__(self) -> str:
        state = "running" if self.alive() else f"exited with code {self.returncode}"
        return f"<command {self.command!r} in {self.cwd.name}/ pid {self.pid} {state}>"


def run_command(
    command: str, *, cwd: str | os.PathLike[str], ready: str | None = None, timeout: float = 30.0
) -> Command:
    """Run `command` in the folder `cwd` and return once it printed `ready`, or exited.

    Without `ready`, it returns once the command exits (a crash included: read `.logs()`
    and `.returncode`). A `{port}` in the command becomes a free loopback port (`.port`,
    `.url`). Running the same command in the same folder again replaces it.
    """
    folder = Path(cwd).resolve()
    if not folder.is_dir():
        raise WorkbookError(f"no folder {folder}", "pass cwd= a folder that exists")
    key = f"command {folder} {command}"
    return _registry.replace(key, lambda: Command(command, folder, ready, timeout))
