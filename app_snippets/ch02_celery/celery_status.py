"""A status endpoint that tells "queued" from "no such task", and a task that reports progress.

`AsyncResult(task_id).state` reads PENDING for a task waiting in the queue and for an id
that never existed: Celery stores nothing until a worker takes the task. So the app records
every id it hands out (in Redis, for as long as results are kept) and answers 404 for the
others. `task_track_started` adds a STARTED state, `result_extended` stores the task's
name, arguments and worker with its result.
"""

from __future__ import annotations

import time

from celery import Celery
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from redis import Redis

from app_snippets.settings import redis_url, seconds

# Kept short so that the notebook can watch a result expire; Celery's default is 1 day.
# Whole seconds (the Redis backend rounds down), and 8 at least: it must outlast a task's
# wait in the queue, even under test.
RESULT_EXPIRES = max(8, round(seconds(10)))

celery_app = Celery("celery_status", broker=redis_url(), backend=redis_url())
celery_app.conf.update(
    task_default_queue="status",
    task_track_started=True,
    result_extended=True,
    result_expires=RESULT_EXPIRES,
)
app = FastAPI(title="Reports")


class Email(BaseModel):
    to: str
    subject: str


class Report(BaseModel):
    pages: int


@celery_app.task
def send_email(to: str, subject: str) -> str:
    time.sleep(seconds(0.5))
    if to.endswith("@invalid.example"):
        raise ValueError(f"mailbox {to} does not exist")
    return f"sent {subject!r} to {to}"


@celery_app.task(bind=True)
def build_report(self, pages: int) -> dict[str, int]:
    for page in range(1, pages + 1):
        time.sleep(seconds(0.2))  # render one page
        self.update_state(state="PROGRESS", meta={"done": page, "total": pages})
    return {"pages": pages}


def redis() -> Redis:
    return Redis.from_url(redis_url(), decode_responses=True)


def remember(task_id: str) -> None:
    with redis() as store:
        store.set(f"issued:{task_id}", 1, ex=RESULT_EXPIRES)


@app.post("/emails", status_code=202)
def queue_email(email: Email) -> dict[str, str]:
    task = send_email.delay(email.to, email.subject)
    remember(task.id)
    return {"task_id": task.id}


@app.post("/reports", status_code=202)
def queue_report(report: Report) -> dict[str, str]:
    task = build_report.delay(report.pages)
    remember(task.id)
    return {"task_id": task.id}


@app.get("/tasks/{task_id}")
def task_status(task_id: str) -> dict[str, object]:
    with redis() as store:
        if not store.exists(f"issued:{task_id}"):
            raise HTTPException(404, f"no task {task_id} (never issued, or expired)")
    # One read of the stored record. AsyncResult's .state, .info and .name each read Redis
    # again while the task runs on: .state can say PROGRESS and .info, a moment later, hold
    # the finished task's return value.
    record = celery_app.backend.get_task_meta(task_id)
    state = record["status"]
    status: dict[str, object] = {"task_id": task_id, "state": state}
    if state == "PROGRESS":
        status["progress"] = record["result"]  # the meta= of update_state
    elif state == "SUCCESS":
        status["result"] = record["result"]
    elif state == "FAILURE":
        error = record["result"]  # the exception the task raised
        status["error"] = f"{type(error).__name__}: {error}"
    if record.get("name"):  # stored with the result, thanks to result_extended
        status["task"] = record["name"]
        status["worker"] = record.get("worker")
    return status
