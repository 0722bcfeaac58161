"""An RQ app done right for RQ 3.0: a body model, a JSON queue, and a job status endpoint.

What the tutorial reproduced in app_snippets/ch03_rq/article_rq/ gets wrong, fixed here: no
`Connection` (pass `connection=`), `job.id` instead of `job.get_id()`, the job in an
importable module (app_snippets/ch03_rq/rq_tasks.py) and the worker started from the project root,
JSON instead of pickle on the queue (the worker must use JSON too: `rq worker -S json`),
and GET /jobs/{job_id} for the job's state.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from app_snippets.ch03_rq.rq_tasks import send_email
from app_snippets.settings import redis_url

QUEUE = "emails"

redis = Redis.from_url(redis_url())
queue = Queue(QUEUE, connection=redis, serializer=JSONSerializer)
app = FastAPI(title="Emails through RQ")


class Email(BaseModel):
    to: str
    subject: str


@app.post("/emails", status_code=202)
def send(email: Email) -> dict[str, str]:
    job = queue.enqueue(send_email, email.to, email.subject)
    return {"job_id": job.id, "status": job.get_status(refresh=False)}


@app.get("/jobs/{job_id}")
def job_status(job_id: str) -> dict[str, Any]:
    try:
        job = Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
    except NoSuchJobError:
        raise HTTPException(status_code=404, detail=f"no job {job_id}") from None
    status = job.get_status()
    body: dict[str, Any] = {"job_id": job.id, "status": status}
    if status == JobStatus.FINISHED:
        body["result"] = job.return_value()
    elif status == JobStatus.FAILED:
        result = job.latest_result()  # the traceback; its last line names the error
        trace = (result.exc_string if result else None) or "unknown error"
        body["error"] = trace.strip().splitlines()[-1]
    return body
