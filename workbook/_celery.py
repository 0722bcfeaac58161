"""celery_worker(): a Celery worker in a kernel thread, or `celery -A ... worker` as a child."""

from __future__ import annotations

import sys
import threading
from typing import Any

from . import _registry
from ._logs import LogBuffer
from ._paths import import_path
from ._redis import require
from ._threads import ThreadHandle
from ._workers import ProcessWorker, cli_flags, key

FLAG_STOP_WAIT = 5.0  # seconds: the loop reads the flag at least every 2 s


class CeleryThreadWorker(ThreadHandle):
    """A WorkController in a thread: fast to start, shares the kernel's imports."""

    def __init__(self, app: Any, **options: Any) -> None:
        from celery.contrib.testing.worker import TestWorkController
        from celery.result import _set_task_join_will_block
        from celery.utils.nodenames import anon_nodename

        self.app = app
        app.finalize()
        app.set_current()
        app.set_default()
        self._buffer = LogBuffer(("celery",))
        settings = {
            "pool": "threads",
            "concurrency": 4,
            "loglevel": "INFO",
            "without_heartbeat": True,
            "without_mingle": True,
            "without_gossip": True,
            "hostname": anon_nodename(),
        }
        settings.update(options)
        self.worker = TestWorkController(app=app, ready_callback=None, **settings)
        _shutdown_flag(None)  # a flag an earlier worker's stop left would end this one at once
        self._run_in_thread(self._run, "celery worker")
        self._wait_ready(
            self.worker._on_started.is_set,
            f"The Celery worker for app {app.main!r}",
            "check the broker URL (app.conf.broker_url) and the log lines below.",
        )
        _set_task_join_will_block(False)

    def _run(self) -> None:
        try:
            self.worker.start()
        finally:
            _shutdown_flag(None)  # read: the next worker in this process must not stop at once

    def _request_stop(self) -> None:
        # The worker's own loop ends it, on the shutdown flag it reads every cycle (as Celery's
        # own test worker is stopped): a warm shutdown that waits for the running tasks, in the
        # worker's thread. Celery's stop() called from another thread closes the broker's
        # channels under a loop that may be reading them, and once in a few suite runs that
        # loop never ended (CI: "did not stop within 15 s" with no task running). That stop
        # still comes, from a thread of its own, if the loop has not ended after a while.
        _shutdown_flag(0)
        self._stopper = threading.Thread(target=self._stop_if_still_running, name="celery stop")
        self._stopper.daemon = True
        self._stopper.start()

    def _stop_if_still_running(self) -> None:
        if self.thread is not None:
            self.thread.join(FLAG_STOP_WAIT)
            if self.thread.is_alive():
                self.worker.stop(in_sighandler=False)

    def _threads(self) -> list[threading.Thread]:
        stopper = getattr(self, "_stopper", None)
        return [*super()._threads(), *([stopper] if stopper is not None else [])]

    def __repr__(self) -> str:
        return f"<celery thread worker {self.app.main!r}>"


def _shutdown_flag(value: int | None) -> None:
    """Set Celery's warm-shutdown flag (`celery.worker.state.should_stop`), which a worker's
    loop reads every cycle: not None asks it to stop. One per process, so one thread worker
    at a time reads it (celery_worker keeps it so)."""
    from celery.worker import state

    state.should_stop = value


def _celery_ready(process: Any) -> bool:
    return " ready." in process.logs(200)


def celery_worker(
    app: Any, *, process: bool = False, **options: Any
) -> CeleryThreadWorker | ProcessWorker:
    """Start a Celery worker for `app` and return once it consumes.

    In a thread by default (pool "threads", 4 at once). With `process=True`, the real CLI
    `celery -A module:app worker` as a child; mingle and gossip are skipped there, since a
    worker spends about a second on them at start and a single-worker demo needs neither.
    Keyword options go to the worker: e.g. concurrency=1, pool="prefork", events=True.
    """
    if isinstance(app, str):
        target = app
    else:
        target = import_path(app, "Celery app") if process else app.main or "celery"
    broker = None if isinstance(app, str) else app.conf.broker_url
    if broker and broker.startswith(("redis://", "rediss://", "unix://")):
        require(broker, "The Celery worker")
    elif isinstance(app, str):
        require(None, "The Celery worker")

    def start() -> CeleryThreadWorker | ProcessWorker:
        if not process:
            return CeleryThreadWorker(app, **options)
        flags = {"loglevel": "INFO", "without_mingle": True, "without_gossip": True}
        flags.update(options)
        argv = [sys.executable, "-m", "celery", "-A", target, "worker", *cli_flags(flags)]
        return ProcessWorker("celery", target, argv, _celery_ready)

    # Two Celery workers in threads of one process share Celery's global timer: the second
    # never runs countdown or retry tasks. So one thread worker at a time replaces the last.
    slot = str(target) if process else "thread worker"
    return _registry.replace(key("celery", slot), start)
