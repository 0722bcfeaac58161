"""Exercise 21: backpressure at the API.

POST /reports queues a report job and answers 202 at once. When the workers fall behind
(a flood of requests, a slow dependency, workers down), the queue grows without bound:
Redis fills up, and every report waits longer (notebook 06, section 2).

Refuse new work while the queue is full: once LIMIT jobs are waiting, answer 503 Service
Unavailable with a Retry-After header (seconds), and queue nothing; answer 202 again once
the workers have drained the queue below the limit.

Check your work: `wb.exercise("ex21").check()` in the notebook, or
`workbook check ex21` in JupyterLab's Terminal.
"""

from __future__ import annotations

import time
import uuid

from fastapi import FastAPI, HTTPException
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

from app_snippets.settings import redis_url, seconds

QUEUE = "ex21-reports"
LIMIT = 20  # jobs waiting in the queue
RETRY_AFTER = 5  # seconds a refused client should wait before it tries again

app = FastAPI(title="Reports")


def queue() -> Queue:
    return Queue(QUEUE, connection=Redis.from_url(redis_url()), serializer=JSONSerializer)


def build_report(report_id: str) -> str:
    """The job. Do not change it."""
    time.sleep(seconds(0.1))
    return report_id


@app.post("/reports", status_code=202)
def request_report() -> dict[str, str]:
    reports = queue()
    # Changed: look at the backlog before queuing; over the limit, refuse with 503 and say
    # when to come back (Retry-After), without queuing anything.
    if reports.count > LIMIT:
        raise HTTPException(
            status_code=503, detail="queue full", headers={"Retry-After": str(RETRY_AFTER)}
        )
    job = reports.enqueue(build_report, uuid.uuid4().hex)
    return {"job_id": job.id}
