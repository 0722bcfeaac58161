"""Checks for exercise 03: the import job's status record goes pending -> running -> done,
or -> failed with the error's message, as seen through GET /imports/{job_id}."""

from __future__ import annotations

import time

import ex03_job_status as learner
import pytest

from app_snippets.settings import seconds

JOB = 3 * seconds(0.5)  # three steps
FINAL = ("done", "failed")


@pytest.fixture
def api(redis_server, serve):
    return serve(learner.app)


def follow(api, lines: list[str]) -> tuple[list[str], dict[str, str]]:
    """Start an import and poll its record until it is final: (statuses seen, last record)."""
    job_id = api.request("POST", "/imports", "POST /imports", json={"lines": lines}).json()[
        "job_id"
    ]
    seen: list[str] = []
    record: dict[str, str] = {}
    deadline = time.monotonic() + 2 * JOB + 3
    while time.monotonic() < deadline:
        record = api.request("GET", f"/imports/{job_id}", "GET /imports/{job_id}").json()
        status = record.get("status", "")
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in FINAL or api.raised():
            break
        time.sleep(0.01)
    return seen, record


def test_a_good_import_goes_from_pending_through_running_to_done(api):
    seen, record = follow(api, ["apple,3", "pear,5"])
    assert seen[-1] != "pending", (
        "The job's record still reads 'pending' long after the job started: the job never"
        f" updates its status record.\n{api.log()}"
    )
    assert "running" in seen, (
        f"The record went {' -> '.join(seen)}: it never read 'running' while the steps ran,"
        " so a client cannot tell a started job from a waiting one."
    )
    assert seen[-1] == "done", (
        f"A good import ended with the record {record}, not with status 'done'.\n{api.log()}"
    )


def test_a_failing_step_is_recorded_as_failed_with_its_error(api):
    seen, record = follow(api, ["apple,3", "pear,lots"])
    assert seen[-1] in FINAL, (
        f"An import whose parse step raised still reads {seen[-1]!r}: the failure is not"
        f" recorded, so the client waits forever.\n{api.log()}"
    )
    assert seen[-1] == "failed", (
        f"An import whose parse step raised ended with status {seen[-1]!r}, not 'failed'."
    )
    assert "'lots' is not a number" in record.get("error", ""), (
        f"The failed job's record is {record}: it should carry the exception's message in"
        " its 'error' field, so the client can tell what went wrong."
    )
