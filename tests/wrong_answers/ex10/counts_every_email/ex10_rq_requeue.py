"""Exercise 10: after an outage, requeue only the jobs that can now succeed.

One queue runs two kinds of jobs: `send_email` and `import_file`. During an SMTP outage,
every email failed with a ConnectionError. Some jobs failed for good reasons as well: an
email to an invalid address (ValueError) and imports of broken files (ValueError). All of
them sit in the queue's failed registry.

The outage is over. POST /admin/requeue-emails must requeue the emails that failed because
the SMTP server was unreachable, and nothing else: requeueing the others would only fail
them again (or, for a job with side effects, do them twice).

Check your work: `wb.exercise("ex10").check()` in the notebook, or
`workbook check ex10` in JupyterLab's Terminal.
"""

from __future__ import annotations

from fastapi import FastAPI
from redis import Redis
from rq import Queue, get_current_job
from rq.job import Job
from rq.serializers import JSONSerializer

from app_snippets.settings import redis_url

QUEUE = "ex10-jobs"

app = FastAPI(title="Admin: requeue")


def redis() -> Redis:
    return Redis.from_url(redis_url())


def queue() -> Queue:
    return Queue(QUEUE, connection=redis(), serializer=JSONSerializer)


# The two kinds of jobs. Do not change them: each run is counted in Redis.


def _count_run() -> None:
    job = get_current_job()
    with redis() as client:
        client.hincrby("ex10:runs", job.id if job else "?", 1)


def send_email(to: str) -> str:
    _count_run()
    with redis() as client:
        if client.get("ex10:smtp-down"):
            raise ConnectionError("SMTP server unreachable")
    if "@" not in to:
        raise ValueError(f"invalid address {to!r}")
    return f"sent to {to}"


def import_file(name: str) -> int:
    _count_run()
    raise ValueError(f"{name}: line 3 is not valid CSV")


@app.post("/admin/requeue-emails")
def requeue_emails() -> dict[str, int]:
    registry = queue().failed_job_registry
    requeued = 0
    for job_id in registry.get_job_ids():
        job = Job.fetch(job_id, connection=redis(), serializer=JSONSerializer)
        # Changed: the kind of job, by its function's dotted path...
        if job.func_name != f"{__name__}.send_email":
            continue
        requeued += 1  # Wrong: counts every failed email, requeued or not
        # ...and the kind of failure, from the last line of its traceback.
        # (RQ 3: job.latest_result(), the outcome of the last run; job.exc_info is deprecated.)
        result = job.latest_result()
        trace = (result.exc_string if result else None) or ""
        last_line = trace.strip().splitlines()[-1] if trace.strip() else ""
        if last_line.startswith("ConnectionError"):
            registry.requeue(job_id)
    return {"requeued": requeued}
