"""Checks for exercise 21: with no worker, the app on a real server accepts LIMIT reports
(202), then refuses with 503 and a Retry-After header without queuing more; once a real RQ
worker drains the queue, it accepts again."""

from __future__ import annotations

import time

import pytest

import workbook as wb

EXTRA = 5  # requests sent over the limit


@pytest.fixture
def api(learner, redis_server, serve):
    redis_server.client().flushdb()
    return serve(learner.app)


def post(api) -> tuple[int, dict]:
    response = api.client.post("/reports")
    if response.status_code >= 500 and response.status_code != 503:
        deadline = time.monotonic() + 2  # the traceback is logged just after the answer
        while not api.raised() and time.monotonic() < deadline:
            time.sleep(0.01)
        pytest.fail(f"POST /reports answered {response.status_code}.\n{api.log()}")
    return response.status_code, dict(response.headers)


def fill(api, learner) -> list[int]:
    return [post(api)[0] for _ in range(learner.LIMIT)]


def test_a_full_queue_refuses_with_503_and_retry_after(api, learner):
    statuses = fill(api, learner)
    accepted = statuses.count(202)
    assert accepted == learner.LIMIT, (
        f"With an empty queue and no worker, {accepted} of the first {learner.LIMIT} reports"
        f" were accepted (statuses {sorted(set(statuses))}): every request below the limit"
        f" must be queued and answered 202.\n{api.log()}"
    )
    over = [post(api) for _ in range(EXTRA)]
    codes = [status for status, _ in over]
    assert 202 not in codes, (
        f"With {learner.LIMIT} reports waiting, {codes.count(202)} more were accepted: the"
        f" limit is {learner.LIMIT} jobs waiting, so report {learner.LIMIT + 1} must be refused."
    )
    assert set(codes) == {503}, (
        f"Over the limit the API answered {sorted(set(codes))}: a full queue is the server's"
        " temporary condition, 503 Service Unavailable (429 is for one client sending too much)."
    )
    for _, headers in over:
        retry_after = headers.get("retry-after", "")
        assert retry_after.isdigit() and int(retry_after) > 0, (
            f"A 503 came with Retry-After {retry_after!r}: give the client a number of seconds"
            " to wait, or every client retries at once."
        )
    waiting = learner.queue().count
    assert waiting == learner.LIMIT, (
        f"{waiting} jobs are waiting after {learner.LIMIT} accepted and {EXTRA} refused"
        " requests: a refused request was still enqueued. Check the backlog before you queue."
    )


def test_it_accepts_again_once_the_queue_drains(api, learner, redis_server):
    fill(api, learner)
    assert post(api)[0] == 503, f"A full queue should answer 503.\n{api.log()}"
    worker = wb.rq_worker([learner.QUEUE], serializer="json")
    try:
        deadline = time.monotonic() + 30
        while learner.queue().count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert learner.queue().count == 0, f"The worker did not drain the queue.\n{worker.logs(20)}"
        statuses = [post(api)[0] for _ in range(3)]
    finally:
        worker.stop()
    assert statuses == [202, 202, 202], (
        f"After the worker drained the queue, new reports got {statuses}: the limit is about"
        " jobs waiting now, not about every report ever requested."
    )
