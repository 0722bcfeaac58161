"""Checks for exercise 09, through a real RQ worker (JSON) and the app on a real server.

What "correct" means, property by property:
1. The report is "running" while its steps wait: looked at before any worker runs, when
   the first step is queued and the others wait for it (not "finished", not "failed").
2. The structure: total_orders depends on fetch_orders and publish_total on total_orders
   (each job's dependency, as RQ stores it), so each waits, deferred, for the one before.
3. A good day: once RQ has the last step finished, the report is "finished" with the last
   step's return value.
4. A failed first step: once RQ has it failed and the worker has nothing left to do, the
   report is "failed" and names that step; publish_total never ran and stays deferred.
5. An unknown report id is a 404.
The test looks at the waiting pipeline first, then runs a real RQ worker in burst mode (RQ's
SimpleWorker, JSON, until the queue is empty) and reads the report once it has returned:
nothing is in flight then, so no verdict depends on how fast the worker is. (The old check
polled a worker thread for 6 s: a busy machine, or a report read between a step's end and
its dependents' enqueue, could flip the verdict.)
"""

from __future__ import annotations

import pytest
from rq_fixtures import RQApp, rq_app


@pytest.fixture
def api(learner, redis_server, serve):
    yield from rq_app(redis_server, serve, learner, "ex09")


def start_report(api: RQApp, day: str) -> tuple[str, list[str]]:
    """POST a report with no worker running: (report id, its step ids in order)."""
    report_id = api.post("/reports", json={"day": day})["report_id"]
    client = api.queue().connection
    step_ids = [i.decode() for i in client.lrange(f"ex09:report:{report_id}", 0, -1)]
    return report_id, step_ids


def report(api: RQApp, report_id: str) -> dict:
    return api.get(f"/reports/{report_id}", "GET /reports/{report_id}")


def check_waiting(api: RQApp, report_id: str, step_ids: list[str]) -> None:
    record = report(api, report_id)
    assert record.get("status") == "running", (
        f"Before any worker ran, with every step still waiting, the report read {record}: it"
        " should be running. A step that is waiting (queued or deferred) has neither"
        " finished nor failed."
    )
    names = dict(zip(step_ids, api.learner.STEPS, strict=True))
    for step_id, before in zip(step_ids[1:], step_ids, strict=False):
        dependencies = api.job(step_id).dependency_ids
        assert dependencies == [before], (
            f"{names[step_id]} depends on"
            f" {[names.get(i, i) for i in dependencies] or 'nothing'}: each step must wait for"
            f" the step just before it ({names[before]}), whose result it reads."
        )


def test_a_good_day_runs_the_three_steps_in_order(api: RQApp):
    report_id, step_ids = start_report(api, "2024-06-01")
    check_waiting(api, report_id, step_ids)
    api.run_burst()  # until the queue is empty: every step that could run has run
    record = report(api, report_id)
    assert record.get("status") == "finished", (
        f"Every step that could run has run, RQ has the last step"
        f" {api.status(step_ids[-1])!r}, and the good day's report reads {record}.\n{api.logs()}"
    )
    assert record.get("result") == "published: 62.49 EUR", (
        f"The finished report is {record}: its 'result' should be the last step's return value."
    )


def test_a_failed_first_step_stops_the_rest_and_fails_the_report(api: RQApp, redis_server):
    report_id, step_ids = start_report(api, "closed-2024-12-25")
    check_waiting(api, report_id, step_ids)
    api.run_burst()
    assert api.status(step_ids[0]) == "failed", "fetch_orders should have failed on a closed day."
    published = int(redis_server.client().get("ex09:published") or 0)
    assert published == 0, (
        "The first step failed, yet publish_total ran: a step must run only after the one"
        " before it has finished successfully."
    )
    record = report(api, report_id)
    assert record.get("status") == "failed", (
        f"RQ has the first step failed, and the report reads {record}. The steps after a"
        " failed one never run (they stay deferred), so the report must say failed as soon"
        " as one step has."
    )
    assert record.get("failed_step") == "fetch_orders", (
        f"The failed report is {record}: its 'failed_step' should name the step that failed."
    )
    steps = record.get("steps", {})
    assert steps.get("publish_total") == "deferred", (
        f"After the first step failed, the last step reads {steps.get('publish_total')!r},"
        " not 'deferred': it was not waiting for the steps before it."
    )


def test_an_unknown_report_is_a_404(api: RQApp):
    response = api.served.client.get("/reports/no-such-report")
    assert response.status_code == 404, (
        f"GET /reports/no-such-report answered {response.status_code}: it should be a 404."
    )
