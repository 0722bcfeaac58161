"""Checks for exercise 06: with a real `celery worker` process (prefork, one pool process),
SIGKILL the pool process mid-task, then the whole worker mid-batch (and start a new one):
every task must complete."""

from __future__ import annotations

import gc
import importlib
import os
import signal
import subprocess
import time

import pytest

import workbook as wb
from app_snippets.settings import seconds

TASKS = 10
TARGET = "ex06_crash_safe:celery_app"


@pytest.fixture(scope="module")
def learner(redis_server):
    return importlib.import_module("ex06_crash_safe")  # after Redis: the app reads REDIS_URL


@pytest.fixture
def batch(learner, redis_server):
    """A clean database, a worker process, and TASKS tasks sent to it."""
    store = redis_server.client()
    store.flushdb()
    worker = wb.celery_worker(TARGET, process=True, concurrency=1)
    results = [learner.make_thumbnail.delay(photo_id) for photo_id in range(TASKS)]
    yield store, worker, results
    worker.stop()
    results.clear()  # unsubscribe from their results now, while Redis still runs
    gc.collect()


def wait_until_started(store, worker, count: int) -> None:
    deadline = time.monotonic() + 10 + count * seconds(0.5)
    while store.llen("ex06:started") < count:
        assert time.monotonic() < deadline, (
            f"Only {store.llen('ex06:started')} of {TASKS} tasks started within"
            f" {deadline:.0f} s.\nWorker log:\n{worker.logs(15)}"
        )
        time.sleep(0.005)


def wait_for_all(store, within: float, watch=None) -> tuple[int, set[str]]:
    """Wait until every task completed, or until `within` seconds passed: how many did, and
    the states that the result `watch` went through meanwhile."""
    deadline = time.monotonic() + within
    states = set()
    while store.scard("ex06:done") < TASKS and time.monotonic() < deadline:
        if watch is not None:
            states.add(watch.state)
        time.sleep(0.02)
    return store.scard("ex06:done"), states


def test_a_killed_pool_process_loses_no_task(batch, learner):
    store, worker, results = batch
    wait_until_started(store, worker, 3)
    running = results[int(store.lindex("ex06:started", -1))]
    found = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True)
    assert found.stdout.split(), f"The worker has no pool process.\n{worker.logs(15)}"
    os.kill(int(found.stdout.split()[0]), signal.SIGKILL)  # the pool process, mid-task
    done, states = wait_for_all(
        store, learner.VISIBILITY_TIMEOUT + 5 + TASKS * seconds(0.5), running
    )
    assert "FAILURE" not in states, (
        "When its pool process was killed, the running task was marked FAILURE"
        " (WorkerLostError) and its message acknowledged: it should go back to the queue at"
        " once and run again."
    )
    assert done == TASKS, (
        f"After the pool process was killed in the middle of a task, {done} of {TASKS} tasks"
        " completed: the task that was running must go back to the queue and run again."
    )


def test_a_killed_worker_loses_no_task(batch, learner):
    store, worker, _ = batch
    wait_until_started(store, worker, 4)
    worker.kill()  # SIGKILL of the whole worker, mid-task, with messages prefetched
    worker.restart()
    within = learner.VISIBILITY_TIMEOUT + 5 + TASKS * seconds(0.5)
    done, _ = wait_for_all(store, within)
    unacked = store.hlen("unacked")
    assert done == TASKS, (
        f"After the worker was killed mid-batch and a new one started, {done} of {TASKS}"
        f" tasks completed within {within:.0f} s, and {unacked} messages were still"
        " unacknowledged in Redis: the task that was running, and those the dead worker had"
        " prefetched, must come back to the queue and run."
    )
