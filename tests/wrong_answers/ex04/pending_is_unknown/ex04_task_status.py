"""Exercise 04: a status endpoint that tells the truth.

POST /emails queues a `send_email` task and answers with its id; the app remembers every
id it issues (remember() / was_issued(), in Redis). GET /tasks/{task_id} should tell the
client what became of the task. `AsyncResult(task_id).state` alone cannot: it reads
PENDING for a queued task and for an id that never existed (notebook 02, section 2).

Check your work: `wb.exercise("ex04").check()` in the notebook, or
`python -m workbook check ex04` in a terminal.
"""

from __future__ import annotations

import time

from celery import Celery
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from redis import Redis

from app_snippets.settings import redis_url, seconds

celery_app = Celery("ex04", broker=redis_url(), backend=redis_url())
celery_app.conf.update(task_default_queue="ex04")
app = FastAPI(title="Mailer")


class Email(BaseModel):
    to: str
    subject: str


@celery_app.task
def send_email(to: str, subject: str) -> str:
    time.sleep(seconds(0.2))  # the mail server
    if to.endswith("@invalid.example"):
        raise ValueError(f"mailbox {to} does not exist")
    return f"sent {subject!r} to {to}"


def redis() -> Redis:
    return Redis.from_url(redis_url(), decode_responses=True)


def remember(task_id: str) -> None:
    """Record an id this app issued (for a day, as long as Celery keeps results)."""
    with redis() as store:
        store.set(f"ex04:issued:{task_id}", 1, ex=86_400)


def was_issued(task_id: str) -> bool:
    with redis() as store:
        return bool(store.exists(f"ex04:issued:{task_id}"))


@app.post("/emails", status_code=202)
def queue_email(email: Email) -> dict[str, str]:
    task = send_email.delay(email.to, email.subject)
    remember(task.id)
    return {"task_id": task.id}


@app.get("/tasks/{task_id}")
def task_status(task_id: str) -> dict[str, object]:
    # Changed: an id this app never issued is 404. AsyncResult would say PENDING, and a
    # client would poll a mistyped id forever.
    # Wrong: PENDING taken for "unknown", so a queued task is 404 too.
    if not was_issued(task_id) or celery_app.AsyncResult(task_id).state == "PENDING":
        raise HTTPException(status_code=404, detail=f"no task {task_id}")
    # Changed: the app's own AsyncResult (bound to celery_app's result backend), not the
    # bare celery.result.AsyncResult, which uses whichever app is current.
    result = celery_app.AsyncResult(task_id)
    status: dict[str, object] = {"task_id": task_id, "state": result.state}
    if result.state == "SUCCESS":
        status["result"] = result.result  # Changed: the task's return value
    elif result.state == "FAILURE":
        # Changed: result.result holds the exception the task raised; its message is what a
        # client can show. (result.traceback has the full traceback: keep that for logs.)
        status["error"] = str(result.result)
    return status
