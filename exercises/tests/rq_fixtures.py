"""Shared by the RQ exercises (ex08-ex10): the learner's app on a real server, real RQ
workers that a test starts when it is ready for them, and a queue emptied between tests.

A test that starts the worker itself can look at a job before any worker touched it
("queued"), then let it run: states are compared at points the test controls, never
sampled by luck. pytest imports this module from the tests' folder (its rootdir-relative
"prepend" import mode puts that folder on sys.path), beside conftest.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from rq import Queue, SimpleWorker
from rq.job import Job
from rq.serializers import JSONSerializer

import workbook as wb

PATIENCE = 30.0  # seconds: only a wrong answer (or a very busy machine) waits this long


class RQApp:
    """The learner's app on a real server, and the RQ worker the test starts when it wants."""

    def __init__(self, served: Any, learner: Any) -> None:
        self.served = served
        self.learner = learner  # the module under test
        queue: Callable[[], Queue] = learner.queue
        self.queue = queue
        self.worker: Any = None
        self.burst_log: list[str] = []

    def start_worker(self, *, with_scheduler: bool = False) -> None:
        """A JSON RQ worker in a thread; a second call replaces the first (same queue)."""
        self.stop_worker()
        self.worker = wb.rq_worker(
            [self.queue().name], serializer="json", with_scheduler=with_scheduler
        )

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def run_burst(self) -> None:
        """Run RQ's SimpleWorker (JSON) in this thread until the queue is empty, as `rq worker
        --burst` does: what it enqueues meanwhile (a dependent step) runs too. When it returns,
        nothing is in flight, so what the test reads next holds still."""
        queue = self.queue()
        worker = SimpleWorker([queue], connection=queue.connection, serializer=JSONSerializer)
        handler = _Lines()
        log = logging.getLogger("rq")
        log.addHandler(handler)
        try:
            worker.work(burst=True, logging_level="INFO")
        finally:
            log.removeHandler(handler)
            self.burst_log += handler.lines

    def logs(self) -> str:
        if self.worker is not None:
            worker = self.worker.logs(30)
        else:
            worker = "\n".join(self.burst_log[-30:]) or "(no worker ran)"
        return f"{self.served.log()}\nWorker log (most recent last):\n{worker}"

    def get(self, path: str, what: str | None = None) -> Any:
        return self.served.request("GET", path, what or f"GET {path}").json()

    def post(self, path: str, what: str | None = None, **kwargs: Any) -> Any:
        return self.served.request("POST", path, what or f"POST {path}", **kwargs).json()

    def job(self, job_id: str) -> Job:
        return Job.fetch(job_id, connection=self.queue().connection, serializer=JSONSerializer)

    def status(self, job_id: str) -> str:
        """What RQ itself says of the job now."""
        return self.job(job_id).get_status(refresh=True).value

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        """Poll to a generous deadline; on a time-out, fail with the server and worker logs."""
        deadline = time.monotonic() + PATIENCE
        while not condition():
            assert time.monotonic() < deadline, (
                f"Waited {PATIENCE:.0f} s in vain until {what}.\n{self.logs()}"
            )
            time.sleep(0.02)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {self.format(record)}")


def empty(queue: Queue) -> None:
    """Delete every job of the queue, wherever it is (queued, running, done, scheduled...)."""
    queue.empty()
    registries = (
        queue.started_job_registry,
        queue.finished_job_registry,
        queue.failed_job_registry,
        queue.deferred_job_registry,
        queue.scheduled_job_registry,
        queue.canceled_job_registry,
    )
    for registry in registries:
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)


def rq_app(redis_server: Any, serve: Any, learner: Any, prefix: str) -> Iterator[RQApp]:
    """For a fixture: `yield from rq_app(...)`. Starts clean (the exercise's own keys and
    queue), and stops the worker and cleans again afterwards."""

    def forget_keys() -> None:
        client = redis_server.client()
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)

    forget_keys()
    empty(learner.queue())
    app = RQApp(serve(learner.app), learner)
    try:
        yield app
    finally:
        forget_keys()  # first: a job that a test's key holds is let go, so the worker stops
        app.stop_worker()
        empty(learner.queue())
        forget_keys()
