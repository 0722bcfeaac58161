"""Checks for exercise 15: each queue's worker runs as its own process, started from the
repository root with the learner's module, as a deployment starts it; one report through
each must be found and run."""

from __future__ import annotations

import time
from typing import Any

import workbook as wb
from workbook import WorkbookError

MODULE = "ex15_worker_finds_tasks"
PATIENCE = 20.0


def start(kind: str, start_worker) -> Any:
    try:
        return start_worker()
    except WorkbookError as exc:
        raise AssertionError(
            f"The {kind} worker could not start with your module: {str(exc)[:600]}"
        ) from None


def test_the_celery_worker_finds_the_task(learner):
    worker = start(
        "Celery", lambda: wb.celery_worker(f"{MODULE}:celery_app", process=True, pool="solo")
    )
    result = learner.celery_app.send_task(learner.CELERY_TASK, args=(7,))
    deadline = time.monotonic() + PATIENCE
    while not result.ready() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = worker.logs(200)
    assert "unregistered" not in log, (
        f"The Celery worker received {learner.CELERY_TASK!r} and dropped it as unregistered:"
        " the worker loads only your module and never imported the one that declares the"
        " task. Tell celery_app which modules hold its tasks."
    )
    assert result.state == "SUCCESS" and result.result == "report 7 built", (
        f"The Celery task ended {result.state} ({result.result!r}).\n{log[-1500:]}"
    )
    worker.stop()


def test_the_rq_worker_finds_the_function(learner):
    worker = start("RQ", lambda: wb.rq_worker([learner.QUEUE], process=True))
    job = learner.enqueue_report(7)
    deadline = time.monotonic() + PATIENCE
    while (
        job.get_status(refresh=True) not in ("finished", "failed") and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    if job.get_status() == "failed":
        error = job.latest_result().exc_string.strip().splitlines()[-1]
        raise AssertionError(
            f"The RQ worker could not run {job.func_name!r}: {error}. The job stores the"
            " function's import path, and the worker, started from the repository root,"
            " could not import that path."
        )
    assert job.get_status() == "finished" and job.return_value() == "report 7 built", (
        f"The RQ job ended {job.get_status()} with {job.return_value()!r}.\n{worker.logs(30)}"
    )
    worker.stop()


def test_the_dramatiq_worker_gets_the_message(learner, redis_server):
    worker = start("Dramatiq", lambda: wb.dramatiq_worker(MODULE, process=True, threads=1))
    client = redis_server.client()
    client.delete("ex15:built:7")
    try:
        learner.build_report.send(7)
    except Exception as exc:
        raise AssertionError(
            f"build_report.send(7) failed with {type(exc).__name__}: {exc}. The actor is bound"
            " to Dramatiq's default broker (Redis on localhost:6379), not to `broker`: an actor"
            " takes the broker that is set when it is declared."
        ) from None
    assert learner.build_report.broker is learner.broker, (
        "build_report.send() went to Dramatiq's default broker, not to `broker`: an actor"
        " takes the broker that is set when it is declared."
    )
    deadline = time.monotonic() + PATIENCE
    while not client.get("ex15:built:7") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get("ex15:built:7"), (
        f"The Dramatiq worker did not run build_report within {PATIENCE:g} s: it does not"
        f" consume the actor's queue.\n{worker.logs(30)}"
    )
    worker.stop()
