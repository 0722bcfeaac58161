"""Checks for exercise 09: through a real RQ worker (JSON) and the app on a real server, a
report's three steps run in order, each reading the one before; when the first step
fails, the others never run, and GET /reports/{report_id} says "failed" at once."""

from __future__ import annotations

import time

import ex09_rq_pipeline as learner
import pytest

import workbook as wb

PATIENCE = 6.0


@pytest.fixture(scope="module")
def worker(redis_server):
    """One real RQ worker for the whole module: a thread of the test process, JSON."""
    handle = wb.rq_worker([learner.QUEUE], serializer="json")
    yield handle
    handle.stop()


@pytest.fixture
def api(redis_server, serve, worker):
    client = redis_server.client()
    for key in client.scan_iter("ex09:*"):
        client.delete(key)
    served = serve(learner.app)
    served.worker = worker
    yield served


def logs(api) -> str:
    return f"{api.log()}\nWorker log (most recent last):\n{api.worker.logs(30)}"


def follow(api, day: str) -> tuple[list[str], dict]:
    """Start a report and poll it until it is final: (statuses seen, last record)."""
    report_id = api.request("POST", "/reports", "POST /reports", json={"day": day}).json()[
        "report_id"
    ]
    seen: list[str] = []
    record: dict = {}
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        record = api.request("GET", f"/reports/{report_id}", "GET /reports/{report_id}").json()
        status = str(record.get("status"))
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in ("finished", "failed"):
            break
        time.sleep(0.02)
    record["report_id"] = report_id
    return seen, record


def test_a_good_day_runs_the_three_steps_in_order(api):
    seen, record = follow(api, "2024-06-01")
    assert seen[-1] in ("finished", "failed"), (
        f"The report still reads {seen[-1]!r} after {PATIENCE:.0f} s: {record}\n{logs(api)}"
    )
    assert seen[-1] == "finished", (
        f"A good day's report ended as {record}. A step that reads the previous result needs"
        f" that step as its dependency.\n{logs(api)}"
    )
    assert record.get("result") == "published: 62.49 EUR", (
        f"The finished report is {record}: its 'result' should be the last step's return value."
    )


def test_a_failed_first_step_stops_the_rest_and_fails_the_report(api, redis_server):
    seen, record = follow(api, "closed-2024-12-25")
    published = int(redis_server.client().get("ex09:published") or 0)
    assert published == 0, (
        "The first step failed, yet publish_total ran: a step must run only after the one"
        " before it has finished successfully."
    )
    assert seen[-1] == "failed", (
        f"The first step failed, and {PATIENCE:.0f} s later the report still reads"
        f" {seen[-1]!r}: {record}. The steps after a failed one never run (they stay"
        f" deferred), so the report must say failed as soon as one step has.\n{logs(api)}"
    )
    assert record.get("failed_step") == "fetch_orders", (
        f"The failed report is {record}: its 'failed_step' should name the step that failed."
    )
    steps = record.get("steps", {})
    assert steps.get("publish_total") == "deferred", (
        f"After the first step failed, the last step reads {steps.get('publish_total')!r},"
        " not 'deferred': it was not waiting for the steps before it."
    )


def test_an_unknown_report_is_a_404(api):
    response = api.client.get("/reports/no-such-report")
    assert response.status_code == 404, (
        f"GET /reports/no-such-report answered {response.status_code}: it should be a 404."
    )
