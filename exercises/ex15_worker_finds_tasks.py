"""Exercise 15: a worker module whose workers find their tasks.

This module is what three workers load, each as its own process started from the root of
the repository, the way a deployment starts them:

    celery -A ex15_worker_finds_tasks:celery_app worker -Q ex15-reports
    rq worker ex15-reports
    dramatiq ex15_worker_finds_tasks

and what the API imports to send them work. As written, none of the three finds the report
task (chapter 05, section 3): make each one find it, without moving the tasks' code.

Check your work: `wb.exercise("ex15").check()` in the notebook, or
`workbook check ex15` in JupyterLab's Terminal.
"""

from __future__ import annotations

import dramatiq
from celery import Celery
from dramatiq.brokers.redis import RedisBroker
from redis import Redis
from rq import Queue
from rq.job import Job

from app_snippets.settings import redis_url

QUEUE = "ex15-reports"
# The report tasks live in the chapter's package (do not move them):
#   Celery: app_snippets/ch05_pitfalls_code/reports.py, task name "ch05.reports.build"
#   RQ:     app_snippets/ch05_pitfalls_code/rq_reports.py, function build_report
CELERY_TASK = "ch05.reports.build"

# ---- Celery ----
celery_app = Celery("ex15", broker=redis_url(), backend=redis_url())
celery_app.conf.task_default_queue = QUEUE
# TODO(ex15): the worker imports only this module: make it import the module with the task.
raise NotImplementedError("ex15: make the Celery worker import the report tasks")


# ---- RQ ----
def enqueue_report(report_id: int) -> Job:
    """What the API calls. (The API runs from inside app_snippets/ch05_pitfalls_code/.)"""
    queue = Queue(QUEUE, connection=Redis.from_url(redis_url()))
    # TODO(ex15): a path that the worker, started from the repository root, can import.
    return queue.enqueue("rq_reports.build_report", report_id)


# ---- Dramatiq ----
# TODO(ex15): this actor must be on `broker` below, the one the worker and the API use.
@dramatiq.actor(queue_name=QUEUE)
def build_report(report_id: int) -> None:
    Redis.from_url(redis_url()).set(f"ex15:built:{report_id}", "dramatiq")


broker = RedisBroker(url=redis_url(), namespace="ex15")
dramatiq.set_broker(broker)
