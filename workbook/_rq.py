"""rq_worker(): an RQ worker in a kernel thread, or `rq worker` as a child process.

RQ's own workers expect the main thread (signals) and fork (the work horse, the
scheduler); forking a Jupyter kernel is unsafe, so the thread form is a SimpleWorker with
a timer-based time limit, a scheduler in a thread, and a stop that does not need a signal.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import redis
from rq import SimpleWorker
from rq.scheduler import RQScheduler
from rq.serializers import resolve_serializer
from rq.timeouts import TimerDeathPenalty

from . import _registry
from ._logs import LogBuffer
from ._procs import ChildProcess
from ._redis import require
from ._threads import ThreadHandle
from ._workers import ProcessWorker, cli_flags, key

SERIALIZERS = {
    "json": "rq.serializers.JSONSerializer",
    "pickle": "rq.serializers.DefaultSerializer",
}


class _ThreadScheduler(RQScheduler):
    """RQ's scheduler loop in a thread instead of a forked process."""

    def _install_signal_handlers(self) -> None:
        pass

    def start(self) -> threading.Thread:  # type: ignore[override]
        self._status = self.Status.STARTED
        self._process = threading.Thread(target=self.work, name="rq scheduler", daemon=True)
        self._process.start()
        return self._process


class _ThreadWorker(SimpleWorker):
    """A SimpleWorker that runs off the main thread and stops on request within a second."""

    death_penalty_class = TimerDeathPenalty

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ready = threading.Event()

    def _install_signal_handlers(self) -> None:
        pass

    def _start_scheduler(self, *args: Any, **kwargs: Any) -> None:
        self.scheduler = _ThreadScheduler(
            self.queues, connection=self.connection, serializer=self.serializer
        )
        self.scheduler.acquire_locks()
        if self.scheduler.acquired_locks:
            self.scheduler.start()

    def stop_scheduler(self) -> None:
        if self.scheduler is not None:
            self.scheduler._stop_requested = True
            thread = self.scheduler._process
            if isinstance(thread, threading.Thread):
                thread.join(5)

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None):
        if timeout is None:  # burst mode: do not wait at all
            return super().dequeue_job_and_maintain_ttl(None, max_idle_time)
        # Wait in slices of one second so a stop request is seen promptly.
        while not self._stop_requested:
            self.ready.set()
            result = super().dequeue_job_and_maintain_ttl(1, 1)
            if result is not None:
                return result
        return None


class RQThreadWorker(ThreadHandle):
    """An RQ worker in a thread of the kernel (on REDIS_URL, or the `url` given)."""

    def __init__(
        self,
        queues: Sequence[str],
        serializer: Any,
        with_scheduler: bool,
        url: str | None = None,
        **options: Any,
    ):
        self.queue_names = list(queues)
        connection = redis.Redis.from_url(url or os.environ["REDIS_URL"])
        self._buffer = LogBuffer(("rq",))
        self.worker = _ThreadWorker(
            self.queue_names, connection=connection, serializer=serializer, **options
        )
        self._run_in_thread(
            lambda: self.worker.work(with_scheduler=with_scheduler, logging_level="INFO"),
            "rq worker",
        )
        self._wait_ready(
            self.worker.ready.is_set,
            f"The RQ worker for {self.queue_names}",
            "check that Redis runs (wb.start_redis()) and read the log lines below.",
        )

    @property
    def name(self) -> str:
        return self.worker.name

    def _request_stop(self) -> None:
        self.worker._stop_requested = True

    def __repr__(self) -> str:
        return f"<rq thread worker {self.name} on {self.queue_names}>"


def _serializer_path(serializer: Any) -> str | None:
    if serializer is None:
        return None
    if isinstance(serializer, str):
        return SERIALIZERS.get(serializer, serializer)
    return f"{serializer.__module__}.{serializer.__qualname__}"


def rq_worker(
    queues: Sequence[str] | str = ("default",),
    *,
    process: bool = False,
    serializer: Any = None,
    with_scheduler: bool = False,
    **options: Any,
) -> RQThreadWorker | ProcessWorker:
    """Start an RQ worker on `queues` (against REDIS_URL) and return once it listens.

    serializer: None (RQ's default, pickle), "json", or a serializer class or dotted path;
    it must match the one the queue was made with. with_scheduler=True is needed for
    Retry intervals and enqueue_in/enqueue_at. With `process=True`, the real `rq worker`
    CLI runs as a child (its default worker forks a work horse per job).
    """
    queues = [queues] if isinstance(queues, str) else list(queues)
    require(None, "The RQ worker")
    path = _serializer_path(serializer)

    def start() -> RQThreadWorker | ProcessWorker:
        if not process:
            resolved = resolve_serializer(path) if path else None
            return RQThreadWorker(queues, resolved, with_scheduler, **options)
        flags = {
            "name": _new_name(),
            "serializer": path,
            "with_scheduler": with_scheduler,
            **options,
        }
        argv = [sys.executable, "-m", "rq.cli", "worker", *cli_flags(flags), *queues]

        def ready(child: ChildProcess) -> bool:
            connection = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=1)
            with connection:
                state = connection.hget(f"rq:worker:{child.argv[_name_at(child.argv)]}", "state")
                return child.alive() and state in (b"idle", b"busy")

        # The URL (with its password) goes through the environment: a command line is
        # visible to every user of the machine (ps, /proc/<pid>/cmdline).
        env = {"RQ_REDIS_URL": os.environ["REDIS_URL"]}
        return RQProcessWorker("rq", " ".join(queues), argv, ready, env)

    return _registry.replace(key("rq", ",".join(queues)), start)


def _new_name() -> str:
    return f"workbook-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _name_at(argv: list[str]) -> int:
    """Where the worker's name stands in its `rq worker` command line."""
    return argv.index("--name") + 1


class RQProcessWorker(ProcessWorker):
    """An `rq worker` process that takes a new name at each restart, as RQ's own random
    default does: a killed worker's record outlives it in Redis (for its TTL, and across a
    restart of a persistent Redis), and RQ refuses to start a second worker under that name."""

    def restart(self) -> RQProcessWorker:
        self.process.argv[_name_at(self.process.argv)] = _new_name()
        return super().restart()
