"""Exercise 09: a report pipeline with `depends_on`.

POST /reports enqueues three jobs: fetch the day's orders, total them, publish the total.
Each step reads the result of the step before it (its *dependency*). The client gets a
report id and follows the report through GET /reports/{report_id}.

Today the three jobs are enqueued independently: the second and third have no
dependency to read, and nothing stops them when the first one fails. And when a step
fails, GET /reports/{report_id} has no way to say so.

Check your work: `wb.exercise("ex09").check()` in the notebook, or
`workbook check ex09` in JupyterLab's Terminal.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from redis import Redis
from rq import Queue, get_current_job
from rq.job import Job
from rq.serializers import JSONSerializer

from app_snippets.settings import redis_url

QUEUE = "ex09-reports"
STEPS = ("fetch_orders", "total_orders", "publish_total")

app = FastAPI(title="Daily reports")


def redis() -> Redis:
    return Redis.from_url(redis_url())


def queue() -> Queue:
    return Queue(QUEUE, connection=redis(), serializer=JSONSerializer)


# The three steps. Do not change them.


def fetch_orders(day: str) -> list[int]:
    if day.startswith("closed"):
        raise LookupError(f"no orders on {day}: the shop was closed")
    return [1250, 899, 4100]


def previous_result() -> Any:
    job = get_current_job()
    if job is None or job.dependency is None:
        raise RuntimeError("this step has no dependency: it cannot read the previous result")
    return job.dependency.return_value()


def total_orders() -> int:
    return sum(previous_result())


def publish_total() -> str:
    with redis() as client:
        client.incr("ex09:published")
    return f"published: {previous_result() / 100:.2f} EUR"


class Report(BaseModel):
    day: str


@app.post("/reports", status_code=202)
def start_report(report: Report) -> dict[str, str]:
    fetch = queue().enqueue(fetch_orders, report.day)
    # Changed: each step depends on the one before: it waits, deferred, until that one
    # finished, can read its result, and never runs if it failed.
    total = queue().enqueue(total_orders, depends_on=fetch)
    publish = queue().enqueue(publish_total, depends_on=total)
    report_id = publish.id
    with redis() as client:  # the report remembers its steps, in order
        client.rpush(f"ex09:report:{report_id}", fetch.id, total.id, publish.id)
    return {"report_id": report_id}


@app.get("/reports/{report_id}")
def report_status(report_id: str) -> dict[str, Any]:
    with redis() as client:
        step_ids = [i.decode() for i in client.lrange(f"ex09:report:{report_id}", 0, -1)]
    if not step_ids:
        raise HTTPException(status_code=404, detail=f"no report {report_id}")
    jobs = [Job.fetch(i, connection=redis(), serializer=JSONSerializer) for i in step_ids]
    steps = {name: job.get_status().value for name, job in zip(STEPS, jobs, strict=True)}
    # Changed: a failed step fails the report at once; the steps after it stay "deferred"
    # for good, so waiting for the last step would never end.
    # Wrong: a step that waits (deferred) taken for a step that failed.
    failed = [name for name, status in steps.items() if status in ("failed", "deferred")]
    if failed:
        return {"status": "failed", "failed_step": failed[0], "steps": steps}
    if all(status == "finished" for status in steps.values()):
        return {"status": "finished", "result": jobs[-1].return_value(), "steps": steps}
    return {"status": "running", "steps": steps}
