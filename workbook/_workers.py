"""What the three queue workers share: the process handle, CLI flags, and the registry key."""

from __future__ import annotations

import re
from collections.abc import Callable

from ._procs import ChildProcess, ProcessHandle


def cli_flags(options: dict[str, object]) -> list[str]:
    """{"concurrency": 2, "events": True, "x": False} -> ["--concurrency", "2", "--events"]."""
    flags: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, list | tuple):
            for item in value:
                flags += [flag, str(item)]
        else:
            flags += [flag, str(value)]
    return flags


def explain_worker_failure(library: str, target: str) -> Callable[[str], tuple[str, str]]:
    """Turn a dead or stuck worker's log into a cause and a fix."""

    def explain(logs: str) -> tuple[str, str]:
        if re.search(
            r"ModuleNotFoundError|ImportError|Unable to load|Error loading|"
            r"Invalid attribute name|cannot import|Could not import",
            logs,
        ):
            return (
                f"The {library} worker could not import {target!r}.",
                "pass the module path as you would write it in an import statement, run from"
                ' the repository root (e.g. "app_snippets.ch02_celery.celery_status:celery_app"),'
                " and make sure the module imports without errors in a cell first.",
            )
        if re.search(
            r"Connection refused|Error 111|ConnectionError|AuthenticationError|"
            r"Cannot connect|consumer: Cannot connect",
            logs,
        ):
            return (
                f"The {library} worker cannot reach its broker.",
                "run wb.start_redis() first, and make the app read REDIS_URL from the"
                " environment (as app_snippets/settings.py does).",
            )
        return (
            f"The {library} worker for {target!r} did not become ready.",
            "read the log lines below for the cause.",
        )

    return explain


class ProcessWorker(ProcessHandle):
    """A worker run by the library's real CLI as a child process."""

    kind = "worker"

    def __init__(
        self,
        library: str,
        target: str,
        argv: list[str],
        ready: Callable[[ChildProcess], bool],
        env: dict[str, str] | None = None,
    ) -> None:
        self.library, self.target, self._ready = library, target, ready
        self.process = ChildProcess(f"{library}-{slug(target)}", argv, env)
        self._start()

    def _start(self) -> None:
        self.process.start()
        self.process.wait_ready(
            lambda: self._ready(self.process), explain_worker_failure(self.library, self.target)
        )

    def __repr__(self) -> str:
        state = "running" if self.alive() else "stopped"
        return f"<{self.library} worker {self.target} pid {self.pid} {state}>"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:40]


def key(library: str, target: str) -> str:
    return f"worker {library} {target}"
