"""Checks for exercise 10, through real RQ workers (JSON) and the app on a real server.

What "correct" means, property by property: after an SMTP outage, POST /admin/requeue-emails
requeues exactly the jobs that can now succeed, and says how many.
1. The emails whose last failure was a ConnectionError are requeued (the same jobs, out of
   the failed registry) and now finish.
2. Imports of broken files (another function, a ValueError) are not run again.
3. An email whose LAST failure was a ValueError (an invalid address) is not run again, even
   though an earlier failure of the same job was a ConnectionError, and even when its
   message mentions "ConnectionError" (the address "ConnectionError.example.com"): the
   kind of failure is the exception's class, not a word somewhere in the traceback.
4. The answer counts what was requeued; a second call, with only hopeless jobs left,
   requeues nothing and says {"requeued": 0}.
The jobs run in a real RQ worker in burst mode (RQ's SimpleWorker, until the queue is
empty): when it returns nothing is in flight, so every count read after it holds still.
"""

from __future__ import annotations

import pytest
from rq.job import Job
from rq_fixtures import RQApp, rq_app

GOOD = ("ada@example.com", "grace@example.com", "alan@example.com")
INVALID = ("not-an-address", "ConnectionError.example.com")


@pytest.fixture
def api(learner, redis_server, serve):
    yield from rq_app(redis_server, serve, learner, "ex10")


def status(job: Job) -> str:
    return job.get_status(refresh=True).value


def after_an_outage(api: RQApp, redis_server) -> dict[str, list[Job]]:
    """Run seven jobs during an SMTP outage (all fail); end the outage; then make the
    invalid emails fail again, for their own reason (a ValueError) this time."""
    client = redis_server.client()
    client.set("ex10:smtp-down", 1)
    learner = api.learner
    queue = learner.queue()
    jobs = {
        "good emails": [queue.enqueue(learner.send_email, to) for to in GOOD],
        "invalid emails": [queue.enqueue(learner.send_email, to) for to in INVALID],
        "bad imports": [queue.enqueue(learner.import_file, n) for n in ("june.csv", "july.csv")],
    }
    api.run_burst()
    everything = [job for group in jobs.values() for job in group]
    assert all(status(job) == "failed" for job in everything), "7 jobs should have failed."
    client.delete("ex10:smtp-down")
    for job in jobs["invalid emails"]:
        queue.failed_job_registry.requeue(job.id)
    api.run_burst()
    assert all(status(job) == "failed" for job in jobs["invalid emails"])
    return jobs


def runs(redis_server, job: Job) -> int:
    return int(redis_server.client().hget("ex10:runs", job.id) or 0)


def requeue(api: RQApp) -> dict:
    answer = api.post("/admin/requeue-emails")
    api.run_burst()  # whatever was requeued runs now
    return answer


def test_only_the_emails_that_could_not_connect_are_requeued(api: RQApp, redis_server):
    jobs = after_an_outage(api, redis_server)
    answer = requeue(api)
    for job in jobs["bad imports"]:
        assert runs(redis_server, job) == 1, (
            f"An import of a broken file ({job.args[0]}) was requeued and ran again: only"
            " send_email jobs may be requeued; a broken file fails every time."
        )
    for job in jobs["invalid emails"]:
        assert runs(redis_server, job) == 2, (
            f"The email to the invalid address {job.args[0]!r} was requeued again. Its last"
            " failure was a ValueError: whatever an earlier failure was, and whatever words"
            " its message holds, it can only fail again. Look at the exception's class in"
            " the last failure only."
        )
    for job in jobs["good emails"]:
        assert status(job) == "finished", (
            f"The email to {job.args[0]} failed during the outage and is still"
            f" {status(job)!r}: this very job should have been requeued (it leaves the"
            f" failed registry), and then succeed.\n{api.logs()}"
        )
    assert answer == {"requeued": len(GOOD)}, (
        f"POST /admin/requeue-emails answered {answer}: it should say how many jobs it"
        f' requeued, {{"requeued": {len(GOOD)}}} here.'
    )
    left = set(api.learner.queue().failed_job_registry.get_job_ids())
    for job in jobs["bad imports"] + jobs["invalid emails"]:
        assert job.id in left, f"A failed job left the failed registry: {job.args}."


def test_a_second_call_requeues_nothing(api: RQApp, redis_server):
    after_an_outage(api, redis_server)
    requeue(api)
    again = requeue(api)
    assert again == {"requeued": 0}, (
        f"Called a second time, with only the invalid emails and the broken imports left in"
        f" the failed registry, POST /admin/requeue-emails answered {again}, not"
        ' {"requeued": 0}.'
    )
