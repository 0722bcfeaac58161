"""When the workbook's Redis dies: say so where the learner looks, name the fix, and name
(then restart) the workers that went down with it.

A dead Redis otherwise shows up as raw library errors (`kombu...OperationalError: Error 111`,
`redis...ConnectionError`, a served app's bare 500) or as a `.get()` that times out because
the worker exited. A thread watches the server's process; in a notebook, the first cell run
after the death starts with a message naming the workbook's Redis and `wb.start_redis()`
(an IPython pre/post_run_cell hook), so the learner reads the cause before the failure.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from . import _registry
from ._net import safe_url

POLL = 0.25  # seconds between looks at the server's process


@dataclass
class Death:
    """One server's death: when, how, and what of this kernel was running just before."""

    server: Any
    code: int | None
    before: list[Any] = field(default_factory=list)
    reported: bool = False

    def workers(self) -> list[Any]:
        """What was running before the death and is not now (those died with it)."""
        return [h for h in self.before if not alive(h)]


_lock = threading.Lock()
_deaths: dict[int, Death] = {}  # by the dead server's pid
_before: dict[int, list[Any]] = {}  # by pid: what else ran at the last look
_seen: dict[int, set[int]] = {}  # by pid: ids of every handle known at the last look
_stopping: set[int] = set()  # stopped on purpose (stop(), stop_all()): not a death
_hooked = False


def alive(handle: Any) -> bool:
    """Whether a worker or server handle still runs (a process, or a thread of the kernel)."""
    process = getattr(handle, "process", None)
    if process is not None and hasattr(process, "alive"):
        return bool(process.alive())
    thread = getattr(handle, "thread", None)
    return thread.is_alive() if isinstance(thread, threading.Thread) else True


def watch(server: Any) -> None:
    """Watch `server` (a RedisServer the workbook started) from a daemon thread."""
    if server.process is None:
        return
    _install_hooks()
    threading.Thread(target=_watch, args=(server,), name="redis watch", daemon=True).start()


def stopping(server: Any) -> None:
    """`server` is being stopped on purpose: its end is not news."""
    if server.pid is not None:
        _stopping.add(server.pid)


def _watch(server: Any) -> None:
    while server.process.popen.poll() is None:
        others = [h for h in _registry.handles() if h is not server]
        _before[server.pid] = [h for h in others if alive(h)]
        _seen[server.pid] = {id(h) for h in others}
        time.sleep(POLL)
    if death_of(server) is not None and not _in_ipython():
        print(message(death_of(server)), file=sys.stderr)  # a script: no cell to show it in


def death_of(server: Any) -> Death | None:
    """The recorded death of `server`, recorded now if its process has just ended."""
    if server.process is None or server.pid in _stopping:
        return None
    code = server.process.popen.poll() if server.process.popen is not None else None
    if code is None:
        return None
    with _lock:
        if server.pid not in _deaths:
            # Started after the last look (up to POLL seconds before the death): ran too.
            seen = _seen.pop(server.pid, set())
            newer = [h for h in _registry.handles() if h is not server and id(h) not in seen]
            _deaths[server.pid] = Death(server, code, _before.pop(server.pid, []) + newer)
        return _deaths[server.pid]


def current_death() -> Death | None:
    """The death of this kernel's Redis (the registered one), if it died."""
    server = _registry.get(_registry.REDIS)
    return death_of(server) if server is not None else None


def _how(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def _describe(handle: Any) -> str:
    """A worker's repr and, for a process, its last log line (the cause it gave)."""
    last = ""
    with contextlib.suppress(Exception):
        lines = [line for line in handle.logs(40).splitlines() if line.strip()]
        last = next(
            (line for line in reversed(lines) if "rror" in line), lines[-1] if lines else ""
        )
    return f"{handle!r}" + (f": {last.strip()[:160]}" if last else "")


def message(death: Death) -> str:
    """What the learner reads: what died, what fails now, what went with it, and the fix."""
    server = death.server
    text = (
        f"The workbook's Redis ({safe_url(server.url)}, pid {server.pid}) has stopped"
        f" ({_how(death.code)}): every call to it fails until it runs again. Run"
        " wb.start_redis() to start a new one at the same address; it starts empty (the"
        " tasks, jobs and results kept in the old one are gone)."
    )
    workers = death.workers()
    if workers:
        text += "\nStopped with it (wb.start_redis() restarts the processes among them):"
        text += "".join(f"\n  {_describe(h)}" for h in workers)
    return text


def report(*_: object) -> None:
    """The IPython hook before a cell: print the message once per death."""
    death = current_death()
    if death is not None and not death.reported:
        death.reported = True
        print(message(death), file=sys.stderr, flush=True)


def report_after(result: Any = None) -> None:
    """The IPython hook after a cell: once per death, and again under every cell that
    failed while the server is dead (the traceback alone names only the library)."""
    death = current_death()
    failed = getattr(result, "error_in_exec", None) is not None
    if death is not None and (failed or not death.reported):
        death.reported = True
        print(message(death), file=sys.stderr, flush=True)


def revive(death: Death) -> list[str]:
    """After a new Redis started: restart the process workers that died with the old one;
    name the thread workers (re-running their cell replaces them). Lines to print."""
    lines = []
    for handle in death.workers():
        if getattr(handle, "process", None) is not None and hasattr(handle, "restart"):
            try:
                handle.restart()
                lines.append(f"Restarted {handle!r}, which had stopped with the old Redis.")
            except Exception as exc:
                lines.append(
                    f"Could not restart {handle!r} ({exc}): re-run the cell that started it."
                )
        else:
            lines.append(f"{handle!r} stopped with the old Redis: re-run the cell that started it.")
    return lines


def _in_ipython() -> bool:
    shell = sys.modules.get("IPython")
    return bool(shell and getattr(shell, "get_ipython", lambda: None)())


def _install_hooks() -> None:
    global _hooked
    if _hooked or not _in_ipython():
        return
    shell = sys.modules["IPython"].get_ipython()
    shell.events.register("pre_run_cell", report)
    shell.events.register("post_run_cell", report_after)
    _hooked = True
