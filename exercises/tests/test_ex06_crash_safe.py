"""Checks for exercise 06: with a real `celery worker` process (prefork, one pool process),
SIGKILL the pool process mid-task, then the whole worker mid-batch (and start a new one).

"Correct" means, for a batch of tasks, with no kill and with each kind of kill:
1. the task cut short is not marked FAILURE: its message goes back to the queue at once
   (seen by sampling the task's state while the batch runs);
2. every task completes: the one cut short, and those the dead worker had prefetched;
3. with no kill, no message comes back to the queue while a worker still holds it: the
   visibility timeout that kombu's restore sweep applies to the learner's own app (read
   from its Redis channel, the value the worker uses) is longer than a message can wait in
   the worker (prefetch multiplier x the task's time). Decided by that rule, not by whether
   the sweep happened to fall inside this batch; the batch's repeated runs (the event) are
   quoted as the evidence, and a task run three times fails even with a long timeout (a
   kill test that sees repeated runs says so, instead of calling the task lost).
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

import workbook as wb
from app_snippets.settings import seconds

TASKS = 10
TARGET = "ex06_crash_safe:celery_app"
ATTEMPTS = 5  # a kill can fall in the gap between two tasks: then the batch starts again


@pytest.fixture
def batch(learner, redis_server) -> Iterator[Callable[[], tuple]]:
    """`batch()`: a clean database, a worker process, and TASKS tasks sent to it:
    (store, worker, results). Each call starts afresh; the last worker stops after the test."""
    store = redis_server.client()
    started = []

    def start() -> tuple:
        store.flushdb()
        worker = wb.celery_worker(TARGET, process=True, concurrency=1)  # replaces the last
        results = [learner.make_thumbnail.delay(photo_id) for photo_id in range(TASKS)]
        started.append((worker, results))
        return store, worker, results

    yield start
    for worker, results in started:
        worker.stop()
        results.clear()  # unsubscribe from their results now, while Redis still runs
    gc.collect()


def running(store, started: list[str] | None = None) -> set[str]:
    """The photos whose task started (of `started`, or so far) and has not completed."""
    if started is None:
        started = store.lrange("ex06:started", 0, -1)
    return set(started) - store.smembers("ex06:done")


def kill_mid_task(batch, kill: Callable, after: int) -> tuple:
    """Start a batch; once `after` tasks started and one is running, `kill(worker)`.
    (store, worker, results, the photos whose task the kill cut short)."""
    for _ in range(ATTEMPTS):
        store, worker, results = batch()
        deadline = time.monotonic() + 10 + after * seconds(0.5)
        while store.llen("ex06:started") < after or not running(store):
            assert time.monotonic() < deadline, (
                f"Only {store.llen('ex06:started')} of {TASKS} tasks started within"
                f" {10 + after * seconds(0.5):.0f} s.\nWorker log:\n{worker.logs(15)}"
            )
            time.sleep(0.005)
        started = store.lrange("ex06:started", 0, -1)
        kill(worker)
        cut_short = running(store, started)  # the dead process records nothing more
        if cut_short:
            return store, worker, results, cut_short
    pytest.fail(
        f"In {ATTEMPTS} attempts the kill never fell while a task ran (this machine may be"
        " very busy): run the check again."
    )


def kill_pool_process(worker) -> None:
    found = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True)
    assert found.stdout.split(), f"The worker has no pool process.\n{worker.logs(15)}"
    os.kill(int(found.stdout.split()[0]), signal.SIGKILL)  # the pool process, mid-task
    time.sleep(0.01)  # dead before we look: far too soon for a new one to redo the task


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


def runs(store) -> Counter:
    """How many times each photo's task started in this batch."""
    return Counter(store.lrange("ex06:started", 0, -1))


def duplicates(store, cut_short: set[str] = frozenset()) -> str:
    """A clause naming the tasks that ran more often than a kill explains, or ""."""
    more = sorted(int(p) for p, n in runs(store).items() if n > 1 + (p in cut_short))
    if not more:
        return ""
    return (
        f" Meanwhile photos {more} ran more than once although no kill cut them short: their"
        " messages came back to the queue while a worker still held them."
    )


