"""Checks for exercise 04: GET /tasks/{task_id} tells the truth about every task, with the
app on a real server and a real Celery worker (in a thread) on a real Redis.

"Correct" means:
1. an id the app never issued is 404 (Celery alone would read PENDING for it);
2. a task the app issued reads Celery's state as it is, in every state: PENDING while it
   waits in the queue (no worker runs), STARTED and RETRY as a worker records them (the
   check writes them to the result backend the way a worker does), SUCCESS, FAILURE;
3. when it succeeded, "result" is the task's return value as it is, whatever it is (0, a
   nested dict with a list and a None: not its text, not left out when it is falsy);
4. when it failed, "error" is the exception's message, exactly (not its repr, not the
   traceback), for a task that really failed on the worker.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

import workbook as wb


@pytest.fixture
def api(learner, serve):
    return serve(learner.app)


@pytest.fixture
def worker(learner):
    handle = wb.celery_worker(learner.celery_app)
    yield handle
    handle.stop()


def status_of(api, task_id: str) -> tuple[int, dict]:
    """GET /tasks/{task_id}: (status code, JSON body); a crash fails with the server log."""
    response = api.client.get(f"/tasks/{task_id}")
    if response.status_code >= 500:  # the traceback is logged just after the 500 is sent
        deadline = time.monotonic() + 2
        while not api.raised() and time.monotonic() < deadline:
            time.sleep(0.01)
    assert response.status_code < 500, (
        f"GET /tasks/{{task_id}} answered {response.status_code}: your endpoint raised an"
        f" error.\n{api.log()}"
    )
    return response.status_code, response.json()


def queue(api, to: str) -> str:
    body = {"to": to, "subject": "Hello"}
    return api.request("POST", "/emails", "POST /emails", json=body).json()["task_id"]


def final_status(api, task_id: str, worker) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        code, body = status_of(api, task_id)
        if body.get("state") in ("SUCCESS", "FAILURE"):
            return body
        time.sleep(0.02)
    raise AssertionError(
        f"The task never read SUCCESS or FAILURE in 10 s; the endpoint's last answer was"
        f" {code} {body}.\nWorker log:\n{worker.logs(15)}"
    )


def test_an_id_that_was_never_issued_is_404(api):
    made_up = str(uuid.uuid4())
    code, body = status_of(api, made_up)
    assert code == 404, (
        f"GET /tasks/<an id nobody issued> answered {code} {body}. An unknown id must be 404:"
        " Celery reads PENDING for any id, and a client would poll a mistyped id forever."
    )


def test_a_queued_task_reads_pending(api):
    task_id = queue(api, "ada@example.com")  # no worker runs: the task waits in the queue
    code, body = status_of(api, task_id)
    assert code == 200, (
        f"GET /tasks/{{task_id}} for a task the app just queued answered {code} {body}: an"
        " id the app issued is a real task, even before a worker takes it."
    )
    assert body.get("state") == "PENDING", (
        f"A task waiting in the queue read {body}: its 'state' should be Celery's state for a"
        " queued task."
    )


@pytest.mark.parametrize("state", ["STARTED", "RETRY"])
def test_a_task_in_progress_reads_its_state(api, learner, state):
    task_id = queue(api, "ada@example.com")  # no worker runs: the check plays the worker
    backend = learner.celery_app.backend
    if state == "STARTED":
        backend.mark_as_started(task_id, pid=os.getpid(), hostname="check@localhost")
    else:
        backend.mark_as_retry(task_id, ConnectionError("mail server busy"))
    code, body = status_of(api, task_id)
    doing = "has started" if state == "STARTED" else "is waiting to retry"
    assert code == 200 and body.get("state") == state, (
        f"A task a worker {doing} read {code} {body}: its 'state' should be Celery's state"
        f" ({state}) as it is. Report what Celery says, whatever the state."
    )


@pytest.mark.parametrize(
    "value", [0, {"sent": 2, "ids": [3, 1, 2], "note": None}], ids=["zero", "nested"]
)
def test_a_result_is_given_as_it_is(api, learner, value):
    task_id = queue(api, "ada@example.com")
    learner.celery_app.backend.mark_as_done(task_id, value)  # as a worker records a result
    code, body = status_of(api, task_id)
    assert body.get("state") == "SUCCESS" and "result" in body and body["result"] == value, (
        f"A task that returned {value!r} read {code} {body}: 'result' should be the task's"
        " return value as it is (the same JSON value), whatever it is."
    )


def test_a_finished_task_has_its_result(api, worker):
    task_id = queue(api, "ada@example.com")
    body = final_status(api, task_id, worker)
    assert body.get("state") == "SUCCESS", (
        f"A task that completed read {body}, not state SUCCESS.\nWorker log:\n{worker.logs(15)}"
    )
    assert body.get("result") == "sent 'Hello' to ada@example.com", (
        f"A finished task read {body}: it should carry the task's return value in 'result'."
    )


def test_a_failed_task_has_its_error_message(api, worker):
    task_id = queue(api, "bob@invalid.example")
    body = final_status(api, task_id, worker)
    assert body.get("state") == "FAILURE", (
        f"A task whose mail server refused the address read {body}, not state FAILURE."
    )
    error = str(body.get("error", ""))
    lines = error.strip().splitlines() or [""]
    shown = repr(lines[-1]) + (f" after {len(lines) - 1} more lines" if len(lines) > 1 else "")
    assert error == "mailbox bob@invalid.example does not exist", (
        "'error' should be the exception's message, exactly (not its repr, not the"
        f" traceback), so the client can show what went wrong; a failed task's read {shown}."
    )
