"""The three workers, in a thread and as a process: ready means a task comes back."""

from __future__ import annotations

import contextlib
import time

import pytest
from kernels import wait_until_gone

import workbook as wb
from app_snippets.ch00_setup import quickstart_celery, quickstart_dramatiq, quickstart_rq
from workbook._roundtrip import round_trip
from workbook._waiting import WaitTimeout


def celery_round_trip() -> int:
    return round_trip(quickstart_celery.add, 2, 3).result


def rq_round_trip() -> int:
    return round_trip(quickstart_rq.add, 2, 3, queue=quickstart_rq.queue()).result


def dramatiq_round_trip() -> int:
    return round_trip(quickstart_dramatiq.add, 2, 3).result


WORKERS = {
    "celery": (
        lambda process: wb.celery_worker(
            "app_snippets.ch00_setup.quickstart_celery:celery_app"
            if process
            else quickstart_celery.celery_app,
            process=process,
        ),
        celery_round_trip,
    ),
    "rq": (lambda process: wb.rq_worker(serializer="json", process=process), rq_round_trip),
    "dramatiq": (
        lambda process: wb.dramatiq_worker(
            "app_snippets.ch00_setup.quickstart_dramatiq", process=process
        ),
        dramatiq_round_trip,
    ),
}


@pytest.mark.parametrize("process", [False, True], ids=["thread", "process"])
@pytest.mark.parametrize("library", list(WORKERS))
def test_worker_runs_a_task_through_redis(redis_server, library, process):
    start, round_trip = WORKERS[library]
    worker = start(process)
    assert round_trip() == 5
    assert worker.logs(), "the worker's log lines are kept"
    if process:
        assert worker.alive()
        worker.kill()
        assert not worker.alive()
    worker.stop()


@pytest.mark.parametrize("library", list(WORKERS))
def test_starting_again_replaces_the_worker(redis_server, library):
    start, round_trip = WORKERS[library]
    first = start(True)
    second = start(True)
    assert not first.alive(), "the first worker should have been stopped"
    assert second.alive() and round_trip() == 5
    second.stop()


@pytest.mark.parametrize(
    ("start", "name"),
    [
        (lambda: wb.celery_worker("app_snippets.nope:app", process=True), "celery"),
        (lambda: wb.dramatiq_worker("app_snippets.nope", process=True), "dramatiq"),
    ],
)
def test_a_worker_whose_app_does_not_import_fails_fast(redis_server, start, name):
    started = time.monotonic()
    with pytest.raises(wb.WorkbookError) as error:
        start()
    assert time.monotonic() - started < 15
    assert "could not import" in str(error.value) and "app_snippets.nope" in str(error.value)


def test_rq_process_worker_with_a_job_that_does_not_import_fails_the_job(redis_server):
    worker = wb.rq_worker(serializer="json", process=True)
    job = quickstart_rq.queue().enqueue("app_snippets.nope.add", 1, 2)
    wb.wait_for(lambda: job.get_status(refresh=True) == "failed", 1, limit=10)
    # RQ's words for "cannot import that module" (FACTS.md): the notebooks explain them.
    assert "Invalid attribute name" in job.latest_result().exc_string
    worker.stop()


def test_a_killed_rq_process_worker_restarts_under_a_new_name_and_works(redis_server):
    """SIGKILL leaves the worker's record in Redis; a restart under the same name would die
    at once ("There exists an active worker named ..."), and its ready check could be fooled."""
    worker = wb.rq_worker(serializer="json", process=True)
    before = worker.argv[worker.argv.index("--name") + 1]
    worker.kill()
    assert redis_server.client().exists(f"rq:worker:{before}")  # the record outlives it
    worker.restart()
    try:
        assert worker.argv[worker.argv.index("--name") + 1] != before
        job = quickstart_rq.queue().enqueue("app_snippets.ch00_setup.quickstart_rq.add", 2, 3)
        deadline = time.monotonic() + 15
        while job.get_status(refresh=True) != "finished":
            assert worker.alive() and time.monotonic() < deadline, worker.logs()
            time.sleep(0.02)
        assert job.return_value() == 5
    finally:
        worker.stop()


def test_rq_thread_worker_with_scheduler_runs_delayed_jobs(redis_server):
    from datetime import timedelta

    worker = wb.rq_worker(serializer="json", with_scheduler=True)
    job = quickstart_rq.queue().enqueue_in(timedelta(seconds=1), quickstart_rq.add, 1, 1)
    deadline = time.monotonic() + 10
    while job.get_status(refresh=True) != "finished":
        assert time.monotonic() < deadline, f"delayed job stuck in {job.get_status()}"
        time.sleep(0.05)
    assert job.return_value() == 2
    worker.stop()
    assert not worker.thread.is_alive()


def test_process_worker_from_an_object_finds_its_import_path(redis_server):
    worker = wb.celery_worker(quickstart_celery.celery_app, process=True)
    assert "app_snippets.ch00_setup.quickstart_celery:celery_app" in worker.argv
    assert celery_round_trip() == 5
    worker.stop()


def test_stop_all_stops_every_worker_and_server(redis_server):
    workers = [WORKERS[name][0](True) for name in WORKERS]
    api = wb.serve("app_snippets.ch00_setup.slow_report:app", process=True)
    wb.stop_all()
    assert not any(w.alive() for w in workers) and not api.alive()
    assert not redis_server.alive()


def test_rq_work_horse_is_killed_with_its_worker(redis_server):
    from workbook._proctree import descendants

    worker = wb.rq_worker(serializer="json", process=True)
    job = quickstart_rq.queue().enqueue("time.sleep", 60)
    wb.wait_for(lambda: job.get_status(refresh=True) == "started", 1, limit=10)
    below = descendants(worker.pid)
    assert below, "the work horse should run below the worker"
    worker.kill()
    assert not wait_until_gone(below, 10), "the work horse outlived its worker"
    worker.stop()


def test_replaced_dramatiq_thread_worker_leaves_no_consumer_behind(redis_server):
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=redis_server.url)
    done: list[int] = []
    first = wb.dramatiq_worker(broker)
    wb.dramatiq_worker(broker)  # replaces the first
    assert not first.worker.consumers or all(
        not c.is_alive() for c in first.worker.consumers.values()
    )

    @dramatiq.actor(broker=broker, queue_name=f"late-{time.monotonic_ns()}")
    def record(n: int) -> None:
        done.append(n)

    for n in range(10):
        record.send(n)
    broker.join(record.queue_name, timeout=10_000)
    assert sorted(done) == list(range(10)), "a stopped worker's consumer took messages"
    wb.stop_all()


def test_dramatiq_thread_worker_enforces_time_limits(redis_server):
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.middleware.time_limit import TimeLimitExceeded

    broker = RedisBroker(url=redis_server.url)
    outcome: list[str] = []

    @dramatiq.actor(broker=broker, time_limit=300, max_retries=0, queue_name="limited")
    def slow() -> None:
        try:
            for _ in range(100):
                time.sleep(0.05)
            outcome.append("finished")
        except TimeLimitExceeded:
            outcome.append("stopped")
            raise

    wb.dramatiq_worker(broker)
    slow.send()
    with contextlib.suppress(WaitTimeout):
        wb.wait_for(lambda: outcome, 1, limit=10)
    assert outcome == ["stopped"], "time_limit was not enforced in the thread worker"
    wb.stop_all()
