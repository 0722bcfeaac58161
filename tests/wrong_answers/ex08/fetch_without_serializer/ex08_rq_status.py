"""Exercise 08: a JSON job with bounded retries, behind a status endpoint.

POST /rates/{currency} enqueues a job that asks an exchange-rate provider for a rate. The
provider is down now and then (ConnectionError), and it rejects currencies it does not
know (ValueError). The client gets a job id at once and follows the job through
GET /jobs/{job_id}.

Three things are missing:
1. The worker that runs these jobs uses JSON (`rq worker -S json`), as a worker should:
   the queue must store its jobs as JSON too.
2. A job that fails is never tried again, even when the provider was down for a moment.
   Retry it, but at most 3 times (4 attempts in all): a job that can never succeed must
   end as failed.
3. GET /jobs/{job_id} does not exist yet.

Check your work: `wb.exercise("ex08").check()` in the notebook, or
`workbook check ex08` in JupyterLab's Terminal.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, HTTPException
from redis import Redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from app_snippets.settings import redis_url

QUEUE = "ex08-rates"
RATES = {"EUR": 1.0, "USD": 1.08, "JPY": 163.2}

app = FastAPI(title="Exchange rates")


def redis() -> Redis:
    return Redis.from_url(redis_url())


def queue() -> Queue:
    # Changed: JSON, the serializer the worker uses (`rq worker -S json`).
    return Queue(QUEUE, connection=redis(), serializer=JSONSerializer)


def fetch_rate(currency: str) -> float:
    """The job: one call to the provider. Do not change it."""
    with redis() as client:
        attempt = client.incr(f"ex08:attempts:{currency}")
        outage = int(client.get("ex08:outage") or 0)  # the provider's next `outage` calls fail
        while client.exists("ex08:slow"):  # the provider hangs while this key exists
            time.sleep(0.02)
    if attempt <= outage:
        raise ConnectionError(f"rate provider unreachable (attempt {attempt})")
    if currency not in RATES:
        raise ValueError(f"unknown currency {currency!r}")
    return RATES[currency]


@app.post("/rates/{currency}", status_code=202)
def refresh_rate(currency: str) -> dict[str, str]:
    # Changed: at most 3 retries, spaced 1 s apart (intervals need a worker started with
    # --with-scheduler; Retry(max=3) alone retries at once).
    job = queue().enqueue(fetch_rate, currency, retry=Retry(max=3, interval=1))
    return {"job_id": job.id}


@app.get("/jobs/{job_id}")
def job_status(job_id: str) -> dict[str, Any]:
    # Changed: the endpoint, written. The job is read with the queue's serializer.
    try:
        job = Job.fetch(job_id, connection=redis())  # Wrong: read back with pickle
    except NoSuchJobError:
        raise HTTPException(status_code=404, detail=f"no job {job_id}") from None
    status = job.get_status()
    body: dict[str, Any] = {"job_id": job.id, "status": status}
    if status == JobStatus.FINISHED:
        body["result"] = job.return_value()
    elif status == JobStatus.FAILED:
        # The outcome of the last run: a Result (RQ 3: job.exc_info is deprecated).
        result = job.latest_result()
        trace = (result.exc_string if result else None) or "unknown error"
        body["error"] = trace.strip().splitlines()[-1]
    return body