def held_too_long(learner) -> tuple[float, float]:
    """(the visibility timeout kombu's restore sweep applies to the learner's app, the
    longest a message can wait in the check's worker: its prefetched tasks, one at a time)."""
    with learner.celery_app.connection_for_read() as connection:
        timeout = connection.default_channel.visibility_timeout  # as the worker's sweep reads it
    prefetched = learner.celery_app.conf.worker_prefetch_multiplier or TASKS  # 0: no limit
    return float(timeout), min(prefetched, TASKS) * seconds(0.5)


def test_no_task_runs_again_while_a_worker_holds_it(batch, learner):
    # No kill: a batch as in production. A message waits in the worker at most while the
    # tasks prefetched before it and itself run (4 x 0.5 s at DEMO_TIME_SCALE 1). Whether the
    # restore sweep falls inside this batch is timing; what it restores is not: a message
    # unacknowledged longer than the visibility timeout. So the verdict follows that rule.
    store, worker, _ = batch()
    done, _ = wait_for_all(store, learner.VISIBILITY_TIMEOUT + 5 + TASKS * seconds(0.5))
    counts = runs(store)
    again = sorted(int(photo) for photo, n in counts.items() if n > 1)
    timeout, waiting = held_too_long(learner)
    seen = f"photos {again} ran more than once"
    if not again:
        seen = "no task ran twice in this batch, only because of when Redis's restore sweep fell"
    assert timeout > waiting, (
        f"With no worker killed, {seen}: the visibility timeout ({timeout:g} s) is shorter"
        f" than a message can wait in a worker (its prefetched tasks, about {waiting:.1f} s"
        " here). Redis hands a message out again once it has been unacknowledged that long,"
        " while the worker that holds it will still run it: the task is done twice."
    )
    assert max(counts.values(), default=0) < 3, (
        f"With no worker killed, tasks ran again and again (runs per photo:"
        f" {dict(sorted(counts.items()))}): Redis handed their messages out again while a"
        " worker still held them, once they had been unacknowledged for the visibility"
        f" timeout. It must be longer than a message can wait in a worker (its prefetched"
        f" tasks, about {waiting:.1f} s here), or every task is done several times."
    )
    assert done == TASKS, (
        f"With no worker killed, {done} of {TASKS} tasks completed.\n{worker.logs(15)}"
    )


def test_a_killed_pool_process_loses_no_task(batch, learner):
    store, _, results, cut_short = kill_mid_task(batch, kill_pool_process, after=3)
    running_task = results[int(min(cut_short))]
    done, states = wait_for_all(
        store, learner.VISIBILITY_TIMEOUT + 5 + TASKS * seconds(0.5), running_task
    )
    assert "FAILURE" not in states, (
        "When its pool process was killed, the running task was marked FAILURE"
        " (WorkerLostError) and its message acknowledged: it should go back to the queue at"
        " once and run again."
    )
    assert done == TASKS, (
        f"After the pool process was killed in the middle of a task, {done} of {TASKS} tasks"
        " completed: the task that was running must go back to the queue and run again."
        + duplicates(store, cut_short)
    )


def test_a_killed_worker_loses_no_task(batch, learner):
    # SIGKILL of the whole worker, mid-task, with messages prefetched; then a new one.
    store, worker, _, cut_short = kill_mid_task(batch, lambda worker: worker.kill(), after=4)
    # A kill that falls inside kombu's restore sweep leaves its lock held for 300 s: the
    # check frees it, so that the verdict does not depend on where the kill fell.
    store.delete("unacked_mutex")
    worker.restart()
    within = learner.VISIBILITY_TIMEOUT + 5 + TASKS * seconds(0.5)
    done, _ = wait_for_all(store, within)
    unacked = store.hlen("unacked")
    assert done == TASKS, (
        f"After the worker was killed mid-batch and a new one started, {done} of {TASKS}"
        f" tasks completed within {within:.0f} s, and {unacked} messages were still"
        " unacknowledged in Redis: the task that was running, and those the dead worker had"
        " prefetched, must come back to the queue and run." + duplicates(store, cut_short)
    )
