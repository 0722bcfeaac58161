"""Checks for exercise 08, through real RQ workers (JSON) and the app on a real server.

What "correct" means, property by property (each test names the one it checks):
1. The job is stored as JSON: the job's data in Redis decodes as JSON (what `rq worker -S
   json` reads), and the worker runs it.
2. GET /jobs/{job_id} reports every state as it happens: the job's own status, as RQ has it,
   at points the test holds still: queued (no worker yet), started (the provider hangs
   while the test holds it), scheduled for a retry (no scheduler yet), then finished with
   its result.
3. A failure is retried: a short outage (2 failed calls) ends as finished after 3 attempts.
4. Retries are bounded: a job that can never succeed runs 4 times (3 retries) and ends as
   failed, its "error" the one last line of its traceback.
5. An id that RQ does not know is a 404.
Every wait polls to a generous deadline; no verdict depends on how fast the machine is.
"""

from __future__ import annotations

import inspect
import json
import zlib

import pytest
from rq_fixtures import RQApp, rq_app

FINAL = ("finished", "failed")


@pytest.fixture
def api(learner, redis_server, serve):
    yield from rq_app(redis_server, serve, learner, "ex08")


def refresh(api: RQApp, currency: str) -> str:
    return api.post(f"/rates/{currency}")["job_id"]


def report(api: RQApp, job_id: str) -> dict:
    return api.get(f"/jobs/{job_id}", "GET /jobs/{job_id}")


def attempts(redis_server, currency: str) -> int:
    return int(redis_server.client().get(f"ex08:attempts:{currency}") or 0)


def reported_as_it_is(api: RQApp, job_id: str, moment: str) -> dict:
    """GET the job while RQ's own status holds still; the answer must be that status."""
    before = api.status(job_id)
    record = report(api, job_id)
    after = api.status(job_id)
    if before == after:
        assert record.get("status") == before, (
            f"{moment}, RQ has the job as {before!r}, and GET /jobs/{{job_id}} answered"
            f" {record}: report the job's own status, whichever it is, not a few of them."
        )
    return record


def settle(api: RQApp, job_id: str, currency: str, redis_server) -> dict:
    """Wait until RQ has the job finished or failed (or it ran more than 4 times)."""
    api.wait_until(
        lambda: api.status(job_id) in FINAL or attempts(redis_server, currency) > 4,
        f"the {currency} job finished or failed (RQ reads {api.status(job_id)!r})",
    )
    return report(api, job_id)


def test_the_job_is_stored_as_json(api: RQApp, redis_server):
    job_id = refresh(api, "USD")
    reported_as_it_is(api, job_id, "Before any worker ran")
    raw = api.queue().connection.hget(f"rq:job:{job_id}", "data")
    try:
        json.loads(zlib.decompress(raw))
    except (ValueError, TypeError, zlib.error):
        raise AssertionError(
            "The job's data in Redis is not JSON: the worker (rq worker -S json) cannot read"
            " it. Store the jobs with the serializer the worker uses."
        ) from None
    api.start_worker()
    record = settle(api, job_id, "USD", redis_server)
    assert record.get("status") == "finished", (
        f"A job that should succeed ended as {record}.\n{api.logs()}"
    )
    assert record.get("result") == api.learner.RATES["USD"], (
        f"The finished job's record is {record}: it should carry the job's return value in"
        " its 'result' field."
    )


def test_every_state_is_reported_as_it_happens(api: RQApp, redis_server):
    assert "ex08:slow" in inspect.getsource(api.learner.fetch_rate), (
        "Your fetch_rate is older than these checks: it cannot be held while it runs. Add"
        ' these lines to it, after the `outage = ...` line: `while client.exists("ex08:slow"):'
        " time.sleep(0.02)` (and `import time` at the top)."
    )
    client = redis_server.client()
    client.set("ex08:outage", 1)  # the first call fails, the second succeeds
    client.set("ex08:slow", 1)  # and every call hangs until the test deletes this key
    job_id = refresh(api, "EUR")
    reported_as_it_is(api, job_id, "Before any worker ran")
    api.start_worker()  # no scheduler yet: a retry scheduled for later stays scheduled
    api.wait_until(lambda: api.status(job_id) == "started", "the worker started the job")
    reported_as_it_is(api, job_id, "While the job runs")
    client.delete("ex08:slow")
    api.wait_until(
        lambda: attempts(redis_server, "EUR") >= 1 and api.status(job_id) != "started",
        "the first attempt ended",
    )
    assert api.status(job_id) != "failed", (
        "The provider failed once, and the job ended as failed: a failed job is not tried"
        f" again.\n{api.logs()}"
    )
    if api.status(job_id) == "scheduled":
        reported_as_it_is(api, job_id, "Between the failed attempt and its retry")
    api.start_worker(with_scheduler=True)
    record = settle(api, job_id, "EUR", redis_server)
    reported_as_it_is(api, job_id, "Once the retry succeeded")
    assert record.get("result") == api.learner.RATES["EUR"], (
        f"The finished job's record is {record}: it should carry the job's return value in"
        " its 'result' field."
    )


def test_a_short_outage_is_retried(api: RQApp, redis_server):
    redis_server.client().set("ex08:outage", 2)
    api.start_worker(with_scheduler=True)
    job_id = refresh(api, "JPY")
    record = settle(api, job_id, "JPY", redis_server)
    tries = attempts(redis_server, "JPY")
    assert record.get("status") == "finished", (
        f"The provider failed twice, then answered; the job ended as {record} after {tries}"
        f" attempt(s): a failed job is not tried again, or not often enough.\n{api.logs()}"
    )
    assert tries == 3, f"The job needed 3 attempts and ran {tries} times."


def test_a_job_that_cannot_succeed_stops_after_four_attempts(api: RQApp, redis_server):
    api.start_worker(with_scheduler=True)
    job_id = refresh(api, "XYZ")
    record = settle(api, job_id, "XYZ", redis_server)
    tries = attempts(redis_server, "XYZ")
    assert tries <= 4, (
        f"A job that can never succeed ran {tries} time(s) and counting: it should get 3"
        " retries, 4 attempts in all."
    )
    assert record.get("status") == "failed" and tries == 4, (
        f"A job for an unknown currency fails every time; it ran {tries} time(s) and reads"
        f" {record}: it should get 3 retries, 4 attempts in all, then fail.\n{api.logs()}"
    )
    error = str(record.get("error", ""))
    lines = error.strip().splitlines()
    # A whole traceback is summed up, not quoted: the verdict is a sentence, not a stack.
    shown = repr(error[:300]) if len(lines) <= 1 else f"{len(lines)} lines ending {lines[-1]!r}"
    assert "unknown currency" in error and len(lines) == 1, (
        f"The failed job's 'error' is {shown}: it should be the one last line of the"
        " traceback (the exception and its message), not the whole traceback, which shows"
        " the server's code and paths to the client."
    )


def test_an_unknown_job_id_is_a_404(api: RQApp):
    response = api.served.client.get("/jobs/no-such-job")
    assert response.status_code == 404, (
        f"GET /jobs/no-such-job answered {response.status_code} {response.text[:200]}: an id"
        f" that RQ does not know should be a 404.\n{api.served.log()}"
    )
