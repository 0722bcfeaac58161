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
        self._run_in_thread(self.worker.start, "celery worker")
        self._wait_ready(
            self.worker._on_started.is_set,
            f"The Celery worker for app {app.main!r}",
            "check the broker URL (app.conf.broker_url) and the log lines below.",
        )
        _set_task_join_will_block(False)

    def _request_stop(self) -> None:
        # Celery's stop waits for the running tasks (its thread pool's shutdown does): from a
        # thread of its own, so that stop() waits a bounded time and can say so.
        self._stopper = threading.Thread(
            target=self.worker.stop, kwargs={"in_sighandler": False}, name="celery stop"
        )
        self._stopper.daemon = True
        self._stopper.start()

    def _threads(self) -> list[threading.Thread]:
        stopper = getattr(self, "_stopper", None)
        return [*super()._threads(), *([stopper] if stopper is not None else [])]

    def __repr__(self) -> str:
        return f"<celery thread worker {self.app.main!r}>"


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
