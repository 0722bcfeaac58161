"""Checks for exercise 08: through a real RQ worker (JSON, with a scheduler) and the app on
a real server, a rate job finishes with its result, a short outage is retried, a job that
can never succeed stops after 4 attempts, and GET /jobs/{job_id} tells each case apart."""

from __future__ import annotations

import time

import ex08_rq_status as learner
import pytest

import workbook as wb

FINAL = ("finished", "failed")
PATIENCE = 20.0  # seconds: three retries with intervals of a few seconds fit


@pytest.fixture(scope="module")
def worker(redis_server):
    """One real RQ worker for the whole module: a thread of the test process, JSON."""
    handle = wb.rq_worker([learner.QUEUE], serializer="json", with_scheduler=True)
    yield handle
    handle.stop()


@pytest.fixture
def api(redis_server, serve, worker):
    client = redis_server.client()
    for key in client.scan_iter("ex08:*"):
        client.delete(key)
    served = serve(learner.app)
    served.worker = worker
    yield served


def logs(api) -> str:
    return f"{api.log()}\nWorker log (most recent last):\n{api.worker.logs(30)}"


def follow(api, currency: str) -> tuple[list[str], dict]:
    """POST a refresh and poll its job until it settles: (statuses seen, last record)."""
    job_id = api.request("POST", f"/rates/{currency}", f"POST /rates/{currency}").json()["job_id"]
    seen: list[str] = []
    record: dict = {}
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        record = api.request("GET", f"/jobs/{job_id}", "GET /jobs/{job_id}").json()
        status = str(record.get("status"))
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in FINAL:
            break
        time.sleep(0.02)
    return seen, record


def attempts(redis_server, currency: str) -> int:
    return int(redis_server.client().get(f"ex08:attempts:{currency}") or 0)


def check_serializer(api, record: dict) -> None:
    assert "DeserializationError" not in str(record.get("error", "")) + api.worker.logs(30), (
        "The worker could not read the job (DeserializationError): it uses JSON, and your"
        f" queue stores jobs with another serializer.\n{logs(api)}"
    )


def test_a_rate_job_finishes_with_its_result(api):
    seen, record = follow(api, "USD")
    check_serializer(api, record)
    assert seen[-1] in FINAL, (
        f"The job still reads {seen[-1]!r} after {PATIENCE:.0f} s.\n{logs(api)}"
    )
    assert seen[-1] == "finished", f"A job that should succeed ended as {record}.\n{logs(api)}"
    assert record.get("result") == learner.RATES["USD"], (
        f"The finished job's record is {record}: it should carry the job's return value in"
        " its 'result' field."
    )


def test_a_short_outage_is_retried(api, redis_server):
    redis_server.client().set("ex08:outage", 2)
    seen, record = follow(api, "EUR")
    check_serializer(api, record)
    tries = attempts(redis_server, "EUR")
    assert seen[-1] == "finished", (
        f"The provider failed twice, then answered; the job ended as {record} after {tries}"
        f" attempt(s): a failed job is not tried again.\n{logs(api)}"
    )
    assert tries == 3, f"The job needed 3 attempts and ran {tries} times."


def test_a_job_that_cannot_succeed_stops_after_four_attempts(api, redis_server):
    seen, record = follow(api, "XYZ")
    check_serializer(api, record)
    tries = attempts(redis_server, "XYZ")
    assert seen[-1] == "failed", (
        f"A job for an unknown currency fails every time; after {PATIENCE:.0f} s it reads"
        f" {record} and ran {tries} times: its retries are not bounded, or too slow.\n{logs(api)}"
    )
    assert tries == 4, (
        f"A job that can never succeed ran {tries} time(s): it should get 3 retries,"
        " 4 attempts in all."
    )
    assert "unknown currency" in str(record.get("error", "")), (
        f"The failed job's record is {record}: its 'error' field should carry the last line of"
        " the traceback (the exception and its message)."
    )


def test_an_unknown_job_id_is_a_404(api):
    response = api.client.get("/jobs/no-such-job")
    assert response.status_code == 404, (
        f"GET /jobs/no-such-job answered {response.status_code} {response.text[:200]}: an id"
        f" that RQ does not know should be a 404.\n{api.log()}"
    )
