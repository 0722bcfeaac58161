"""Checks for exercise 10: after an outage, POST /admin/requeue-emails requeues the emails
that failed with a ConnectionError, and leaves the other failed jobs alone, as seen by a
real RQ worker (JSON) and the app on a real server."""

from __future__ import annotations

import time

import ex10_rq_requeue as learner
import pytest
from rq.job import Job

import workbook as wb

PATIENCE = 10.0


@pytest.fixture(scope="module")
def worker(redis_server):
    """One real RQ worker for the whole module: a thread of the test process, JSON."""
    handle = wb.rq_worker([learner.QUEUE], serializer="json")
    yield handle
    handle.stop()


@pytest.fixture
def api(redis_server, serve, worker):
    client = redis_server.client()
    for key in client.scan_iter("ex10:*"):
        client.delete(key)
    served = serve(learner.app)
    served.worker = worker
    yield served
    learner.queue().empty()
    registry = learner.queue().failed_job_registry
    for job_id in registry.get_job_ids():
        registry.remove(job_id, delete_job=True)


def logs(api) -> str:
    return f"{api.log()}\nWorker log (most recent last):\n{api.worker.logs(30)}"


def wait_until(condition, what: str, api) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, f"Timed out waiting until {what}.\n{logs(api)}"
        time.sleep(0.02)


def status(job: Job) -> str:
    return job.get_status(refresh=True).value


def after_an_outage(api, redis_server) -> dict[str, list[Job]]:
    """Run six jobs during an SMTP outage, until all six have failed; then end the outage."""
    client = redis_server.client()
    client.set("ex10:smtp-down", 1)
    queue = learner.queue()
    jobs = {
        "good emails": [
            queue.enqueue(learner.send_email, to)
            for to in ("ada@example.com", "grace@example.com", "alan@example.com")
        ],
        "invalid email": [queue.enqueue(learner.send_email, "not-an-address")],
        "bad imports": [
            queue.enqueue(learner.import_file, name) for name in ("june.csv", "july.csv")
        ],
    }
    everything = [job for group in jobs.values() for job in group]
    wait_until(lambda: all(status(job) == "failed" for job in everything), "6 jobs failed", api)
    client.delete("ex10:smtp-down")
    # the invalid address failed for the outage too: make it fail for its own reason now
    invalid = jobs["invalid email"][0]
    learner.queue().failed_job_registry.requeue(invalid.id)
    wait_until(lambda: status(invalid) == "failed", "the invalid email failed again", api)
    return jobs


def runs(redis_server, job: Job) -> int:
    return int(redis_server.client().hget("ex10:runs", job.id) or 0)


def test_only_the_emails_that_could_not_connect_are_requeued(api, redis_server):
    jobs = after_an_outage(api, redis_server)
    answer = api.request("POST", "/admin/requeue-emails", "POST /admin/requeue-emails").json()
    time.sleep(0.3)  # let the worker run whatever was requeued
    everything = [job for group in jobs.values() for job in group]
    wait_until(
        lambda: all(status(job) in ("finished", "failed") for job in everything),
        "every requeued job ran",
        api,
    )
    for job in jobs["bad imports"]:
        assert runs(redis_server, job) == 1, (
            f"An import of a broken file ({job.args[0]}) was requeued and ran again: only"
            " send_email jobs may be requeued; a broken file fails every time."
        )
    invalid = jobs["invalid email"][0]
    assert runs(redis_server, invalid) == 2, (
        "The email to an invalid address was requeued again: its last error was a"
        " ValueError, not a ConnectionError, so it can only fail again."
    )
    for job in jobs["good emails"]:
        assert status(job) == "finished", (
            f"The email to {job.args[0]} failed during the outage and is still"
            f" {status(job)!r}: it should have been requeued, and then succeed.\n{logs(api)}"
        )
    assert answer == {"requeued": 3}, (
        f"POST /admin/requeue-emails answered {answer}: it should say how many jobs it"
        ' requeued, {"requeued": 3} here.'
    )
    for job in jobs["bad imports"] + [invalid]:
        assert status(job) == "failed", f"A failed job left the failed registry: {job.args}."


def test_a_second_call_requeues_nothing(api, redis_server):
    after_an_outage(api, redis_server)
    api.request("POST", "/admin/requeue-emails", "POST /admin/requeue-emails")
    wait_until(lambda: learner.queue().count == 0, "the requeued emails ran", api)
    time.sleep(0.2)
    again = api.request("POST", "/admin/requeue-emails", "POST /admin/requeue-emails").json()
    assert again == {"requeued": 0}, (
        f"Called a second time, with only the invalid email and the broken imports left in"
        f" the failed registry, POST /admin/requeue-emails answered {again}, not"
        ' {"requeued": 0}.'
    )
