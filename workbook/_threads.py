"""The base of every handle that runs in threads of this kernel (a uvicorn server, a Celery,
RQ or Dramatiq worker): a start that waits until ready and, when it is not, says why with
the log lines; a stop that waits a bounded time and says so when a thread does not end."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import traceback
from collections.abc import Callable

from . import _registry
from ._errors import WorkbookError
from ._logs import LogBuffer
from ._waiting import WaitTimeout, wait_for

READY_TIMEOUT = 15.0  # seconds a server or worker (thread or process) may take to be ready
STOP_TIMEOUT = 15.0  # seconds its threads may take to end after a stop request


class ThreadHandle(_registry.Handle):
    """Subclasses set `.thread` through `_run_in_thread`, say how to ask for a stop in
    `_request_stop`, and may add threads of their own in `_threads`."""

    kind = "worker"
    thread: threading.Thread | None = None
    error: BaseException | None = None
    stop_timeout = STOP_TIMEOUT
    _buffer: LogBuffer

    def _run_in_thread(self, run: Callable[[], object], name: str) -> None:
        """Start `run()` in a daemon thread; an error it raises is kept in `.error`."""

        def guarded() -> None:
            try:
                run()
            except BaseException as exc:  # a thread's error would be lost: keep it for start
                self.error = exc

        self.thread = threading.Thread(target=guarded, name=name, daemon=True)
        self.thread.start()

    def _wait_ready(
        self, ready: Callable[[], object], what: str, fix: str, timeout: float | None = None
    ) -> None:
        """Wait until `ready()`; if the thread ends or `timeout` (READY_TIMEOUT) passes first,
        stop what started and raise a WorkbookError with `what`, the thread's error and its
        log lines."""
        timeout = READY_TIMEOUT if timeout is None else timeout
        with contextlib.suppress(WaitTimeout):
            wait_for(lambda: ready() or not self.running(), timeout, limit=timeout, poll=0.01)
        if ready():
            return
        late = "" if self.error or not self.running() else f" within {timeout:g} s"
        # The start's failure is the news: a short stop, and a thread that does not end in
        # time is a daemon, which goes with the kernel.
        with contextlib.suppress(WorkbookError):
            self.stop(timeout=2)
        cause = f": {self.error!r}" if self.error else "."
        raise WorkbookError(f"{what} did not start{late}{cause}", fix, self.logs())

    def _request_stop(self) -> None:
        raise NotImplementedError

    def _join(self, timeout: float) -> None:
        """Ask for the stop and wait up to `timeout` in all for the threads to end."""
        self._request_stop()
        deadline = time.monotonic() + timeout
        for thread in self._threads():
            thread.join(max(0.0, deadline - time.monotonic()))

    def _threads(self) -> list[threading.Thread]:
        return [self.thread] if self.thread is not None else []

    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads())

    def logs(self, lines: int = 40) -> str:
        return self._buffer.text(lines)

    def stop(self, timeout: float | None = None) -> None:
        """Stop and wait up to `timeout` s (default `stop_timeout`) for the threads to end;
        raise a WorkbookError naming the wait when one still runs."""
        timeout = self.stop_timeout if timeout is None else timeout
        try:
            self._join(timeout)
        finally:
            self._release()
        left = [thread.name for thread in self._threads() if thread.is_alive()]
        if left:
            raise WorkbookError(
                f"{self!r} did not stop within {timeout:g} s: its thread"
                f"{'s' if len(left) > 1 else ''} {', '.join(left)} still run"
                f"{'' if len(left) > 1 else 's'}.",
                "a task that never returns keeps a worker's thread busy: let it end, give it"
                " longer with .stop(timeout=...), or restart the kernel (Kernel > Restart).",
                self.logs() + _where(self._threads()),
            )

    def _release(self) -> None:
        """What stop() does even when a thread does not end: let go of the log lines."""
        self._buffer.detach()
        super()._release()


def _where(threads: list[threading.Thread]) -> str:
    """Where each thread that still runs is (its last frames): the line a stop waits on."""
    frames = sys._current_frames()
    parts = []
    for thread in threads:
        frame = frames.get(thread.ident or -1) if thread.is_alive() else None
        if frame is not None:
            stack = "".join(traceback.format_stack(frame, limit=6))
            parts.append(f"\nThe thread {thread.name} still runs at:\n{stack.rstrip()}")
    return "".join(parts)
