"""Backpressure at the API: refuse new work with 503 and Retry-After while the queue is
longer than a limit, instead of letting the backlog (and Redis's memory) grow without end.

One route per library; each reads its own queue's length in Redis before it enqueues.
"""

from __future__ import annotations

import dramatiq
from celery import Celery
from dramatiq.brokers.redis import RedisBroker
from fastapi import FastAPI, HTTPException
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

from app_snippets.settings import redis_url

QUEUE = "ch06-reports"
LIMIT = 50  # tasks waiting; above it, the workers cannot catch up soon
RETRY_AFTER = 5  # seconds: when a refused client should try again

app = FastAPI(title="Reports, with backpressure")
celery_app = Celery("ch06_reports", broker=redis_url())
celery_app.conf.update(task_default_queue=QUEUE, task_ignore_result=True)
broker = RedisBroker(url=redis_url())


def build_report(report_id: int) -> None:
    """The task (the same function on the three queues)."""


celery_report = celery_app.task(name="ch06.report")(build_report)
dramatiq_report = dramatiq.actor(build_report, broker=broker, queue_name=QUEUE)


def rq_queue() -> Queue:
    return Queue(QUEUE, connection=Redis.from_url(redis_url()), serializer=JSONSerializer)


def backlog(library: str) -> int:
    """Tasks waiting in the library's queue (the key each one keeps its queue in)."""
    key = {"celery": QUEUE, "rq": f"rq:queue:{QUEUE}", "dramatiq": f"dramatiq:{QUEUE}"}
    with Redis.from_url(redis_url()) as client:
        return client.llen(key[library])


@app.post("/reports/{library}/{report_id}", status_code=202)
def request_report(library: str, report_id: int) -> dict[str, int]:
    if library not in ("celery", "rq", "dramatiq"):
        raise HTTPException(status_code=404, detail="library is celery, rq or dramatiq")
    if backlog(library) >= LIMIT:  # full: refuse before queuing anything
        raise HTTPException(
            status_code=503,
            detail=f"{LIMIT} reports are waiting: try again later",
            headers={"Retry-After": str(RETRY_AFTER)},
        )
    if library == "celery":
        celery_report.delay(report_id)
    elif library == "rq":
        rq_queue().enqueue(build_report, report_id)
    else:
        dramatiq_report.send(report_id)
    return {"report_id": report_id}
