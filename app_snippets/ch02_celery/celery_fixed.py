"""The tutorial's Celery app (app_snippets/ch02_celery/article_celery/), fixed: a JSON body, a
route that cannot block the event loop, and a broker outage that fails in seconds with a 503
instead of freezing the server for 19 s.

`.delay()` is a blocking network call (to Redis). In a `def` route FastAPI runs it in its
thread pool; in an `async def` route it must go through `run_in_threadpool`.
"""

from __future__ import annotations

import time

from celery import Celery
from fastapi import FastAPI, HTTPException
from kombu.exceptions import OperationalError
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app_snippets.settings import redis_url, seconds

app = FastAPI(title="Email sender")
celery_app = Celery("celery_fixed", broker=redis_url(), backend=redis_url())

# When Redis is down, give up after about 3 retries a second apart (the defaults retry the
# result store 20 times, 1 s apart: 19 s), and let the route answer 503.
RETRY_EVERY = max(seconds(1), 0.5)  # 1 s (0.5 s at least, under test)
RETRY_POLICY = {"max_retries": 3, "interval_start": 0, "interval_step": RETRY_EVERY,
                "interval_max": RETRY_EVERY}  # fmt: skip
celery_app.conf.update(
    task_default_queue="fixed",  # a queue of its own: no other demo's worker takes its tasks
    task_publish_retry_policy=RETRY_POLICY,
    result_backend_transport_options={"retry_policy": RETRY_POLICY},
    broker_connection_timeout=seconds(2),
)
QUEUE_DOWN = (OperationalError, ConnectionError, RuntimeError)  # what .delay() raises then


class Email(BaseModel):
    to: str
    subject: str
    body: str


@celery_app.task
def send_email(to: str, subject: str, body: str) -> str:
    time.sleep(seconds(1))  # stands in for the call to the mail server
    return f"sent {subject!r} to {to}"


@app.post("/emails", status_code=202)
def queue_email(email: Email) -> dict[str, str]:
    """A `def` route: FastAPI runs it in its thread pool, so .delay() blocks one thread."""
    try:
        task = send_email.delay(email.to, email.subject, email.body)
    except QUEUE_DOWN as exc:
        raise HTTPException(503, f"the task queue is unavailable: {exc}") from None
    return {"task_id": task.id}


@app.post("/emails/async", status_code=202)
async def queue_email_async(email: Email) -> dict[str, str]:
    """An `async def` route: the blocking call goes to the thread pool explicitly."""
    try:
        task = await run_in_threadpool(send_email.delay, email.to, email.subject, email.body)
    except QUEUE_DOWN as exc:
        raise HTTPException(503, f"the task queue is unavailable: {exc}") from None
    return {"task_id": task.id}


@app.get("/tasks/{task_id}")
def task_status(task_id: str) -> dict[str, str]:
    return {"task_id": task_id, "status": celery_app.AsyncResult(task_id).status}


@app.get("/ping")
async def ping() -> str:
    return "pong"
